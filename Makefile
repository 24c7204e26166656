# The two commands: `make run` (generate, then `gglake pipeline`: ingest → gates → features → model → scores → dbt → gold gate, embedded engine) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export GGLAKE_HOME ?= $(CURDIR)/lakehouse
LANDING ?= $(CURDIR)/landing
RESIDENTS ?= 400
DAYS ?= 60
START ?= 2026-09-01
SEED ?= 42

.PHONY: install run test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

run: install
	$(BIN)/gglake generate --out $(LANDING) --residents $(RESIDENTS) --days $(DAYS) --start $(START) --seed $(SEED)
	$(BIN)/gglake pipeline --landing $(LANDING) --start $(START) --days $(DAYS)
	$(BIN)/gglake tables

test: install lint
	$(BIN)/pytest -q

bench: install
	$(BIN)/python -m tests.benchmarks.ingest_bench --residents $${BENCH_RESIDENTS:-1000} --days $${BENCH_DAYS:-7}
	$(BIN)/python -m tests.benchmarks.features_bench --residents $${BENCH_FEATURE_RESIDENTS:-1000} --days $${BENCH_FEATURE_DAYS:-60}

lint: install
	$(BIN)/ruff check gglake sources spark_jobs models quality tests
	$(BIN)/sqlfluff lint dbt/

clean:
	rm -rf $(GGLAKE_HOME) $(LANDING) .pytest_cache
