# The two commands: `make run` (generate, catch up the history with `gglake pipeline`, then run the last
# AIRFLOW_DAYS days through Airflow) and `make test`. `make airflow` starts the UI, `make stop` stops it.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
AIRFLOW_VENV := .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed
SUPERSET_VENV := .venv-superset
SUPERSET_STAMP := $(SUPERSET_VENV)/.installed
# Debian packages: Chromium (browser tests, screenshots), a Korean font and poppler (the KPI report and its
# checks), the PostgreSQL server (the PostgreSQL serving store's tests).
SYSTEM_PACKAGES := chromium fonts-nanum poppler-utils postgresql
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
REPORT_MONTH ?= $(shell date -d "$(AIRFLOW_START)" +%Y-%m)

.PHONY: install airflow-install superset-install system-packages spark-jars run airflow dashboards superset api spark-cluster s3 stop test bench bench-daily lint clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# Airflow in its own environment (its web stack and the project's engine stack pin different versions),
# with the project installed there without dependencies (DAG files import gglake.orchestration only),
# the PostgreSQL drivers for a PostgreSQL metadata database (the scale-out profile; Airflow 3 opens it
# both with psycopg2 and, for its async API code, asyncpg)
# and the dbt manifest Cosmos renders the gold_marts DAG from (parsing a DAG file never runs dbt).
airflow-install: $(AIRFLOW_STAMP) $(MANIFEST)

$(AIRFLOW_STAMP): constraints-airflow.txt pyproject.toml
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/pip install --quiet -c constraints-airflow.txt apache-airflow astronomer-cosmos apache-airflow-providers-openlineage psycopg2-binary asyncpg
	$(AIRFLOW_VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

$(MANIFEST): $(STAMP) $(DBT_FILES)
	mkdir -p $(dir $@)
	DBT_TARGET_PATH=$(CURDIR)/var/dbt $(BIN)/gglake-dbt parse > var/dbt/parse.log

# Superset in its own environment too (it pins its own Flask and SQLAlchemy); it reads the serving store
# with the same DuckDB version the publisher writes with (a newer writer's file is unreadable to it).
superset-install: $(SUPERSET_STAMP)

$(SUPERSET_STAMP): constraints-superset.txt
	$(PYTHON) -m venv $(SUPERSET_VENV)
	$(SUPERSET_VENV)/bin/pip install --quiet --upgrade pip
	$(SUPERSET_VENV)/bin/pip install --quiet -c constraints-superset.txt 'apache-superset[duckdb,postgres]' flask-caching rich cachetools duckdb gunicorn
	touch $@

# The Spark profile's jars (spark/pom.xml: Delta Lake 4.0.1, hadoop-aws 3.4.1 and its AWS SDK bundle) into
# var/spark/jars, with Maven from Maven Central; Scala and ANTLR come with the Spark inside the pyspark wheel.
SPARK_JARS := var/spark/jars
SPARK_JARS_STAMP := $(SPARK_JARS)/.copied
spark-jars: $(SPARK_JARS_STAMP)

$(SPARK_JARS_STAMP): spark/pom.xml
	mkdir -p $(SPARK_JARS)
	mvn -B -q -f spark/pom.xml dependency:copy-dependencies -DoutputDirectory=$(CURDIR)/$(SPARK_JARS) \
		-DexcludeArtifactIds=scala-library,antlr4-runtime
	touch $@

system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing $$missing"; \
		$$( [ $$(id -u) = 0 ] || echo sudo ) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$( [ $$(id -u) = 0 ] || echo sudo ) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# History before the last AIRFLOW_DAYS days is a catch-up; those days arrive afterwards and run through Airflow.
run: install airflow-install system-packages
	$(BIN)/gglake generate --out $(LANDING) --residents $(RESIDENTS) --days $(HISTORY_DAYS) --start $(START) --seed $(SEED)
	$(BIN)/gglake pipeline --landing $(LANDING) --start $(START) --days $(HISTORY_DAYS) --score-days 1
	$(BIN)/gglake generate --out $(LANDING) --residents $(RESIDENTS) --days $(AIRFLOW_DAYS) --start $(AIRFLOW_START) --seed $(SEED)
	GGLAKE_LANDING=$(LANDING) $(BIN)/gglake airflow run --start $(AIRFLOW_START) --days $(AIRFLOW_DAYS)
	$(BIN)/gglake tables
	$(BIN)/gglake report --month $(REPORT_MONTH)
	$(BIN)/gglake knowledge eval

airflow: install airflow-install
	GGLAKE_LANDING=$(LANDING) $(BIN)/gglake airflow start

# Superset on 127.0.0.1 with the five dashboards, the provincial and district roles and row-level security:
# sets Superset up (first time ~1 min), starts it, imports dashboards/bundle (idempotent). `make stop` stops it.
dashboards: install superset-install
	$(BIN)/gglake dashboards start
	$(BIN)/gglake dashboards load

# Publishes the serving store from the gold marts of `make run`, then the above.
superset: install superset-install
	$(BIN)/gglake publish
	$(MAKE) dashboards

# The knowledge read API and search page on 127.0.0.1:8600 over the index `make run` built; `make stop` stops it.
api: install
	$(BIN)/gglake knowledge start

# The `spark` profile: a standalone Spark 4 cluster (master + 2 workers) with a Delta Connect server on
# 127.0.0.1:15002; then `export SPARK_REMOTE=sc://127.0.0.1:15002`. `make stop` stops it.
spark-cluster: install spark-jars
	$(BIN)/gglake spark start

# A local S3 API (SeaweedFS) for an s3:// home: `eval "$$(.venv/bin/gglake s3 env)"` sets GGLAKE_HOME and AWS_*.
s3: install
	$(BIN)/gglake s3 start

stop:
	$(BIN)/gglake spark stop
	$(BIN)/gglake s3 stop
	$(BIN)/gglake airflow stop
	$(BIN)/gglake dashboards stop
	$(BIN)/gglake knowledge stop

test: install airflow-install superset-install system-packages spark-jars lint
	$(BIN)/pytest -q

bench: install superset-install spark-jars
	$(BIN)/python -m tests.benchmarks.ingest_bench --residents $${BENCH_RESIDENTS:-1000} --days $${BENCH_DAYS:-7}
	$(BIN)/python -m tests.benchmarks.features_bench --residents $${BENCH_FEATURE_RESIDENTS:-1000} --days $${BENCH_FEATURE_DAYS:-60}
	$(BIN)/python -m tests.benchmarks.dashboards_bench --users $${BENCH_DASHBOARD_USERS:-4} --rounds $${BENCH_DASHBOARD_ROUNDS:-5}
	$(BIN)/python -m tests.benchmarks.knowledge_bench --clients $${BENCH_API_CLIENTS:-4} --rounds $${BENCH_API_ROUNDS:-5}
	$(BIN)/python -m tests.benchmarks.scaleout_bench --residents $${BENCH_SCALE_RESIDENTS:-150} --days $${BENCH_SCALE_DAYS:-36}

# The 04:00 daily run per step at two sizes on the embedded default, its growth and the 100,000-resident estimate.
bench-daily: install
	$(BIN)/python -m tests.benchmarks.daily_bench --sizes $${BENCH_DAILY_SMALL:-2500} $${BENCH_DAILY_LARGE:-5000}

lint: install
	$(BIN)/ruff check gglake sources spark_jobs models quality tests dags
	$(BIN)/sqlfluff lint dbt/

clean: stop
	rm -rf $(GGLAKE_HOME) $(LANDING) var .pytest_cache
