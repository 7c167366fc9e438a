# genlab: `make repro` runs the pipeline, `make test` runs the tests (`make test-fast`: without the
# end-to-end runs), `make report BASE=<rev>` compares the workspace with a revision or experiment;
# all set up .venv first (and the offline page template of `dvc plots show`).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed
RUN    := PATH="$(BIN):$$PATH"
PLOTS_TEMPLATE := .dvc/plots_template.html
BASE   ?= main
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser repro report pr-comment test test-fast gpu-check gpu-wheels bench bench-mnist bench-8bit bench-text bench-music bench-resume clean-venv

install: $(STAMP) $(PLOTS_TEMPLATE)

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $(STAMP)

# DVC's plots page with vega, vega-lite and vega-embed inlined, named in .dvc/config.local (both
# git-ignored, so a clone without them keeps DVC's default page): `dvc plots show` offline.
$(PLOTS_TEMPLATE): $(STAMP) genlab/vega.py
	$(BIN)/python -m genlab.vega $@
	$(BIN)/dvc config --local plots.html_template plots_template.html

# Headless Chromium (Debian's package) for the tests that open the report and the plots page.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

repro: install
	$(RUN) dvc repro
	@echo; cat metrics/summary.md

# The workspace against BASE (a commit, branch, tag or experiment name): report/index.html, report/report.md.
report: install
	$(RUN) python -m genlab.report --base $(BASE)

# Post report/report.md on pull request PR, or update the comment an earlier run posted (GitHub CLI).
pr-comment: install
	$(RUN) python -m genlab.prcomment --pr $(PR) report/report.md

# The test files run in parallel, one worker per core (pytest-xdist); each file's tests stay in one
# worker, in order, so a module's temporary repository is built once.
test: install browser
	$(RUN) python -m pytest -q -n auto --dist loadfile --durations=15 tests

test-fast: install
	$(RUN) python -m pytest -q -n auto --dist loadfile -m "not slow" tests

# Every stage on CUDA with its metrics and timings, digits and the MNIST config (bench/gpu_check.py).
gpu-check: install
	$(RUN) python -m bench.gpu_check

# What a GPU machine with PyTorch but without genlab's other dependencies needs (Python 3.12
# wheels, versions from requirements.txt) into .whl/: see README, "GPU".
GPU_WHEELS := annotated-types atpublic diskcache dpath dulwich dvc dvc-data dvc-http dvc-objects \
	dvc-render dvc-studio-client dvclive flatten-dict flufl.lock funcy orjson pydantic pydantic_core pydot \
	pygtrie ruamel.yaml scmrepo sqltrie typing-inspection voluptuous wcwidth zc.lockfile
gpu-wheels: install
	rm -rf .whl && $(BIN)/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
	  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
	  --platform manylinux2014_x86_64 -d .whl \
	  $$(for p in $(GPU_WHEELS); do grep -i "^$$p==" requirements.txt; done)

DEVICE ?= cpu
bench: install
	$(RUN) python -m bench.run --device $(DEVICE)

bench-mnist: install
	$(RUN) python -m bench.mnist

bench-8bit: install
	$(RUN) python -m bench.images8

bench-text: install
	$(RUN) python -m bench.text

bench-music: install
	$(RUN) python -m bench.music

# A training killed halfway and resumed, timed against the same training uninterrupted (bench/resume.py).
bench-resume: install
	$(RUN) python -m bench.resume

clean-venv:
	rm -rf $(VENV)
