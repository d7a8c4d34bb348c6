# Every target creates the virtual environment it needs, so a fresh clone needs only `make demo`
# or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PEER := .venv-peer

.PHONY: demo test lint format bench bench-peer mutate mutate-report clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[demo]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	cd examples && ../$(BIN)/python ml.py

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/lint-imports
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

format: $(VENV)/.installed-dev
	$(BIN)/ruff format src tests benchmarks examples
	$(BIN)/ruff check --fix src tests benchmarks examples

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/run.py

# Mutation testing (mutmut, configured in pyproject.toml): plants small bugs in store, manifests,
# provenance, the fingerprints and the scheduler, runs the fast tests that reach each, then prints
# the kill rate per module. Long (2,316 mutants: hours on 2 cores); `make mutate
# MUTANTS='d6tflow.manifests*'` runs one module. A second run only runs mutants without a result;
# delete mutants/ after changing tests. Results: `mutmut results`, `mutmut show <name>`.
MUTANTS ?=

mutate: $(VENV)/.installed-dev
	nice -n 10 $(BIN)/mutmut run $(MUTANTS)
	$(BIN)/python tests/mutation_report.py

mutate-report:
	$(BIN)/python tests/mutation_report.py

# The original d6tflow 0.2.8 (over luigi) in its own venv, for side-by-side figures in `make bench`.
bench-peer: $(PEER)/bin/python

$(PEER)/bin/python:
	$(PYTHON) -m venv $(PEER)
	$(PEER)/bin/python -m pip install -q 'd6tflow==0.2.8' pandas pyarrow

clean:
	rm -rf $(VENV) $(PEER) .pytest_cache mutants
