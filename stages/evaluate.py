"""Score a trained model, or the real reference row, and write its metrics file.

Reads `device` and `evaluate:`. Likelihood on the test split (nats per example; for the VAE
the importance-weighted bound with `evaluate.iw_samples` samples, the negative ELBO and
its terms). Sample metrics of the model's samples against the test split in the frozen
classifier's features (fid, kid, precision, recall, density, coverage, inception_score,
classes_covered) and memorisation against the train split in pixel space
(nn_distance_ratio, exact_copy_rate); for continuous values, two-sample tests instead.
For text: exact nats per character over the whole test text (nll, bits_per_char,
perplexity, n_test, oov_rate) and the text sample metrics (novelty_char8, novelty_char16,
novelty_word3, longest_copy, distinct_2). For music: exact nats per frame over every test
frame, the first of each piece included (nll, nll_stderr, bits_per_frame, n_test frames,
n_test_pieces, unseen_rate) and the music sample metrics (polyphony, pitch_class_tv,
pitch_range, scale_consistency, chord_copy_rate, oa_pitch_count, oa_pitch_class_hist); its
real row is the validation pieces scored as if they were samples. Writes metrics/models/<model>.json, or with --real
metrics/real.json: the validation split scored as if it were samples (text: as many test
windows as samples, of the same length), the reference every model is read against.
"""

from genlab import cli, runtime
from genlab.data import modality
from genlab.models import registry
from genlab.evaluation.classifier import Classifier
from genlab.data.prepare import load_prepared
from genlab.evaluation.evaluate import (
    evaluate_model, evaluate_music_model, evaluate_music_real, evaluate_real, evaluate_text_model, evaluate_text_real,
    load_samples,
)
from genlab.io import write_json
from genlab.config.params import load_params

CLASSIFIER = "models/classifier/classifier.pt"
MODEL_METRICS = "metrics/models/{}.json"
REAL_METRICS = "metrics/real.json"


def main(args) -> None:
    params = load_params(args.params, models=[args.model] if args.model else [])
    device = runtime.setup(params.device, params.evaluate.seed, params.precision)
    data = load_prepared("data/prepared")
    has_classifier = data.meta["has_labels"] and modality.of(data.meta).uses_classifier
    classifier = Classifier.load(CLASSIFIER, device="cpu") if has_classifier else None
    if args.real:
        path = REAL_METRICS
        if data.sequence:
            metrics = evaluate_text_real(data, params.generate.n_samples, params.generate.length)
        elif data.music:
            metrics = evaluate_music_real(data, params.generate.length)
        else:
            metrics = evaluate_real(data, classifier, params.evaluate)
    else:
        path = MODEL_METRICS.format(args.model)
        _, model = registry.load(f"models/{args.model}/{registry.CHECKPOINT}", device)
        samples = load_samples(f"samples/{args.model}/samples.npz")
        if data.sequence:
            metrics = evaluate_text_model(model, data, samples["x"])
        elif data.music:
            metrics = evaluate_music_model(model, data, samples["x"])
        else:
            gen = runtime.generator(params.evaluate.seed, device)
            true_normal = (params.data.mean, params.data.std) if params.data.source == "normal" else None
            metrics = evaluate_model(model, data, samples, classifier, params.evaluate, gen, true_normal)
    write_json(path, metrics)
    name = "real" if args.real else args.model
    print(f"evaluate {name}: " + ", ".join(f"{k} {v:.6g}" for k, v in metrics.items() if isinstance(v, (int, float))))


if __name__ == "__main__":
    parser = cli.parser(__doc__)
    which = parser.add_mutually_exclusive_group(required=True)
    cli.add_model_arg(which, required=False)
    which.add_argument("--real", action="store_true", help="score the reference row: the validation split (text: test windows)")
    cli.run(main, parser.parse_args())
