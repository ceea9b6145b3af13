# Two entry points: `make demo` and `make test`. Both prepare .venv first if needed.
VENV ?= .venv
BIN := $(VENV)/bin
QUESTION ?= Tom has 3 boxes with 4 apples in each box. How many apples does Tom have?

.PHONY: venv demo test bench clean

venv: $(VENV)/.ready

$(VENV)/.ready: pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

demo: venv
	$(BIN)/ponder solve "$(QUESTION)" --strategy self-consistency --budget 8

test: venv
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -q tests

bench: venv
	$(BIN)/python benchmarks/engine_batching.py

clean:
	rm -rf $(VENV) .pytest_cache
