# Two commands do everything: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080

# Embedded defaults for a tester's local server: auth off (loud warning), loopback FHIR allowed.
RUN_ENV := CDS_AUTH=off \
	CDS_PUBLIC_BASE_URL=http://$(HOST):$(PORT) \
	CDS_FHIR_ALLOWLIST='["http://127.0.0.1","http://localhost"]' \
	CDS_FHIR_ALLOW_LOOPBACK_HTTP=true

.PHONY: run test install install-test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(RUN_ENV) $(BIN)/cds-service db upgrade
	$(RUN_ENV) $(BIN)/cds-service serve --host $(HOST) --port $(PORT)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install-test
	$(BIN)/mypy
	$(BIN)/mypy tests bench

test: lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install-test
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache instance
