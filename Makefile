# opendata-pipeline — `make` builds every dataset, `make test` runs every test.
# Paths are Make variables: make RAW_DIR=/some/where PUBLISHED_DIR=/else
RAW_DIR       ?= data/raw
PUBLISHED_DIR ?= data/published
REPORTS_DIR   ?= reports
SCHEMAS_DIR   ?= schemas
PYTHON        ?= python3
VENV          ?= .venv
PY            := $(VENV)/bin/python
PIPELINE      := $(PY) -m pipeline
PATHS         := --raw-dir "$(RAW_DIR)" --published-dir "$(PUBLISHED_DIR)" --reports-dir "$(REPORTS_DIR)" --schemas-dir "$(SCHEMAS_DIR)"

.DEFAULT_GOAL := build
.PHONY: build validate test lint help clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

build: $(VENV)/.installed ## build every dataset under RAW_DIR into PUBLISHED_DIR (default target)
	$(PIPELINE) build $(PATHS)

validate: $(VENV)/.installed ## check every dataset, publish nothing
	$(PIPELINE) validate $(PATHS)

test: $(VENV)/.installed-test ## install what tests need and run them all
	$(VENV)/bin/ruff check pipeline tests
	$(VENV)/bin/pytest

lint: $(VENV)/.installed-test ## ruff
	$(VENV)/bin/ruff check pipeline tests benchmarks

clean: ## remove the virtualenv, reports and published output
	rm -rf $(VENV) $(REPORTS_DIR) $(PUBLISHED_DIR)/*/
