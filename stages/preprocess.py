"""Load the data set, split it (seeded, stratified) and store compact uint8 arrays.

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
    print(f"preprocess: {meta['source']} {tuple(meta['shape'])}, {meta['n_levels']} levels; {counts}")


if __name__ == "__main__":
    cli.run(main, cli.parser(__doc__).parse_args())
