# Two commands matter: `make demo` (a whole job on the embedded local stack) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# The suite starts hundreds of Python processes (Airflow's task processes, CLI calls, servers): without
# bytecode each compiles Airflow and the providers from source again (2 to 4 times the CPU of an import).
# So the venvs are compiled at install, and a PYTHONDONTWRITEBYTECODE from the environment is not passed on:
# the project's own caches go to __pycache__ (ignored by git).
unexport PYTHONDONTWRITEBYTECODE
# Three test processes on two cores: much of a test's wall time is waiting (SQS long polls, pods and loads
# progressing, Airflow's heartbeats), which a third process fills; four cost more CPU than they save
# (docs/testing.md has the measurements).
WORKERS ?= 3

# The oldest Airflow we support is the newest Amazon MWAA offers; `make test-compat` runs there.
MWAA_AIRFLOW ?= 3.0.6
MWAA_PYTHON ?= 3.12
MWAA_CONSTRAINTS := deploy/mwaa/constraints-$(MWAA_AIRFLOW)-python$(MWAA_PYTHON).txt
# A Python of that version that runs: on PATH, else pyenv's (whose shim fails unless it is pyenv's global).
MWAA_PYTHON_BIN ?= $(shell for p in python$(MWAA_PYTHON) $$HOME/.pyenv/versions/$(MWAA_PYTHON).*/bin/python$(MWAA_PYTHON); \
	do $$p -c '' 2>/dev/null && { command -v $$p; break; }; done)
COMPAT_VENV := .venv-compat
COMPAT_STAMP := $(COMPAT_VENV)/.installed-$(MWAA_AIRFLOW)
# checkov (the templates' security scan) pins boto3/botocore far below what the package needs: its own venv.
CHECKOV_VERSION ?= 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
TEMPLATES := deploy/cloudformation/pipeline.yaml deploy/cloudformation/mwaa.yaml

# test-fast: unit and integration tests against local servers; no scheduler, no whole-DAG runs (docs/testing.md).
.PHONY: install install-compat test test-fast test-compat lint demo airflow bench mwaa-bundle mwaa-constraints deploy clean

install: $(STAMP)

# Reinstalls only when the project's metadata changed: quick and idempotent otherwise.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

# MWAA's Airflow and Python, with the versions the MWAA bundle pins (its constraints file).
install-compat: $(COMPAT_STAMP)

$(COMPAT_STAMP): pyproject.toml $(MWAA_CONSTRAINTS) | $(STAMP)
	@test -n "$(MWAA_PYTHON_BIN)" || { echo "no Python $(MWAA_PYTHON) found (PATH, ~/.pyenv/versions): install one" >&2; exit 1; }
	$(BIN)/uv venv --quiet --allow-existing --no-python-downloads --python $(MWAA_PYTHON_BIN) $(COMPAT_VENV)
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(COMPAT_VENV)/bin/python --constraint $(MWAA_CONSTRAINTS) \
		-e '.[dev]' 'apache-airflow==$(MWAA_AIRFLOW)'
	touch $(COMPAT_STAMP)

# Everything on the newest supported Airflow; the MWAA bundle's own checks run in test-compat.
# --no-loadscope-reorder: modules are handed out in tests/conftest.py's order, the live-Airflow ones first.
test: install
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile --no-loadscope-reorder -m 'not mwaa' $(PYTEST_ARGS)

# The tier to run before every commit: everything not marked slow, e2e or mwaa (under 3 minutes on 2 cores).
test-fast: install
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile -m 'not slow and not e2e and not mwaa' $(PYTEST_ARGS)

# DAG parsing, plugin loading, the operators' tests, jobs under a real scheduler and triggerer, and one whole
# job from the MWAA bundle, under MWAA's Airflow on MWAA's Python (the tests marked compat or mwaa).
test-compat: install-compat
	$(COMPAT_VENV)/bin/python -m pytest -n 2 --dist loadfile -m 'compat or mwaa' $(PYTEST_ARGS)

$(CHECKOV_STAMP): | $(STAMP)
	$(BIN)/uv venv --quiet --allow-existing --python $(BIN)/python $(CHECKOV_VENV)
	$(BIN)/uv pip install --quiet --python $(CHECKOV_VENV)/bin/python 'checkov==$(CHECKOV_VERSION)'
	touch $(CHECKOV_STAMP)

# The templates: cfn-lint, then checkov offline (no platform download, no update check); each finding is
# fixed or skipped in the template with its reason. deploy/iam/ must be what pipeline.yaml's policies give.
lint: install $(CHECKOV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/bandit -q -c pyproject.toml -r plugins dags include
	$(BIN)/cfn-lint $(TEMPLATES)
	CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --quiet --compact \
		--skip-download --framework cloudformation $(addprefix -f ,$(TEMPLATES))
	$(BIN)/python -m rdfox_local.cloudformation.iam_export --check

demo: install
	$(BIN)/rdfox-pipeline local demo

# The local stack with Airflow's UI: prints the URL and where the admin password is (AIRFLOW_PORT=8080 to fix
# the port). `.venv/bin/rdfox-pipeline local down` stops it all.
AIRFLOW_PORT ?=
airflow: install
	$(BIN)/rdfox-pipeline local up --airflow $(if $(AIRFLOW_PORT),--airflow-port $(AIRFLOW_PORT))

bench: install
	$(BIN)/python -m bench

mwaa-bundle: install
	$(BIN)/python -m rdfox_local.mwaa_bundle dist/mwaa --airflow-version $(MWAA_AIRFLOW) --python-version $(MWAA_PYTHON)

# Needs PyPI: resolves the bundle's requirements for MWAA's Airflow/Python (rdfox_local/mwaa_constraints.py).
mwaa-constraints: install
	$(BIN)/python -m rdfox_local.mwaa_constraints --airflow-version $(MWAA_AIRFLOW) --python-version $(MWAA_PYTHON)

# From an empty AWS account to a running pipeline (docs/deploy.md); never run in CI. DRY_RUN=1 prints the
# commands and runs none (it needs no bundle and no AWS credentials).
DEPLOY_PARAMETERS ?= deploy/parameters.yaml
deploy: install
	$(if $(DRY_RUN),,$(MAKE) mwaa-bundle)
	$(BIN)/python -m rdfox_local.cloudformation.deploy --parameters $(DEPLOY_PARAMETERS) $(if $(DRY_RUN),--dry-run)

clean:
	rm -rf $(VENV) $(COMPAT_VENV) $(CHECKOV_VENV) dist build .pytest_cache
