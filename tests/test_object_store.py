"""Compare-and-swap commits on real object storage: concurrent processes against SeaweedFS's S3 API.

Leases, `delta.insert_new` and the key fingerprint rely on a Delta commit landing on exactly the version it
was decided on. On S3 that holds only if the store refuses a second `_delta_log/N.json` (the PUT carries
`If-None-Match: *`, see `settings._object_store_options`). Each test starts real processes on one
`s3://` lakehouse, configured from the environment as a deployment would be (`Settings.from_env`), lets
them race through a barrier, and checks the outcome: no two lease holders at once, no key inserted twice,
no commit overwritten by another, one key fingerprint.

SeaweedFS (`gglake.object_store`, the `s3` fixture) runs on free loopback ports for the module and is
stopped by its PID. Only the worker processes talk S3 through delta-rs; this process only creates the bucket.
Against a store that ignores `If-None-Match` (a proxy stripping it) each race failed in most runs tried.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

from gglake.settings import _object_store_options

pytestmark = pytest.mark.slow  # a real S3 server and racing processes: runs in CI, `-m "not slow"` skips locally

BUCKET = "lake"  # the `s3` fixture's bucket (conftest.py)
PROCS = 6

# Runs in each worker: configured from the environment, waits at a file barrier so all race together,
# prints one JSON line with what it saw.
WORKER = r"""
import dataclasses, json, os, sys, time
from pathlib import Path
import pyarrow as pa
from gglake import delta, lease, pseudonym
from gglake.catalog import table
from gglake.settings import ConfigError, Settings

mode, barrier, index, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
settings = Settings.from_env()
manifest = table("audit.ingest_manifest")

def manifest_rows(paths):
    schema = manifest.arrow_schema()
    return pa.table(
        {f.name: pa.array(paths, f.type) if f.name == "path" else pa.array(["s"] * len(paths), f.type)
         if f.name == "sha256" else pa.nulls(len(paths), f.type) for f in schema}, schema=schema)

def together(name):  # wait until every worker got here
    (barrier / f"{name}.{index}").touch()
    deadline = time.monotonic() + 120
    while sum(1 for p in barrier.iterdir() if p.name.startswith(f"{name}.")) < count:
        assert time.monotonic() < deadline, f"barrier {name}: not every worker got there"
        time.sleep(0.005)

if index == 0 and mode == "insert":  # created before the race, which is about the merges
    delta.ensure_table(settings, manifest)
together("start")

out = {"options": settings.storage_options}
if mode == "lease":
    out["holds"] = []
    for k in range(int(sys.argv[5])):
        run_id = f"worker-{index}-{k}"
        with lease.hold(settings, ["feed:x"], run_id, "test", wait_seconds=120):
            began = time.time()
            rows = delta.read(settings, table("audit.leases")).to_pylist()
            time.sleep(0.2)
            held = [[r["resource"], r["run_id"]] for r in rows]
            out["holds"].append({"run_id": run_id, "began": began, "ended": time.time(), "rows": held})
elif mode == "insert":
    paths = [f"file-{(index * 4 + i) % 24:02d}" for i in range(12)]  # windows of 12 out of 24, overlapping
    out["paths"], out["inserted"] = paths, delta.insert_new(settings, manifest, manifest_rows(paths))
elif mode == "verify_key":  # a first run on each of several lakehouses, every worker with its own key
    key = f"worker-{index}-racing-pseudonym-key-0123456789abcdefghij".encode()
    out["mine"], out["rounds"] = pseudonym.fingerprint(key), []
    for k in range(int(sys.argv[5])):
        lakehouse = dataclasses.replace(settings, home=f"{settings.home}/round-{k}")
        if index == 0:
            delta.ensure_table(lakehouse, pseudonym.KEYS)
        together(f"round-{k}")
        try:
            out["rounds"].append({"fingerprint": pseudonym.verify_key(lakehouse, key)})
        except ConfigError as exc:
            out["rounds"].append({"refused": str(exc)})
elif mode == "writes":  # ordinary writes on a partitioned table and a keyed one
    bronze = table("bronze.welfare_national")
    def batch(day, lines):
        from datetime import date, datetime
        schema = bronze.arrow_schema()
        n = len(lines)
        cols = {f.name: pa.nulls(n, f.type) for f in schema}
        cols["payload"] = pa.array([f"p{i}" for i in lines], pa.string())
        cols["_line"] = pa.array(lines, pa.int64())
        cols["_ingest_date"] = pa.array([date(2026, 11, day)] * n, pa.date32())
        cols["_ingested_at"] = pa.array([datetime(2026, 11, day)] * n, schema.field("_ingested_at").type)
        return pa.table(cols, schema=schema)
    delta.ensure_table(settings, bronze)  # create
    delta.append(settings, bronze, batch(1, [1, 2, 3]))
    delta.append(settings, bronze, batch(2, [1, 2]))
    delta.replace_where(settings, bronze, batch(2, [7]), "_ingest_date = '2026-11-02'")  # overwrite with predicate
    first = delta.insert_new(settings, manifest, manifest_rows(["a", "b"]))  # merge
    second = delta.insert_new(settings, manifest, manifest_rows(["b", "c"]))
    dt = delta.open_table(settings, bronze)
    dt.create_checkpoint()
    out["bronze"] = sorted((str(r["_ingest_date"]), r["_line"]) for r in delta.read(settings, bronze).to_pylist())
    out["bronze_partitions"] = sorted({str(p["_ingest_date"]) for p in dt.partitions()})
    out["manifest"] = sorted(r["path"] for r in delta.read(settings, manifest).to_pylist())
    out["inserted"] = [first, second]
    out["stats"] = delta.stats(settings, bronze)
elif mode == "keys":
    out["keys"] = [
        [(r["fingerprint"], r["retired_at"]) for r in delta.read(lakehouse, pseudonym.KEYS).to_pylist()]
        for lakehouse in (dataclasses.replace(settings, home=f"{settings.home}/round-{k}") for k in range(int(sys.argv[5])))
    ]
elif mode == "read":
    out["manifest"] = [r["path"] for r in delta.read(settings, manifest, columns=["path"]).to_pylist()]
for name in ("audit.leases", "audit.ingest_manifest", "audit.pseudonym_keys"):  # each table's commits so far
    dt = delta.open_table(settings, table(name))
    out.setdefault("commits", {})[name] = None if dt is None else [c["operation"] for c in dt.history()]
print(json.dumps(out, default=str), flush=True)
"""


def _race(s3: dict, tmp_path: Path, mode: str, *args: str, procs: int = PROCS, home: str | None = None) -> list[dict]:
    """Run `procs` workers in `mode` on one s3:// lakehouse (default: a fresh one), all released together;
    their reports."""
    barrier = tmp_path / f"barrier-{mode}"
    barrier.mkdir()
    home = home or f"s3://{BUCKET}/{mode}-{uuid.uuid4().hex[:8]}"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DELTA_", "GGLAKE_"))}
    env = {**inherited, **s3, "GGLAKE_HOME": home, "GGLAKE_ENV": "test"}
    logs = [(tmp_path / f"{mode}-{i}.out", tmp_path / f"{mode}-{i}.err") for i in range(procs)]
    workers = []
    for i, (out, err) in enumerate(logs):
        with out.open("w") as stdout, err.open("w") as stderr:
            command = [sys.executable, "-c", WORKER, mode, str(barrier), str(i), str(procs), *args]
            workers.append(subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr, text=True))
    reports = []
    for worker, (out, err) in zip(workers, logs, strict=True):
        code = worker.wait(timeout=240)
        lines = [line for line in out.read_text().splitlines() if line.startswith("{")]
        assert code == 0 and lines, f"worker exited {code}:\n{out.read_text()}\n{err.read_text()[-4000:]}"
        reports.append({**json.loads(lines[-1]), "home": home})
    for report in reports:  # what `Settings.from_env` gave delta-rs: conditional put, not the unsafe rename
        assert report["options"].get("AWS_CONDITIONAL_PUT") == "etag", report["options"]
        assert "AWS_S3_ALLOW_UNSAFE_RENAME" not in report["options"], report["options"]
    return reports


def test_object_store_options_default_to_conditional_put_and_keep_an_explicit_choice(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("AWS_", "DELTA_DYNAMO")):
            monkeypatch.delenv(name)
    assert _object_store_options() == {}  # a local home: nothing to configure
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    assert _object_store_options() == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ACCESS_KEY_ID": "key",
        "AWS_CONDITIONAL_PUT": "etag",
    }
    for name, value in [
        ("AWS_CONDITIONAL_PUT", "dynamo:delta_commits"),
        ("AWS_S3_LOCKING_PROVIDER", "dynamodb"),
        ("AWS_COPY_IF_NOT_EXISTS", "header: cf-copy-destination-if-none-match: *"),
        ("AWS_S3_ALLOW_UNSAFE_RENAME", "true"),
    ]:
        with monkeypatch.context() as m:
            m.setenv(name, value)
            options = _object_store_options()
            assert options[name] == value
            assert set(options) == {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", name}, options


def test_ordinary_delta_writes_work_with_conditional_put(s3, tmp_path):
    (report,) = _race(s3, tmp_path, "writes", procs=1)
    assert report["bronze"] == [["2026-11-01", 1], ["2026-11-01", 2], ["2026-11-01", 3], ["2026-11-02", 7]]
    assert report["bronze_partitions"] == ["2026-11-01", "2026-11-02"]
    assert report["stats"] == [4, 3]  # rows; versions: create, two appends, replace_where
    assert report["manifest"] == ["a", "b", "c"] and report["inserted"] == [2, 1]


def test_concurrent_lease_holders_on_s3_never_overlap(s3, tmp_path):
    rounds = 2
    reports = _race(s3, tmp_path, "lease", str(rounds))
    holds = sorted((h for r in reports for h in r["holds"]), key=lambda h: h["began"])
    assert len(holds) == PROCS * rounds  # every worker got the lease, each time (waiting for it)
    for before, after in zip(holds, holds[1:], strict=False):
        assert before["ended"] < after["began"], (before, after)
    for hold in holds:  # while held, the lease table lists exactly this holder on the resource
        assert hold["rows"] == [["feed:x", hold["run_id"]]], hold
    # every acquire and release is its own commit in the log: none was overwritten by a concurrent one.
    # (Workers that found no table each create it: that can add more than one CREATE TABLE commit.)
    commits = max((r["commits"]["audit.leases"] for r in reports), key=len)
    assert Counter(commits)["WRITE"] == 2 * len(holds), Counter(commits)


def test_concurrent_insert_new_on_s3_never_duplicates_a_key(s3, tmp_path):
    reports = _race(s3, tmp_path, "insert")
    wanted = {p for r in reports for p in r["paths"]}
    (after,) = _race(s3, tmp_path, "read", procs=1, home=reports[0]["home"])
    counts = Counter(after["manifest"])
    assert set(counts) == wanted
    assert max(counts.values()) == 1, [k for k, n in counts.items() if n > 1]
    # each key was reported inserted by exactly one worker: no worker's commit was overwritten by another's
    assert sum(r["inserted"] for r in reports) == len(wanted)


def test_concurrent_first_verify_key_records_one_fingerprint(s3, tmp_path):
    rounds = 4  # fresh lakehouses raced one after the other: one contested commit each
    reports = _race(s3, tmp_path, "verify_key", str(rounds))  # every worker has its own key
    (after,) = _race(s3, tmp_path, "keys", str(rounds), procs=1, home=reports[0]["home"])
    for k in range(rounds):
        winners = [r["mine"] for r in reports if "fingerprint" in r["rounds"][k]]
        assert len(winners) == 1, [r["rounds"][k] for r in reports]  # exactly one key became current
        for r in reports:
            assert r["mine"] in winners or "refusing to mix pseudonyms" in r["rounds"][k]["refused"], r["rounds"][k]
        assert after["keys"][k] == [[winners[0], None]]
