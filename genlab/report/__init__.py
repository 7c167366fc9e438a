"""The report of the workspace against a base revision (`make report`), and its neighbours.

build (the command, `python -m genlab.report`) reads the two revisions (collect), compares their
metrics (compare), draws the training curves (charts), and writes index.html (page, its stylesheet
style.css) and report.md (markdown); prcomment posts report.md on a pull request; vega writes the
offline template for `dvc plots show`; experiments is `make exp-show`, DVC's experiments table cut to
the params that differ and each model's nll and fid.
"""
