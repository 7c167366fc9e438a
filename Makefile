# genlab: `make repro` runs the pipeline, `make test` runs the tests (`make test-fast`: without the
# end-to-end runs), `make lint` runs ruff, `make report BASE=<rev>` compares the workspace with a
# revision or experiment; all set up .venv first (and the offline page template of `dvc plots show`).
# .venv: requirements.txt (the runtime lock) and genlab itself, editable; the test and lint targets
# add requirements-dev.txt (the test lock).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
PIP    := $(BIN)/python -m pip --disable-pip-version-check
RUN    := PATH="$(BIN):$$PATH"
PLOTS_TEMPLATE := .dvc/plots_template.html
BASE   ?= main
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser repro report pr-comment exp-show test test-fast lint gpu-check gpu-wheels bench bench-mnist bench-8bit bench-colour bench-unlabelled bench-completion bench-text bench-music bench-levers bench-resume bench-noise clean-venv

install: $(STAMP) $(PLOTS_TEMPLATE)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-deps -e .
	touch $(STAMP)

# The test and lint tools (pytest, pytest-xdist, moto, playwright, ruff and theirs), pinned.
$(DEV_STAMP): $(STAMP) requirements-dev.txt requirements.txt
	$(PIP) install -q -r requirements-dev.txt
	touch $(DEV_STAMP)

# DVC's plots page with vega, vega-lite and vega-embed inlined, named in .dvc/config.local (both
# git-ignored, so a clone without them keeps DVC's default page): `dvc plots show` offline.
$(PLOTS_TEMPLATE): $(STAMP) genlab/report/vega.py
	$(BIN)/python -m genlab.report.vega $@
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

# The experiments in a terminal: one row each, the params that differ, each model's nll and fid
# (dvc exp show --only-changed, cut by genlab/report/experiments.py; more dvc exp show options in ARGS).
exp-show: install
	$(RUN) python -m genlab.report.experiments $(ARGS)

# Post report/report.md on pull request PR, or update the comment an earlier run posted (GitHub CLI).
pr-comment: install
	$(RUN) python -m genlab.report.prcomment --pr $(PR) report/report.md

# The test files run in parallel, one worker per core (pytest-xdist); each file's tests stay in one
# worker, in order, so a module's temporary repository is built once.
test: install $(DEV_STAMP) browser
	$(RUN) python -m pytest -q -n auto --dist loadfile --durations=15 tests

test-fast: install $(DEV_STAMP)
	$(RUN) python -m pytest -q -n auto --dist loadfile -m "not slow" tests

# pyflakes, pycodestyle and import order (ruff; the rules are in pyproject.toml).
lint: $(DEV_STAMP)
	$(BIN)/ruff check genlab stages bench tests

# Every stage on CUDA with its metrics and timings, digits and the MNIST config (bench/gpu_check.py).
gpu-check: install
	$(RUN) python -m bench.gpu_check

# What a GPU machine with PyTorch but without genlab's other dependencies needs, as Python 3.12
# wheels into .whl/ (see README, "GPU"): every package of requirements.txt, at its version there,
# that GPU_NEEDS pull in (gpu-check imports them) and the PyTorch and scientific stack of the GPU
# image (GPU_IMAGE) does not; the closure is read from .venv's metadata. A package published only
# as source (antlr4-python3-runtime) is built into a pure-Python wheel here.
GPU_NEEDS := dvc dvclive pydantic
GPU_IMAGE := torch torchvision torchmetrics numpy scipy scikit-learn pandas pillow pyyaml tqdm \
	requests aiohttp rich psutil
define GPU_WHEELS_PY
import re, sys
from importlib.metadata import PackageNotFoundError, distribution
from packaging.requirements import Requirement
key = lambda name: re.sub(r"[-_.]+", "-", name).lower()
env = {"extra": "", "python_version": "3.12", "python_full_version": "3.12.3"}
def closure(names):
    seen, todo = set(), [key(n) for n in names]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            try:
                reqs = [Requirement(r) for r in distribution(name).requires or []]
            except PackageNotFoundError:
                continue
            todo += [key(r.name) for r in reqs if r.marker is None or r.marker.evaluate(env)]
    return seen
lock = {key(line.split("==")[0]): line.strip() for line in open("requirements.txt") if "==" in line}
wanted = closure(sys.argv[1].split()) - closure(sys.argv[2].split())
if wanted - lock.keys():
    sys.exit(f"gpu-wheels: not in requirements.txt: {sorted(wanted - lock.keys())}")
print("\n".join(lock[name] for name in sorted(wanted)))
endef
export GPU_WHEELS_PY
gpu-wheels: install
	rm -rf .whl && mkdir .whl
	$(BIN)/python -c "$$GPU_WHEELS_PY" "$(GPU_NEEDS)" "$(GPU_IMAGE)" > .whl/requirements.txt
	$(PIP) download -q --no-deps --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	  -d .whl -r .whl/requirements.txt
	cd .whl && for s in *.tar.gz; do [ ! -e "$$s" ] || { $(PIP) wheel -q --no-deps -w . "$$s" && rm "$$s"; } || exit 1; done
	@! ls .whl/*.whl | grep -v -e '-none-any\.whl$$' -e '-cp312-' -e '-abi3-' || { echo "gpu-wheels: not for CPython 3.12 (above)"; exit 1; }
	@echo "gpu-wheels: $$(ls .whl/*.whl | wc -l) wheels, $$(du -sh .whl | cut -f1)"

DEVICE ?= cpu
bench: install
	$(RUN) python -m bench.run --device $(DEVICE)

bench-mnist: install
	$(RUN) python -m bench.mnist

bench-8bit: install
	$(RUN) python -m bench.images8

bench-colour: install
	$(RUN) python -m bench.colour

# A flat folder of unlabelled colour images, and the digits in both feature spaces (bench/unlabelled.py).
bench-unlabelled: install
	$(RUN) python -m bench.unlabelled

# How far the completion numbers can be trusted: the VAE's estimate under k, chain steps and seeds (bench/completion.py).
bench-completion: install
	$(RUN) python -m bench.completion

bench-text: install
	$(RUN) python -m bench.text

bench-music: install
	$(RUN) python -m bench.music

# What each speed lever of the text `ar` gives here: bf16, dropout and its mask, span, one-query attention, decoding groups, model size (bench/levers.py; bench/text/levers-<kind of CPU>.md).
bench-levers: install
	$(RUN) python -m bench.levers

# A training killed halfway and resumed, timed against the same training uninterrupted (bench/resume.py).
bench-resume: install
	$(RUN) python -m bench.resume

# The default pipeline under training seeds 0-3: each metric's spread (bench/noise/spread.json,
# read by `make report` to call changes within it "within noise").
bench-noise: install
	$(RUN) python -m bench.noise

clean-venv:
	rm -rf $(VENV)
