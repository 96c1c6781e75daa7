# Two commands do everything: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080

# Embedded defaults for a tester's local server: auth off (loud warning), and a FHIR server on
# any loopback port allowed. Each is only a default: the environment or `make run VAR=...` wins.
run: export CDS_AUTH ?= off
run: export CDS_PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
run: export CDS_FHIR_ALLOWLIST ?= ["http://127.0.0.1:*","http://localhost:*","http://[::1]:*"]
run: export CDS_FHIR_ALLOW_LOOPBACK_HTTP ?= true

.PHONY: run test install install-test lock lint typecheck bench bench-replay bench-tools clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs come from the hashed lock files in requirements/ (`make lock` refreshes them from
# pyproject.toml's ranges); the project itself is then installed editable, without resolving.
LOCK_RUN  := requirements/runtime.txt requirements/build.txt
LOCK_TEST := requirements/test.txt
LOCK_ARGS := --quiet --universal --python-version 3.11 --generate-hashes

$(VENV)/.installed: pyproject.toml $(LOCK_RUN) | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes $(addprefix -r ,$(LOCK_RUN))
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(LOCK_TEST) | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK_TEST)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(VENV)/.installed $@

# Re-resolve the lock files within pyproject.toml's ranges (needs uv, from the test extras).
lock: install-test
	$(BIN)/uv pip compile $(LOCK_ARGS) --extra test --extra bench --extra workbench pyproject.toml \
	  requirements/build.in -o requirements/test.txt
	$(BIN)/uv pip compile $(LOCK_ARGS) -c requirements/test.txt pyproject.toml \
	  -o requirements/runtime.txt
	$(BIN)/uv pip compile $(LOCK_ARGS) -c requirements/test.txt requirements/build.in \
	  -o requirements/build.txt

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(BIN)/cds-service db upgrade
	$(BIN)/cds-service serve --host $(HOST) --port $(PORT)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install-test
	$(BIN)/mypy
	$(BIN)/mypy tests bench deploy

test: lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

# `make bench` (about 9 minutes; BENCH_ARGS=--smoke for seconds). See bench/README.md.
bench: install-test bench-tools
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Population replay at 1 and 2 Dask workers (about 2 minutes; REPLAY_ARGS=--help). bench/README.md.
bench-replay: install-test
	$(BIN)/python -m bench.replay $(REPLAY_ARGS)

# wrk is the closed-loop load generator; installed when we may (root or sudo -n, apt-get),
# otherwise the bench falls back to its Python driver and says so in the report.
bench-tools:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	  else SUDO=none; fi; \
	  if [ "$$SUDO" != none ] && command -v apt-get >/dev/null 2>&1; then \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq wrk >/dev/null; fi; \
	  command -v wrk >/dev/null 2>&1 || echo "bench: wrk unavailable; using the Python driver"; }

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache instance
