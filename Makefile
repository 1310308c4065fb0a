# One command per habit. Everything installs into .venv from the project's own files, and
# .venv-openlit for the one test application that cannot share it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

LOCK := requirements.lock

# OpenLIT (openlit 1.45.0 requires openai<3 and anthropic<1; the dev set has openai 3 and
# anthropic 2) runs its application in tests/e2e/test_billed_as_priced.py from a venv of its
# own: requirements-openlit.in declares it, requirements-openlit.lock pins all of it.
OPENLIT_VENV := .venv-openlit
OPENLIT_LOCK := requirements-openlit.lock
OPENLIT_STAMP := $(OPENLIT_VENV)/.installed

.PHONY: install lock demo test lint typecheck pytest bench clean

# The tested set: pyproject.toml declares compatible ranges, requirements.lock the versions
# resolved and tested together, which pip is held to (-c) here.
install: $(STAMP) $(OPENLIT_STAMP)

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -c $(LOCK) -e '.[dev]'
	touch $(STAMP)

# The lock is the whole set (every transitive pin), so this installs exactly it.
$(OPENLIT_STAMP): $(OPENLIT_LOCK)
	$(PYTHON) -m venv $(OPENLIT_VENV)
	$(OPENLIT_VENV)/bin/pip install -q -U pip
	$(OPENLIT_VENV)/bin/pip install -q -r $(OPENLIT_LOCK)
	touch $(OPENLIT_STAMP)

# Re-resolve the locks after a change to the ranges (keeps the pins it can; `make lock
# UPGRADE=--upgrade` takes the newest the ranges allow), for every Python and platform.
UPGRADE ?=
lock: $(STAMP)
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--custom-compile-command "make lock" $(UPGRADE) -o $(LOCK)
	$(BIN)/uv pip compile requirements-openlit.in --universal --python-version 3.11 \
		--custom-compile-command "make lock" $(UPGRADE) -o $(OPENLIT_LOCK)

# `make demo DEMO_ARGS="--auth --http-port 14318"`: flags of `spendscope demo`.
DEMO_ARGS ?=

demo: $(STAMP)
	$(BIN)/spendscope demo $(DEMO_ARGS)

# lint-imports: the import rules of [tool.importlinter] in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m bench.ingest

clean:
	rm -rf $(VENV) $(OPENLIT_VENV) .pytest_cache .mypy_cache .ruff_cache
