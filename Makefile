# The two set-up commands (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.package-lock.json
CHROMIUM := /usr/bin/chromium

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

# Debian's Chromium for the browser tests (driven by Playwright; never a downloaded
# browser), installed when this machine lets us: as root or with passwordless sudo.
# `apt-get update` only when the install fails (no package list yet). Without it the
# browser tests skip; under CI=true its absence fails here.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then as=""; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as="sudo -n"; \
	else as=none; fi; \
	if [ "$$as" != none ] && command -v apt-get >/dev/null 2>&1; then \
	  install="$$as env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium"; \
	  echo "installing Debian's chromium for the browser tests"; \
	  $$install >/dev/null || { $$as apt-get update -q >/dev/null && $$install >/dev/null; } || true; \
	fi; \
	if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$CI" = true ]; then \
	    echo "error: CI=true and $(CHROMIUM) is missing: the browser tests need Debian's chromium" \
	      "(apt-get install chromium, as root or with passwordless sudo)" >&2; exit 1; \
	  fi; \
	  echo "warning: no $(CHROMIUM) (apt-get install chromium: as root or with passwordless" \
	    "sudo): the browser tests will be skipped" >&2; \
	fi

# Debian's PostgreSQL for the store and worker tests (each test session starts a private
# cluster in a temp dir), installed like chromium above; under CI=true its absence fails.
.PHONY: postgresql
postgresql:
	@have() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; }; \
	if ! have; then \
	  if [ "$$(id -u)" = 0 ]; then as=""; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as="sudo -n"; \
	  else as=none; fi; \
	  if [ "$$as" != none ] && command -v apt-get >/dev/null 2>&1; then \
	    install="$$as env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql"; \
	    echo "installing Debian's postgresql for the store and worker tests"; \
	    $$install >/dev/null || { $$as apt-get update -q >/dev/null && $$install >/dev/null; } || true; \
	  fi; \
	fi; \
	if ! have; then \
	  if [ "$$CI" = true ]; then \
	    echo "error: CI=true and PostgreSQL (initdb) is missing: apt-get install postgresql" >&2; exit 1; \
	  fi; \
	  echo "warning: no PostgreSQL (apt-get install postgresql): its tests will be skipped" >&2; \
	fi

# The import contract (faces use only the core), then every test.
test: $(STAMP) $(NODE_STAMP) $(CHROMIUM) postgresql
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

# The dashboard's screenshots (docs/screenshots/) and PWA icons, from a server with demo
# tasks: the real Claude Code on the fake model, offline, in Debian's Chromium.
.PHONY: screenshots
screenshots: $(STAMP) $(NODE_STAMP) $(CHROMIUM)
	$(BIN)/python tests/integration/browser/screenshots.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
