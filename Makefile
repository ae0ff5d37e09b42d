# The two set-up commands: `make demo` and `make test`. Both create .venv with python3 and install into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast bench lint dev clean debian

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/codecvdc demo

# Debian packages the tests and benchmarks start (root, as on CI), each installed only when missing:
# chromium (report and UI tests), a JRE (pycocoevalcap's PTB tokenizer and METEOR), PostgreSQL (the
# instance on a real server), Redis (the Celery broker).
debian:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v java >/dev/null || missing="$$missing default-jre-headless"; \
	{ command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

# Whole test files spread over TEST_WORKERS processes (pytest-xdist): most tests wait on the processes they
# start (dagster dev, workers, servers): with two workers the 2 cores were busy 55 % of the time, with three
# the suite took 838 s instead of 930 s. --no-loadscope-reorder keeps the collection order (the longest
# files first, tests/conftest.py): xdist's default order, by number of tests per file, left the long
# one-test files (S3 outage, PostgreSQL, disk full) for the end.
TEST_WORKERS ?= 3
test: $(STAMP) debian lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15

# The inner loop: everything but the tests marked slow (live processes, whole chains).
test-fast: $(STAMP) debian
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not slow"

bench: $(STAMP) debian
	$(BIN)/python -m bench

# ruff, and the import contracts in pyproject.toml (layers, Dagster only in definitions/defs/runs/cli, no
# circle inside a package): `make test` runs this first, so CI fails on a new circle or an upward import.
lint: $(STAMP)
	$(BIN)/ruff check codecvdc_assets tests bench
	$(BIN)/ruff format --check codecvdc_assets tests bench
	$(BIN)/lint-imports

# The Dagster UI on the same home as the CLI.
dev: $(STAMP)
	$(BIN)/codecvdc ui

clean:
	rm -rf $(VENV) .codecvdc
