"""Load the data set, split it (seeded, stratified; text: contiguous; music: by piece) and store compact arrays.

Reads the `data:` params; writes data/prepared/ (train.npz, val.npz, test.npz, meta.json).
"""

from genlab import cli, paths
from genlab.config.params import load_params
from genlab.data import modality
from genlab.data.prepare import prepare


def main(args) -> None:
    params = load_params(args.params)
    meta = prepare(params.data, paths.PREPARED)
    print(f"preprocess: {modality.of(meta).describe(meta)}")


if __name__ == "__main__":
    cli.run(main, cli.parser(__doc__).parse_args())
