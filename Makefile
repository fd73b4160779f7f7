# The two set-up commands (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.package-lock.json

.PHONY: run test test-fast lint soak bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Tasks run under ROOT (default: your home directory), never in this checkout unless asked
# (make run ROOT=.).
ROOT ?= $(HOME)
run: $(STAMP)
	$(BIN)/agentdeck serve --root $(ROOT)

# The agent CLIs and the MCP Inspector the tests run, pinned in package-lock.json.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund

# The import contract (faces use only the core), then every test.
test: $(STAMP) $(NODE_STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# The fast tier: unit and face tests, in process (no subprocess agents, no HTTP server).
test-fast: $(STAMP)
	$(BIN)/python -m pytest tests/unit tests/faces

# The reliability suites (crash, fault, fuzz) at full size; make test runs them small.
soak: $(STAMP) $(NODE_STAMP)
	AGENTDECK_SOAK=1 $(BIN)/python -m pytest -m reliability -p no:cacheprovider

# Every figure of docs/performance.md against its target and baseline (minutes; see --only).
bench: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m benchmarks --size full

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
