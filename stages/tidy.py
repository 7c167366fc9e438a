"""Delete what killed runs left beside outputs that are in place again.

A stage killed half-way leaves hidden siblings of its outputs (a temporary folder, a resumable
training state); its next run deletes them. But when `dvc repro` restores the stage from DVC's
run-cache, its code never runs. Every stage tidies the output folders before its own work
(genlab.cli.run); this stage does it when no other stage runs: it depends on the output folders
(data, samples, metrics), which DVC sees changed when a killed run left something there
(at least its marker, data/.running-<pid>.tmp). What belongs to an output that is not in place
(a killed training waiting to resume) is kept.
"""

from genlab import cli


def main(args) -> None:
    """Nothing beyond what ``cli.run`` does before every stage's own work: ``cli.tidy_outputs``."""


if __name__ == "__main__":
    cli.run(main, cli.parser(__doc__).parse_args())
