# The two set-up commands: `make demo` and `make test`. Both create .venv with python3 and install into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench lint dev clean chromium servers

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/codecvdc demo

# The report test opens the HTML in Debian's chromium; install it when missing (root, as on CI).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# tests/test_celery.py (and `make bench`'s distributed suite) start Redis and PostgreSQL themselves on free
# loopback ports: install Debian's servers when missing (root, as on CI).
servers:
	@command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; }

test: $(STAMP) chromium servers
	$(BIN)/python -m pytest -q

bench: $(STAMP) servers
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check codecvdc_assets tests bench
	$(BIN)/ruff format --check codecvdc_assets tests bench

# The Dagster UI on the same home as the CLI.
dev: $(STAMP)
	$(BIN)/codecvdc ui

clean:
	rm -rf $(VENV) .codecvdc
