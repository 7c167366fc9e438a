# genlab: `make repro` runs the pipeline, `make test` runs the tests (`make test-fast`: without the
# end-to-end runs); all set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed
RUN    := PATH="$(BIN):$$PATH"

.PHONY: install repro test test-fast bench bench-mnist bench-8bit bench-text bench-music clean-venv

install: $(STAMP)

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $(STAMP)

repro: install
	$(RUN) dvc repro
	@echo; cat metrics/summary.md

test: install
	$(RUN) python -m pytest -q tests

test-fast: install
	$(RUN) python -m pytest -q -m "not slow" tests

bench: install
	$(RUN) python -m bench.run

bench-mnist: install
	$(RUN) python -m bench.mnist

bench-8bit: install
	$(RUN) python -m bench.images8

bench-text: install
	$(RUN) python -m bench.text

bench-music: install
	$(RUN) python -m bench.music

clean-venv:
	rm -rf $(VENV)
