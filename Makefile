# dgov — two commands: `make run` and `make test`. Everything they need is installed from here.
SHELL := /bin/bash
# The first interpreter that actually runs and is 3.11+ (pyenv shims may exist for versions not active).
PY ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := chromium fonts-noto-core fonts-dejavu-core

.PHONY: run test install assets chromium lint typecheck architecture pytest check clean help

help:
	@echo "make run   - install, migrate, load demo data, serve on http://127.0.0.1:$${DGOV_PORT:-8000}"
	@echo "make test  - install what the checks need and run every check (SQLite, PostgreSQL, browser)"

$(STAMP): pyproject.toml
	@test -n "$(PY)" || { echo "dgov needs Python 3.11 or newer (python3 on PATH)"; exit 1; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error

install: $(STAMP) assets
assets: node_modules/.package-lock.json

run: install
	$(BIN)/dgov init
	$(BIN)/dgov serve

# Browser tests drive the machine's Chromium; Playwright never downloads a browser of its own.
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  echo "installing Chromium and fonts with apt"; \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

lint: install
	$(BIN)/ruff check src tests bench

typecheck: install
	$(BIN)/mypy

architecture: install
	$(BIN)/lint-imports

pytest: install chromium
	$(BIN)/pytest

test: lint typecheck architecture pytest

check: install
	$(BIN)/dgov check

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .hypothesis
