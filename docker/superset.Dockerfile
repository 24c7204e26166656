# The superset image: Superset 6.1 (constraints-superset.txt: its DuckDB equals the project's, so it reads
# the serving files the publisher writes) with dashboards/superset_config.py.
# Build context: the repository root (compose.yaml sets it).
FROM python:3.11-slim-bookworm
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
COPY constraints-superset.txt /tmp/constraints-superset.txt
RUN pip install -c /tmp/constraints-superset.txt "apache-superset[duckdb,postgres]" flask-caching rich cachetools \
        duckdb gunicorn \
    && rm /tmp/constraints-superset.txt \
    && useradd --create-home --uid 1000 superset \
    && mkdir -p /var/lib/superset \
    && chown superset /var/lib/superset
COPY dashboards/superset_config.py /etc/superset/superset_config.py
COPY --chmod=0755 docker/superset-entrypoint.sh /usr/local/bin/gglake-superset
ENV SUPERSET_CONFIG_PATH=/etc/superset/superset_config.py SUPERSET_HOME=/var/lib/superset
USER superset
WORKDIR /var/lib/superset
ENTRYPOINT ["/usr/local/bin/gglake-superset"]
