"""Join every model's metrics and the real reference row into one comparison table.

Reads `models`, metrics/models/<model>.json and metrics/real.json; writes metrics/summary.csv
and metrics/summary.md, one row per model of `models` plus `real`, sorted by test nll; for
text, summary.md also shows the first lines of each model's samples/<model>/samples.txt.
"""

from genlab import cli
from genlab.config.params import load_params
from genlab.evaluation.summary import sample_excerpts, summary_table, write_summary


def main(args) -> None:
    params = load_params(args.params)
    table = summary_table("metrics/models", params.models, real="metrics/real.json")
    excerpts = sample_excerpts("samples", params.models)  # text: a few lines of each model's samples
    print(write_summary(table, "metrics/summary.csv", "metrics/summary.md", excerpts), end="")


if __name__ == "__main__":
    cli.run(main, cli.parser(__doc__).parse_args())
