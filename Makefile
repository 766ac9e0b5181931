# dgov — two commands: `make run` and `make test`. Everything they need is installed from here.
SHELL := /bin/bash
# The first interpreter that actually runs and is 3.11+ (pyenv shims may exist for versions not active).
PY ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := chromium fonts-noto-core fonts-dejavu-core
# uv installs into our own venv with our own interpreter, never one it downloads.
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
# pytest workers: both cores by default (DGOV_TEST_WORKERS=0 runs in one process).
DGOV_TEST_WORKERS ?= 2
TIMED := scripts/timed.sh

.PHONY: run test install assets chromium lint typecheck architecture pytest check check-fast lock \
	lock-check bench-smoke clean help

help:
	@echo "make run        - install, migrate, load demo data, serve on http://127.0.0.1:$${DGOV_PORT:-8000}"
	@echo "make test       - install from the lock and run every check (SQLite, PostgreSQL, browser)"
	@echo "make check-fast - lint, types, architecture and the tests not marked slow or browser"
	@echo "make lock       - re-resolve uv.lock (and the bootstrap pin) after changing pyproject.toml"

# Install from the lock only: requirements/bootstrap.txt pins uv itself with hashes, uv.lock pins every
# other package, direct and transitive, with hashes. `--frozen` never re-resolves.
$(STAMP): pyproject.toml uv.lock requirements/bootstrap.txt
	@test -n "$(PY)" || { echo "dgov needs Python 3.11 or newer (python3 on PATH)"; exit 1; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/bootstrap.txt
	$(BIN)/uv sync --quiet --frozen --extra dev --python $(BIN)/python
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error

install: $(STAMP) assets
assets: node_modules/.package-lock.json

# The demo's codes are read at /dev/messages, which only exists when asked for (and only for operators).
run: install
	$(BIN)/dgov init
	DGOV_DEV_MAILBOX=$${DGOV_DEV_MAILBOX:-true} $(BIN)/dgov serve

# One command refreshes the lock; `lock-check` (part of `make test`) fails when pyproject.toml and
# uv.lock disagree.
lock: $(STAMP)
	$(BIN)/uv lock
	$(BIN)/uv pip compile --quiet --generate-hashes --no-header \
	  <(grep -E '^\s*"uv==' pyproject.toml | tr -d ' ",') -o requirements/bootstrap.txt

lock-check: $(STAMP)
	@$(TIMED) lock $(BIN)/uv lock --check --quiet

# Browser tests drive the machine's Chromium; Playwright never downloads a browser of its own.
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  echo "installing Chromium and fonts with apt"; \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

lint: install
	@$(TIMED) ruff $(BIN)/ruff check src tests bench
	@$(TIMED) format $(BIN)/ruff format --check --quiet src tests bench

typecheck: install
	@$(TIMED) mypy $(BIN)/mypy

architecture: install
	@$(TIMED) import-linter $(BIN)/lint-imports

pytest: install chromium
	@$(TIMED) pytest $(BIN)/pytest -n $(DGOV_TEST_WORKERS) --durations=25

test: lock-check lint typecheck architecture pytest

check-fast: lint typecheck architecture
	@$(TIMED) pytest-fast $(BIN)/pytest -n $(DGOV_TEST_WORKERS) -m "not slow and not browser" --durations=10

check: install
	$(BIN)/dgov check

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .hypothesis
