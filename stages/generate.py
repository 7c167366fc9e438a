"""Draw samples from a trained model, with pictures a person can look at.

Reads `device`, `generate:` and the model's params; writes samples/<model>/: samples.npz
(array `x`, shaped like the data; for a model with several samplers also `x_<sampler>`),
samples.png (a grid; for continuous values histogram.csv instead), and where the model
has them reconstructions.png (test images above their reconstructions) and
interpolation.png (decoded straight lines in the latent space); with `completion.masks`, the
first `completion.n_images` test images completed under each mask the model can complete
(completions.npz, `completed_<mask>`) and completions.png (original, masked input, completions);
for a class-conditional model (`conditional: true`), samples of every class (classes.npz,
classes.png: one row per class); for music, the opening `generate.primer_frames` frames of test
pieces continued to each piece's length (continuations.npz, continuations/: MIDI and WAV of
primer and continuation). For text: samples.npz
(`x`: the codes of `generate.n_samples` samples of `generate.length` characters, drawn at
`generate.temperature` after `generate.prompt`) and samples.txt, readable; the Markov chain
adds transitions.png, its transition matrix as a heatmap. For music: samples.npz (`x`:
`generate.n_samples` piano rolls of `generate.length` frames), midi/ (every sample as a MIDI
file), samples.png (piano rolls) and audio/ (WAV files of the first samples, sine tones).
"""

from genlab import cli, paths, runtime
from genlab.config.params import load_params
from genlab.data.prepare import load_prepared
from genlab.evaluation.classes import write_class_samples
from genlab.evaluation.completion import write_completions
from genlab.evaluation.continuation import write_continuations
from genlab.evaluation.generate import generate
from genlab.io import atomic_dir
from genlab.models import registry


def main(args) -> None:
    params = load_params(args.params, models=[args.model])
    device = runtime.setup(params.device, params.generate.seed, params.precision)
    _, model = registry.load(paths.checkpoint(args.model), device)
    data = load_prepared(paths.PREPARED, splits=("test",))
    gen = runtime.generator(params.generate.seed, device)
    with atomic_dir(paths.samples_dir(args.model)) as out:
        info = generate(model, data, params.generate, gen, out)
        info["files"] += write_completions(model, data, params.completion, out)
        info["files"] += write_class_samples(model, data, params.generate, out)
        info["files"] += write_continuations(model, data, params.generate, out)
    print(f"generate {args.model}: {info['n_samples']} samples; " + ", ".join(info["files"]))


if __name__ == "__main__":
    cli.run(main, cli.parser(__doc__, model_arg=True).parse_args())
