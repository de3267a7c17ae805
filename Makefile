# Two commands on a fresh machine: `make run` and `make test` (only Python 3.11+ needed).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run demo test test-fast bench lint typecheck clean screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.runtime
	$(PIP) install -e ".[dev]"
	touch $@

run: $(VENV)/.runtime
	$(BIN)/eventchain demo

demo: run

test: $(VENV)/.dev
	@# the workspace's browser tests drive Debian's chromium (never a downloaded browser)
	command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || \
		(apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-zenhei)
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

test-fast: $(VENV)/.dev
	$(BIN)/python -m pytest tests/unit

bench: $(VENV)/.dev
	$(BIN)/python -m bench

screenshots: $(VENV)/.dev
	@# docs/workspace-*.png: the rep's desk and the director's board, 1400 px and 390 px
	$(BIN)/python -m tests.screenshots

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) data bench/.work .pytest_cache .hypothesis
