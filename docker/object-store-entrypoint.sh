#!/bin/sh
# The object-store container: writes SeaweedFS's S3 identity from GGLAKE_S3_ACCESS_KEY / GGLAKE_S3_SECRET_KEY
# (0600, never on a command line), starts `weed "$@"` (compose.yaml gives `server ...`), creates the bucket
# (GGLAKE_S3_BUCKET, default lake) and then touches the ready file the healthcheck tests.
set -eu

: "${GGLAKE_S3_ACCESS_KEY:?set GGLAKE_S3_ACCESS_KEY (the S3 access key id)}"
: "${GGLAKE_S3_SECRET_KEY:?set GGLAKE_S3_SECRET_KEY (the S3 secret key)}"
identities="${SEAWEEDFS_IDENTITIES:-/etc/seaweedfs/identities.json}"
ready="${SEAWEEDFS_READY_FILE:-/tmp/gglake-ready}"
master="${SEAWEEDFS_MASTER:-127.0.0.1:9333}"
bucket="${GGLAKE_S3_BUCKET:-lake}"

umask 077
mkdir -p "$(dirname "$identities")"
python3 - "$identities" <<'PY'
import json, os, sys

identity = {"name": "admin", "actions": ["Admin"],
            "credentials": [{"accessKey": os.environ["GGLAKE_S3_ACCESS_KEY"], "secretKey": os.environ["GGLAKE_S3_SECRET_KEY"]}]}
with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump({"identities": [identity]}, out)
PY
rm -f "$ready"

weed "$@" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null' TERM INT

# The bucket, once the cluster answers: `s3.bucket.create` says "created bucket" or "already exists".
tries=0
until echo "s3.bucket.create -name $bucket" | timeout 20 weed shell -master="$master" 2>&1 \
        | grep -Eq "created bucket|already exists"; do
    tries=$((tries + 1))
    if [ "$tries" -gt 60 ] || ! kill -0 "$server" 2>/dev/null; then
        echo "object-store: SeaweedFS did not come up, or bucket $bucket could not be created" >&2
        kill -TERM "$server" 2>/dev/null || true
        exit 1
    fi
    sleep 2
done
touch "$ready"
echo "object-store: bucket $bucket ready"

# Wait for the server (again after a TERM interrupts the first wait), and exit with its status.
status=0
wait "$server" || status=$?
while kill -0 "$server" 2>/dev/null; do
    wait "$server" || status=$?
done
exit "$status"
