# One command per habit. Everything installs into .venv from the project's own files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

LOCK := requirements.lock

.PHONY: install lock demo test lint typecheck pytest bench clean

# The tested set: pyproject.toml declares compatible ranges, requirements.lock the versions
# resolved and tested together, which pip is held to (-c) here.
install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -c $(LOCK) -e '.[dev]'
	touch $(STAMP)

# Re-resolve the lock after a change to the ranges (keeps the pins it can; `make lock
# UPGRADE=--upgrade` takes the newest the ranges allow), for every Python and platform.
UPGRADE ?=
lock: install
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--custom-compile-command "make lock" $(UPGRADE) -o $(LOCK)

# `make demo DEMO_ARGS="--auth --http-port 14318"`: flags of `spendscope demo`.
DEMO_ARGS ?=

demo: install
	$(BIN)/spendscope demo $(DEMO_ARGS)

# lint-imports: the import rules of [tool.importlinter] in pyproject.toml.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: install
	$(BIN)/python -m bench.ingest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
