# The whole set-up on a fresh machine is `make demo` or `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck unit demo bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,azure]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src emulator tests benchmarks
	$(BIN)/ruff format --check src emulator tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy --strict src emulator

unit: $(STAMP)
	$(BIN)/pytest -n 2 -q

test: lint typecheck unit

demo: $(STAMP)
	$(BIN)/batchport demo

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build dist
