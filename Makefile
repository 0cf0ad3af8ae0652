# Two commands matter: `make demo` (a whole job on the embedded local stack) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install test lint demo bench mwaa-bundle clean

install: $(STAMP)

# Reinstalls only when the project's metadata changed: quick and idempotent otherwise.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/bandit -q -c pyproject.toml -r plugins dags include

demo: install
	$(BIN)/rdfox-pipeline local demo

bench: install
	$(BIN)/python -m bench

mwaa-bundle: install
	$(BIN)/python -m rdfox_local.mwaa_bundle dist/mwaa

clean:
	rm -rf $(VENV) dist build .pytest_cache
