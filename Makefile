# The two set-up commands: `make demo` and `make test`. Both create .venv with python3 and install into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench lint dev clean chromium java

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

# pycocoevalcap's PTB tokenizer and METEOR run Java (caption metrics); install a JRE when missing.
java:
	@command -v java >/dev/null || { apt-get update -qq && apt-get install -y -qq default-jre-headless >/dev/null; }

test: $(STAMP) chromium java
	$(BIN)/python -m pytest -q

bench: $(STAMP) java
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check codecvdc_assets tests bench
	$(BIN)/ruff format --check codecvdc_assets tests bench

# The Dagster UI on the same home as the CLI.
dev: $(STAMP)
	$(BIN)/codecvdc ui

clean:
	rm -rf $(VENV) .codecvdc
