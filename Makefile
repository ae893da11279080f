# Set-up and test commands; each target installs what it needs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install node frontend provider hub browser postgres demo demo-fapi2 test lint bench faults docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Building the JupyterLab extension from src/ needs Node.js (a built wheel does not).
# After `make frontend`, .venv's labextension folder links to the build, so pip writes the
# root install.json into the build too; the next install would then add it twice.
install: $(BIN)/python node
	rm -f jupyter_nevis_auth/labextension/install.json
	$(BIN)/python -m pip install --quiet -e ".[test,hub]"

node:
	@command -v node >/dev/null || { \
	  echo "Install Node.js 20 or newer (Debian: nodejs and npm) to build the JupyterLab extension."; \
	  exit 1; }

# Rebuild the JupyterLab extension after a change in src/, style/ or schema/, and link
# the build into .venv: a page reload shows it.
frontend: install
	PATH="$(CURDIR)/$(BIN):$$PATH" jlpm build
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter labextension develop --overwrite .

provider:
	npm ci --prefix tests/provider --no-audit --no-fund --loglevel=error

# configurable-http-proxy for the JupyterHub tests.
hub:
	npm ci --prefix tests/hub --no-audit --no-fund --loglevel=error

# Debian's Chromium for the browser tests; Playwright never downloads a browser here.
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Install Chromium (Debian package 'chromium') for the browser tests."; fi; }

demo: install provider
	$(BIN)/python demo/run_demo.py

demo-fapi2: install provider
	$(BIN)/python demo/run_demo.py --fapi2

# Debian's PostgreSQL for the hub service's store tests (they start a throwaway cluster).
postgres:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "Install PostgreSQL (Debian package 'postgresql') for the store tests."; fi; }

# Two pytest-xdist workers: the JupyterHub tests in one, the rest in the other
# (tests/conftest.py); TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2
test: install provider hub browser postgres
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# Run by .ci/run before the tests: ruff, mypy, and prettier + eslint for src/ as the
# JupyterLab extension template sets them up. The Python linters are pinned: a new release must not turn
# main red by itself.
lint: install
	$(BIN)/python -m pip install --quiet "ruff==0.17.6" "mypy==2.4.1"
	$(BIN)/ruff check jupyter_nevis_auth tests benchmarks demo
	$(BIN)/ruff format --check jupyter_nevis_auth tests benchmarks demo
	$(BIN)/mypy
	PATH="$(CURDIR)/$(BIN):$$PATH" jlpm lint:check

# Every benchmark runs; the target fails when any of them missed a goal.
bench: install provider hub
	status=0; for script in benchmarks/bench_*.py; do $(BIN)/python $$script || status=1; done; \
	exit $$status

# The hub service on PostgreSQL under faults, one at a time (benchmarks/faults.py, a few
# minutes); fails when a grant is lost, a refresh token is used twice or a secret is logged.
FAULTS_ARGS ?=
faults: install provider hub postgres
	$(BIN)/python benchmarks/faults.py $(FAULTS_ARGS)

docs: install
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html
