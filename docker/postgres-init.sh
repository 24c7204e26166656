#!/bin/sh
# Runs once, when the postgres volume is first initialised (/docker-entrypoint-initdb.d): the serving
# database and its owner, whose password is GGLAKE_SERVING_PASSWORD. Airflow's database and user are the
# image's own (POSTGRES_DB, POSTGRES_USER).
set -e

: "${GGLAKE_SERVING_PASSWORD:?set GGLAKE_SERVING_PASSWORD (the serving database's password)}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v serving_password="$GGLAKE_SERVING_PASSWORD" <<'SQL'
CREATE ROLE serving LOGIN PASSWORD :'serving_password';
CREATE DATABASE serving OWNER serving;
SQL
