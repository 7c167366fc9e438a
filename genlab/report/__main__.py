"""`python -m genlab.report`: the report of the workspace against a revision (genlab.report.build)."""

from genlab import cli
from genlab.report.build import main, parser

cli.run(main, parser().parse_args())
