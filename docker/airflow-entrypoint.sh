#!/bin/sh
# The Airflow containers. `init` (the one-shot airflow-init service) migrates the metadata database and
# imports the pipeline's pools (gglake.orchestration.POOLS), as gglake.deployment's setup() does locally;
# anything else runs `airflow "$@"`. With GGLAKE_AIRFLOW_ADMIN_PASSWORD set (the API server only), the
# simple auth manager's password file is written first (0600), never kept in the image.
set -eu

home="${AIRFLOW_HOME:-/opt/airflow}"
mkdir -p "$home/logs" "$home/openlineage" "$home/cosmos"

if [ -n "${GGLAKE_AIRFLOW_ADMIN_PASSWORD:-}" ]; then
    (
        umask 077
        python3 -c 'import json, os, sys; json.dump({"admin": os.environ["GGLAKE_AIRFLOW_ADMIN_PASSWORD"]}, sys.stdout)' \
            > "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-$home/passwords.json}"
    )
fi

if [ "${1:-}" = "init" ]; then
    airflow db migrate
    python3 - "$home/pools.json" <<'PY'
import json, sys

from gglake.orchestration import POOLS

pools = {name: {"slots": 1, "description": text, "include_deferred": False} for name, text in POOLS.items()}
with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump(pools, out, indent=1)
PY
    airflow pools import "$home/pools.json"
    exit 0
fi

exec airflow "$@"
