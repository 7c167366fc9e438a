"""`python -m genlab sample ...`: the same as the `genlab` command (``genlab.trained.command``)."""

import sys

from genlab.trained.command import main

main(sys.argv[1:])
