"""Join every model's metrics and the real reference row into one comparison table.

Reads `models`, metrics/models/<model>.json and metrics/real.json; writes metrics/summary.csv
and metrics/summary.md, one row per model of `models` plus `real`, sorted by test nll, and
metrics/headline.json (each row's nll and fid, what `make exp-show` shows per experiment); for
text, summary.md also shows the first lines of each model's samples/<model>/samples.txt; for
images it says above the table which features the sample metrics are in, whether the data are
labelled, the known-bad reference's FID, and a warning when the features cannot tell it from
real images.
"""

from pathlib import Path

from genlab import cli, paths
from genlab.config.params import load_params
from genlab.evaluation.summary import feature_preamble, read_metrics, sample_excerpts, summary_table, write_summary


def main(args) -> None:
    params = load_params(args.params)
    table = summary_table(paths.MODEL_METRICS, params.models, real=paths.REAL_METRICS)
    excerpts = sample_excerpts(paths.SAMPLES, params.models)  # text: a few lines of each model's samples
    preamble = feature_preamble(read_metrics(Path(paths.REAL_METRICS)))  # images: the feature space, the known-bad check
    print(write_summary(table, paths.SUMMARY_CSV, paths.SUMMARY_MD, excerpts, headline_path=paths.HEADLINE_METRICS,
                        preamble=preamble), end="")


if __name__ == "__main__":
    cli.run(main, cli.parser(__doc__).parse_args())
