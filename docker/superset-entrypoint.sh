#!/bin/sh
# The superset container: sets Superset up (metadata database, admin user with its password set to
# GGLAKE_SUPERSET_ADMIN_PASSWORD, built-in roles; idempotent, as gglake.superset's setup() does locally), then
# serves it with gunicorn on 0.0.0.0:8088. dashboards/superset_config.py refuses a missing or short secret key.
set -eu

: "${GGLAKE_SUPERSET_ADMIN_PASSWORD:?set GGLAKE_SUPERSET_ADMIN_PASSWORD (the Superset password of user admin)}"
mkdir -p "${SUPERSET_HOME:-/var/lib/superset}"

superset db upgrade
superset fab create-admin --username admin --firstname Superset --lastname Admin --email admin@localhost \
    --password="$GGLAKE_SUPERSET_ADMIN_PASSWORD"
# create-admin leaves an existing admin as it is: make its password the current secret.
superset fab reset-password --username admin --password="$GGLAKE_SUPERSET_ADMIN_PASSWORD"
superset init

exec gunicorn --bind 0.0.0.0:8088 --workers "${GGLAKE_SUPERSET_WORKERS:-2}" --worker-class gthread --threads 4 \
    --timeout 120 --limit-request-line 0 --limit-request-field_size 0 "superset.app:create_app()"
