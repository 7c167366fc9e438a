"""Load the data set, split it (seeded, stratified; text: contiguous) and store compact arrays.

Reads the `data:` params; writes data/prepared/ (train.npz, val.npz, test.npz, meta.json).
"""

from genlab import cli
from genlab.data import prepare
from genlab.params import load_params

OUT = "data/prepared"


def main(args) -> None:
    params = load_params(args.params)
    meta = prepare(params.data, OUT)
    counts = ", ".join(f"{k} {v}" for k, v in meta["counts"].items())
    if meta["kind"] == "text":
        oov = ", ".join(f"{k} {v:.3g}" for k, v in meta["oov_rate"].items())
        print(f"preprocess: text, {meta['n_levels']} symbols (unknown included); characters {counts}; oov_rate {oov}")
    else:
        print(f"preprocess: {meta['source']} {tuple(meta['shape'])}, {meta['n_levels']} levels; {counts}")


if __name__ == "__main__":
    cli.run(main, cli.parser(__doc__).parse_args())
