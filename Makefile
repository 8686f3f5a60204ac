# Set-up and checks. `make test` is the command README.md and CI use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test install lint bench clean demo

$(BIN)/gateway: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,postgres]'
	touch $@

install: $(BIN)/gateway

lint: install
	$(BIN)/ruff check gateway adapters tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

demo: install
	$(BIN)/gateway demo

bench: install
	$(BIN)/python bench/envelope.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
