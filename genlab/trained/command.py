"""genlab's command line: `genlab sample` (also `python -m genlab sample`).

`genlab sample MODEL` draws samples from a trained model and writes what a person opens, into a
new folder (``--out``), never into the pipeline's own outputs:

- images: samples.png (a grid), one PNG per sample (png/sample_0001.png, ...) and samples.npz
  (``x``: uint8 (n, C, H, W), the data's levels);
- text: samples.txt (every sample under a header line, the prompt first) and samples.npz;
- music: midi/ (every sample as a MIDI file, after the --primer it continues if given), audio/
  (WAV files of the first four, sine tones), samples.png (piano rolls) and samples.npz;
- continuous values: samples.csv (one row per sample) and samples.npz.

MODEL is a model's name (models/<name>/ in the pipeline under the current folder), a model folder,
or a checkpoint file (what `dvc artifacts get` fetched, say). The same model and seed give the
same bytes on a CPU. A missing, foreign or unsafe model file is one line (checkpoints are read
weights-only).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from genlab import paths
from genlab.errors import GenlabError

PIPELINE_FOLDERS = ("data", "models", "samples", "metrics")  # the pipeline's outputs: never written here


def sample_parser(sub) -> argparse.ArgumentParser:
    rest = __doc__.strip().partition("\n\n")[2]
    p = sub.add_parser("sample", help="draw samples from a trained model into a new folder",
                       description=rest.split("\n\nMODEL")[0].strip(), epilog="MODEL" + rest.split("\n\nMODEL", 1)[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="a model's name (models/<name>/), a model folder or its model.pt")
    p.add_argument("-n", "--n", type=int, default=64, help="how many samples (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="the sampling seed (default: %(default)s)")
    p.add_argument("--out", type=Path, default=None,
                   help="the folder to write (must not exist or be empty; default: samples-<model>-seed<seed>)")
    p.add_argument("--sampler", default=None, help="one of the model's samplers (the VAE: prior, gmm; diffusion: ancestral, ddim)")
    p.add_argument("--label", type=int, default=None, help="a class-conditional model (conditional: true): the class to draw")
    p.add_argument("--temperature", type=float, default=1.0, help="text and music: < 1 sharper, > 1 flatter (default: 1)")
    p.add_argument("--length", type=int, default=500, help="text: characters; music: frames (default: %(default)s)")
    p.add_argument("--prompt", default="", help="text: what every sample continues")
    p.add_argument("--prompt-file", type=Path, default=None, help="text: a file whose text every sample continues")
    p.add_argument("--primer", type=Path, default=None, help="music: a MIDI file every sample continues (its MIDI files start with it)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: %(default)s)")
    return p


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genlab", description="genlab: use trained generative models outside the pipeline.",
                                epilog="The pipeline itself runs with `dvc repro` (see the README).")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sample_parser(sub)
    return p


def check_out(out: Path) -> Path:
    """``out`` if a new or empty folder outside the pipeline's outputs; else one line."""
    resolved = out.resolve()
    cwd = Path.cwd().resolve()
    for folder in PIPELINE_FOLDERS:
        if resolved == cwd / folder or resolved.is_relative_to(cwd / folder):
            raise GenlabError(f"--out {out}: inside the pipeline's {folder}/, which only its stages write; choose another folder")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GenlabError(f"--out {out}: already exists and is not an empty folder; choose another (nothing is overwritten)")
    return out


def sample(args: argparse.Namespace) -> None:
    import torch

    from genlab import runtime
    from genlab.io import atomic_dir, write_npz
    from genlab.trained import load

    prompt = args.prompt
    if args.prompt_file is not None:
        try:
            prompt = args.prompt_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise GenlabError(f"--prompt-file {args.prompt_file}: cannot read it as text ({exc.__class__.__name__})") from None
    runtime.setup(args.device, args.seed)
    trained = load(args.model, args.device)
    out = check_out(args.out if args.out is not None else Path(f"samples-{trained.name}-seed{args.seed}"))
    primer = None
    if args.primer is not None:
        if trained.kind != "music":
            raise GenlabError(f"--primer: {trained.name} models {trained.kind}, not music (text: --prompt)")
        primer = trained.primer_roll(args.primer)
    x = trained.sample(args.n, args.seed, sampler=args.sampler, temperature=args.temperature, length=args.length,
                       prompt=prompt, primer=primer, label=args.label)
    if out.exists():
        out.rmdir()  # empty: atomic_dir puts the finished folder in its place
    with atomic_dir(out) as tmp:
        if trained.kind == "text":
            import numpy as np

            from genlab.data.text import Vocab
            from genlab.evaluation.generate import write_text

            vocab = Vocab.of_meta(trained.meta)
            files = write_text(tmp, np.stack([vocab.encode(s) for s in x]), vocab, prompt, args.temperature)
        elif trained.kind == "music":
            import numpy as np

            from genlab.evaluation.generate import ROLLS_SHOWN, write_music

            pieces = x if primer is None else [np.concatenate([primer, roll]) for roll in x]  # the primer, then the sample
            files = write_music(tmp, x, int(trained.meta.get("steps_per_beat", 1)), min(ROLLS_SHOWN, len(x)), pieces)
        elif trained.kind == "continuous":
            write_npz(tmp / paths.SAMPLES_FILE, x=x)
            with open(tmp / "samples.csv", "w") as fh:
                fh.write(",".join(f"x{j}" for j in range(x.shape[1])) + "\n")  # the prepared data keeps no column names
                fh.writelines(",".join(f"{v:.9g}" for v in row) + "\n" for row in x)
            files = ["samples.csv", paths.SAMPLES_FILE]
        else:
            from genlab.data.images import image_grid, level_image

            levels = trained.model.n_levels
            write_npz(tmp / paths.SAMPLES_FILE, x=x)
            image_grid(torch.from_numpy(x[:256]), levels, math.ceil(math.sqrt(min(len(x), 256)))).save(tmp / "samples.png", format="png")
            (tmp / "png").mkdir()
            width = max(4, len(str(len(x))))
            for i, img in enumerate(x, 1):
                level_image(img, levels).save(tmp / "png" / f"sample_{i:0{width}d}.png", format="png")
            files = ["samples.png", f"png/ ({len(x)} files)", paths.SAMPLES_FILE]
    print(f"{trained.name}: {len(x)} samples (seed {args.seed}) in {out}/: {', '.join(files)}")


def main(argv: list[str] | None = None) -> None:
    from genlab import cli

    args = parser().parse_args(argv)
    with cli.one_line_errors("nothing was written"):
        if args.command == "sample":
            sample(args)


if __name__ == "__main__":
    main(sys.argv[1:])
