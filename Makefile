# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Everything is installed by this file: uv (pinned) into .tools/, the locked environment into .venv/.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
RUN := $(UV) run --locked --no-sync
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)

.PHONY: help env demo test lint typecheck unit dists installs lowest newest docs bench soak emulator clean

help:
	@echo "make demo      run the main job (real API with credentials, else the bundled emulator)"
	@echo "make test      create the environment, then ruff, mypy --strict, every test, the three"
	@echo "               distributions built and installed as each kind of user installs them,"
	@echo "               the tests on the lowest and on the newest dependencies, the docs build"
	@echo "make bench     benchmarks against raw httpx and the peers (prints one table)"
	@echo "make soak      the long soak under faults (figures printed)"
	@echo "make docs      build the documentation site (mkdocs --strict)"
	@echo "make emulator  run the Workers AI emulator on 127.0.0.1:8787"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --quiet
	@touch $@

env: $(VENV)/.synced

demo: env
	$(RUN) python examples/demo.py

lint: env
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: env
	$(RUN) mypy

unit: env
	$(RUN) pytest -q -n 2 --cov --cov-report=term --cov-fail-under=90

# What users install: the three distributions' sdists and wheels (each wheel built from its
# sdist), then a clean environment per kind of user (core, LangChain, LlamaIndex) from them.
DISTS := scripts/distributions.py
export UV := $(abspath $(UV))
dists: env
	$(RUN) python $(DISTS) build dist

installs: dists
	$(RUN) python $(DISTS) check-installs dist

# The declared floors and the newest releases: every dependency of the three distributions and
# of the test group at the lowest version the metadata allows, then at the newest.
MATRIX_PYTEST := -q -n 2 -p no:cacheprovider
lowest: env
	$(RUN) python $(DISTS) matrix lowest-core .venv-lowest $(MATRIX_PYTEST) tests/core tests/emulator
	$(RUN) python $(DISTS) matrix lowest .venv-lowest $(MATRIX_PYTEST)

newest: env
	$(RUN) python $(DISTS) matrix newest .venv-newest $(MATRIX_PYTEST)

docs: env
	NO_MKDOCS_2_WARNING=1 $(RUN) mkdocs build --strict --quiet

test: lint typecheck unit installs lowest newest docs

emulator: env
	$(RUN) cf-mistral emulator --port 8787

# The peers live in their own environment so that the test environment stays exactly the lock's
# default groups.
BENCH_ENV := UV_PROJECT_ENVIRONMENT=.venv-bench
bench: $(UV)
	$(BENCH_ENV) $(UV) sync --locked --quiet --group bench
	$(BENCH_ENV) $(UV) run --locked --no-sync python -m benchmarks

soak: env
	$(RUN) python benchmarks/soak.py

clean:
	rm -rf $(VENV) .venv-bench .venv-lowest .venv-newest dist $(TOOLS) .pytest_cache .mypy_cache .ruff_cache site .coverage
