# Two images from one file (build context: the repository root; compose.yaml sets both):
#   target `project`: the checkout at /opt/gglake with the project's own environment, /opt/gglake/.venv
#     (`pip install -c constraints.txt`), and the dbt manifest `make airflow-install` builds: the
#     knowledge-api service runs it.
#   target `airflow` (the last stage): the above plus Airflow 3 in the image's Python (constraints-airflow.txt)
#     with the project installed there without its dependencies, as .venv-airflow is locally: the
#     airflow-* services. Tasks run their steps in /opt/gglake/.venv (GGLAKE_PYTHON, `python -m gglake.task`).
# Both installs are editable (-e): gglake.orchestration and gglake.deployment find the checkout (dags/, dbt/,
# .venv) from their own file's location, so the package must be imported from /opt/gglake, not site-packages.

FROM python:3.11-slim-bookworm AS project
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
# libgomp1: LightGBM; pango and a Korean font: the KPI report's PDF (weasyprint).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 libpango-1.0-0 libpangoft2-1.0-0 fonts-nanum \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 50000 --gid 0 gglake
WORKDIR /opt/gglake
COPY pyproject.toml README.md constraints.txt constraints-airflow.txt ./
COPY gglake gglake
COPY sources sources
COPY spark_jobs spark_jobs
COPY models models
COPY quality quality
COPY dags dags
COPY dbt dbt
COPY dashboards dashboards
COPY knowledge knowledge
RUN python -m venv /opt/gglake/.venv \
    && /opt/gglake/.venv/bin/pip install -c constraints.txt -e . \
    && mkdir -p var/dbt \
    && DBT_TARGET_PATH=/opt/gglake/var/dbt /opt/gglake/.venv/bin/gglake-dbt parse > var/dbt/parse.log \
    && test -f var/dbt/manifest.json \
    && rm -rf dbt/logs dbt/target \
    && mkdir -p /var/lib/gglake/knowledge-index /var/lib/gglake/alerts \
    && chown -R gglake:0 var /var/lib/gglake
ENV PATH=/opt/gglake/.venv/bin:$PATH \
    GGLAKE_PYTHON=/opt/gglake/.venv/bin/python \
    GGLAKE_DBT_MANIFEST=/opt/gglake/var/dbt/manifest.json
USER gglake

FROM project AS airflow
USER root
RUN /usr/local/bin/pip install -c constraints-airflow.txt apache-airflow astronomer-cosmos \
        apache-airflow-providers-openlineage psycopg2-binary asyncpg \
    && /usr/local/bin/pip install --no-deps -e . \
    && rm -f /usr/local/bin/gglake /usr/local/bin/gglake-dbt \
    && mkdir -p /opt/airflow/logs /opt/airflow/openlineage /opt/airflow/cosmos \
    && chown -R gglake:0 /opt/airflow
COPY --chmod=0755 docker/airflow-entrypoint.sh /usr/local/bin/gglake-airflow
# Airflow's own Python first (its `airflow`), then the project environment (gglake, gglake-dbt: the
# dependency-less copies of those commands in Airflow's Python are removed above).
ENV PATH=/usr/local/bin:/opt/gglake/.venv/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    AIRFLOW_HOME=/opt/airflow
USER gglake
WORKDIR /opt/airflow
ENTRYPOINT ["/usr/local/bin/gglake-airflow"]
