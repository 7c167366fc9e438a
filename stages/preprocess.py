"""Load the data set, split it (seeded, stratified; text: contiguous; music: by piece) and store compact arrays.

Reads the `data:` params; writes data/prepared/ (train.npz, val.npz, test.npz, meta.json).
"""

from genlab import cli
from genlab.data.prepare import prepare
from genlab.config.params import load_params

OUT = "data/prepared"


def main(args) -> None:
    params = load_params(args.params)
    meta = prepare(params.data, OUT)
    counts = ", ".join(f"{k} {v}" for k, v in meta["counts"].items())
    if meta["kind"] == "text":
        oov = ", ".join(f"{k} {v:.3g}" for k, v in meta["oov_rate"].items())
        print(f"preprocess: text, {meta['n_levels']} symbols (unknown included); characters {counts}; oov_rate {oov}")
    elif meta["kind"] == "music":
        pieces = ", ".join(f"{k} {v}" for k, v in meta["pieces"].items())
        extra = f"; {meta['dropped_notes']} notes out of range dropped" if meta["dropped_notes"] else ""
        extra += f"; {len(meta['skipped_files'])} files skipped" if meta.get("skipped_files") else ""
        print(f"preprocess: music, pieces {pieces}; frames {counts}; {meta['n_chords']} training chords{extra}")
    else:
        print(f"preprocess: {meta['source']} {tuple(meta['shape'])}, {meta['n_levels']} levels; {counts}")


if __name__ == "__main__":
    cli.run(main, cli.parser(__doc__).parse_args())
