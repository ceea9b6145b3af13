# Two entry points: `make demo` and `make test` (lint, then the tests). Both prepare .venv first if needed.
VENV ?= .venv
BIN := $(VENV)/bin
QUESTION ?= Tom has 3 boxes with 4 apples in each box. How many apples does Tom have?

.PHONY: venv demo lint test bench clean

venv: $(VENV)/.ready

$(VENV)/.ready: pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

demo: venv
	$(BIN)/ponder solve "$(QUESTION)" --strategy self-consistency --budget 8

LINTED := src tests benchmarks examples scripts

lint: venv
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy src/ponder

test: lint
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -q tests

bench: venv
	$(BIN)/python benchmarks/engine_batching.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
