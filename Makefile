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
# DATASET=name (or "a b") limits build/validate/push/plan to those datasets; new needs DATASET and FROM
DATASET       ?=
FROM          ?=
ONLY          := $(foreach d,$(DATASET),--dataset "$(d)")
# JOBS=n: datasets built side by side in n processes (default: the machine's cores)
JOBS          ?= $(shell nproc 2>/dev/null || echo 1)
PATHS         := --raw-dir "$(RAW_DIR)" --published-dir "$(PUBLISHED_DIR)" --reports-dir "$(REPORTS_DIR)" --schemas-dir "$(SCHEMAS_DIR)" $(ONLY)

.DEFAULT_GOAL := build
CKAN_PORT     ?= 5000
CKAN_URL      ?= http://127.0.0.1:$(CKAN_PORT)
export CKAN_URL
CKAN_BASE     ?= $(CURDIR)/.ckan

ROWS          ?= 100000
BENCH_OUT     ?= benchmarks/results/bench-$(ROWS).json
MANY          ?= 200
MANY_ROWS     ?= 3000

.PHONY: build validate new test fuzz lint help clean push plan ckan-up ckan-down bench bench-push bench-many bench-stream bench-engines

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

build: $(VENV)/.installed ## build every dataset under RAW_DIR into PUBLISHED_DIR (default target; DATASET=name for one, JOBS=n processes)
	$(PIPELINE) build $(PATHS) --jobs "$(JOBS)"

validate: $(VENV)/.installed ## check every dataset, publish nothing
	$(PIPELINE) validate $(PATHS)

push: $(VENV)/.installed ## push every published dataset (or DATASET=name) to CKAN_URL (token: CKAN_API_TOKEN or CKAN_API_TOKEN_FILE)
	$(PIPELINE) push --published-dir "$(PUBLISHED_DIR)" --schemas-dir "$(SCHEMAS_DIR)" $(ONLY)

plan: $(VENV)/.installed ## show what `make push` would change; change nothing
	$(PIPELINE) plan --published-dir "$(PUBLISHED_DIR)" --schemas-dir "$(SCHEMAS_DIR)" $(ONLY)

new: $(VENV)/.installed ## start schemas/DATASET/ from a workbook or CSV: make new DATASET=name FROM=file.xlsx (FORCE=1 to overwrite)
	$(PIPELINE) new "$(DATASET)" --from "$(FROM)" --raw-dir "$(RAW_DIR)" --schemas-dir "$(SCHEMAS_DIR)" $(if $(FORCE),--force)

ckan-up: ## start the local CKAN portal (PostgreSQL, Redis, CKAN under .ckan/); installs what it needs
	CKAN_PORT=$(CKAN_PORT) bash portal/up.sh "$(CKAN_BASE)"

ckan-down: ## stop the local CKAN portal
	bash portal/down.sh "$(CKAN_BASE)"

# `make test` starts the local portal for the push tests; to use a portal that is already
# running, set CKAN_TEST_EXTERNAL=1 with CKAN_URL and CKAN_API_TOKEN_FILE.
test: $(VENV)/.installed-test ## install what tests need (local CKAN portal included) and run them all
	$(VENV)/bin/ruff check pipeline tests benchmarks
	bash tests/install-browser.sh
	$(if $(CKAN_TEST_EXTERNAL),,$(MAKE) --no-print-directory ckan-up)
	$(if $(CKAN_TEST_EXTERNAL),,CKAN_API_TOKEN_FILE=$(CKAN_BASE)/apitoken) $(VENV)/bin/pytest

FUZZ_EXAMPLES ?= 20000
fuzz: $(VENV)/.installed-test ## validator vs Frictionless on random schemas and hostile cells, long and unseeded (FUZZ_EXAMPLES=20000)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(VENV)/bin/pytest tests/test_differential.py -q

bench: $(VENV)/.installed-test ## benchmark the build against a bare calamine read and frictionless (ROWS=100000)
	$(PY) -m benchmarks.run --rows $(ROWS) --out "$(BENCH_OUT)"

bench-stream: $(VENV)/.installed-test ## a messy CSV export built in bounded memory vs in memory (ROWS=100000; STREAM_ARGS=--no-memory)
	$(PY) -m benchmarks.stream --rows $(ROWS) $(STREAM_ARGS) --out benchmarks/results/bench-stream-$(ROWS).json

bench-engines: $(VENV)/.installed-test ## engines that could read a CSV too large for memory, on the same messy export (ROWS=100000; installs polars, duckdb)
	$(VENV)/bin/pip install -q -e '.[bench]'
	$(PY) -m benchmarks.engines --rows $(ROWS) --out benchmarks/results/bench-engines-$(ROWS).json

bench-push: $(VENV)/.installed-test ## time a push to the local portal vs a bare DataStore insert loop (ROWS=100000)
	$(PY) -m benchmarks.push --rows $(ROWS) --out benchmarks/results/bench-push-$(ROWS).json

bench-many: $(VENV)/.installed-test ## MANY=200 generated datasets of MANY_ROWS=3000 rows: serial vs JOBS build, no-change rebuild
	$(PY) -m benchmarks.many --bench --datasets $(MANY) --rows $(MANY_ROWS) --jobs "$(JOBS)" --out benchmarks/results/bench-many-$(MANY).json

lint: $(VENV)/.installed-test ## ruff
	$(VENV)/bin/ruff check pipeline tests benchmarks

# `make clean` deletes only folders strictly inside this project, never an empty path, "/", a path
# with a space (Make would split it in two), the project itself, nor RAW_DIR or SCHEMAS_DIR (or a
# folder holding or inside one of them). The checks run when the recipe is expanded, so they hold
# under `make -n` too; symlinks are resolved first ($(realpath)), so a link cannot lead outside, and
# the dataset folders are found with `find -type d` (a link inside PUBLISHED_DIR is not followed:
# `rm -rf link/` would empty the folder it points to).
clean_path = $(or $(realpath $(1)),$(abspath $(1)))
clean_root := $(realpath $(CURDIR))
# the project's sources and inputs: never deleted, nor a folder holding one of them
clean_protected := .git pipeline tests schemas portal benchmarks docs data/raw Makefile pyproject.toml README.md
clean_keep = $(foreach k,$(RAW_DIR) $(SCHEMAS_DIR) $(clean_protected),$(call clean_path,$(k)))
define clean_guard
$(if $(strip $(2)),,$(error make clean: $(1) is empty; refusing to delete anything))
$(if $(word 2,$(2)),$(error make clean: $(1)="$(2)" contains a space; refusing (delete it by hand)))
$(if $(filter $(clean_root)/%,$(call clean_path,$(2))),,$(error make clean: $(1)=$(2) is not inside this project ($(clean_root)); refusing))
$(foreach k,$(clean_keep),$(if $(filter $(k) $(k)/%,$(call clean_path,$(2))),$(error make clean: $(1)=$(2) is or is inside $(k) (inputs or sources); refusing)))
$(foreach k,$(clean_keep),$(if $(filter $(call clean_path,$(2))/%,$(k)),$(error make clean: $(1)=$(2) holds $(k) (inputs or sources); refusing)))
endef

clean: ## remove the virtualenv, reports and published output (only folders inside this project)
	$(foreach v,VENV REPORTS_DIR PUBLISHED_DIR,$(call clean_guard,$(v),$($(v))))
	rm -rf -- "$(VENV)" "$(REPORTS_DIR)"
	[ ! -d "$(PUBLISHED_DIR)" ] || find "$(PUBLISHED_DIR)" -mindepth 1 -maxdepth 1 -type d -exec rm -rf -- {} +
