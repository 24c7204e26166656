# The two commands: `make run` (generate, catch up the history with `gglake pipeline`, then run the last
# AIRFLOW_DAYS days through Airflow) and `make test`. `make airflow` starts the UI, `make stop` stops it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
AIRFLOW_VENV := .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed
MANIFEST := var/dbt/manifest.json
DBT_FILES := $(shell find dbt -path dbt/target -prune -o -path dbt/logs -prune -o -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' \) -print)

export GGLAKE_HOME ?= $(CURDIR)/lakehouse
LANDING ?= $(CURDIR)/landing
RESIDENTS ?= 400
DAYS ?= 60
START ?= 2026-09-01
SEED ?= 42
AIRFLOW_DAYS ?= 2
HISTORY_DAYS := $(shell echo $$(( $(DAYS) - $(AIRFLOW_DAYS) )))
AIRFLOW_START := $(shell date -d "$(START) + $(HISTORY_DAYS) days" +%F)

.PHONY: install airflow-install run airflow stop test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# Airflow in its own environment (its web stack and the project's engine stack pin different versions),
# with the project installed there without dependencies (DAG files import gglake.orchestration only),
# and the dbt manifest Cosmos renders the gold_marts DAG from (parsing a DAG file never runs dbt).
airflow-install: $(AIRFLOW_STAMP) $(MANIFEST)

$(AIRFLOW_STAMP): constraints-airflow.txt pyproject.toml
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/pip install --quiet -c constraints-airflow.txt apache-airflow astronomer-cosmos apache-airflow-providers-openlineage
	$(AIRFLOW_VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

$(MANIFEST): $(STAMP) $(DBT_FILES)
	mkdir -p $(dir $@)
	DBT_TARGET_PATH=$(CURDIR)/var/dbt $(BIN)/gglake-dbt parse > var/dbt/parse.log

# History before the last AIRFLOW_DAYS days is a catch-up; those days arrive afterwards and run through Airflow.
run: install airflow-install
	$(BIN)/gglake generate --out $(LANDING) --residents $(RESIDENTS) --days $(HISTORY_DAYS) --start $(START) --seed $(SEED)
	$(BIN)/gglake pipeline --landing $(LANDING) --start $(START) --days $(HISTORY_DAYS) --score-days 1
	$(BIN)/gglake generate --out $(LANDING) --residents $(RESIDENTS) --days $(AIRFLOW_DAYS) --start $(AIRFLOW_START) --seed $(SEED)
	GGLAKE_LANDING=$(LANDING) $(BIN)/gglake airflow run --start $(AIRFLOW_START) --days $(AIRFLOW_DAYS)
	$(BIN)/gglake tables

airflow: install airflow-install
	GGLAKE_LANDING=$(LANDING) $(BIN)/gglake airflow start

stop:
	$(BIN)/gglake airflow stop

test: install airflow-install lint
	$(BIN)/pytest -q

bench: install
	$(BIN)/python -m tests.benchmarks.ingest_bench --residents $${BENCH_RESIDENTS:-1000} --days $${BENCH_DAYS:-7}
	$(BIN)/python -m tests.benchmarks.features_bench --residents $${BENCH_FEATURE_RESIDENTS:-1000} --days $${BENCH_FEATURE_DAYS:-60}

lint: install
	$(BIN)/ruff check gglake sources spark_jobs models quality tests dags
	$(BIN)/sqlfluff lint dbt/

clean: stop
	rm -rf $(GGLAKE_HOME) $(LANDING) var .pytest_cache
