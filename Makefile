# The two commands of the README: `make up` (run the local stack) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: up test install lint bench clean

up: install
	$(BIN)/eneo-local up

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[local,dev]"
	touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/import_time.py
	$(BIN)/python bench/gateway_latency.py

clean:
	rm -rf $(VENV) .eneo-data .pytest_cache .ruff_cache
