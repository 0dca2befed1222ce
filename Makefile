# askdocs: `make run` sets up and serves the sample workspace; `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: run test index lint typecheck clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(STAMP_DEV): pyproject.toml $(STAMP_RUN)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

index: $(STAMP_RUN)
	$(BIN)/askdocs index

run: index
	$(BIN)/askdocs serve

browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null)) || \
	  echo "chromium could not be installed: the browser test will fail"

test: $(STAMP_DEV) browser
	$(BIN)/pytest -q

lint: $(STAMP_DEV)
	$(BIN)/ruff check .
	$(BIN)/mypy askdocs connectors ingest retrieval api eval

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
