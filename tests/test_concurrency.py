"""Runs at the same time: ingests on the same and on different feeds, a refused run, a killed lease holder.

Each run is a real `gglake ingest` process with its own embedded engine, all on one lakehouse; the
outcome must equal one clean ingest of the same landing folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import make_settings, read_rows

from gglake import lease
from gglake.catalog import BRONZE, QUARANTINE, RESTRICTED, SILVER
from gglake.domain import FEEDS
from spark_jobs.ingest import feed_sources, ingest
from spark_jobs.landing import SOURCES

pytestmark = pytest.mark.slow  # many engine processes at once: runs in CI; `pytest -m "not slow"` skips locally

GGLAKE = str(Path(sys.executable).with_name("gglake"))
RUN_LINEAGE = {"_batch_id", "_ingested_at", "_ingest_date"}  # differ between runs by design


def _contents(settings, name: str) -> list[tuple]:
    rows = read_rows(settings, name)
    return sorted((tuple((k, v) for k, v in sorted(r.items()) if k not in RUN_LINEAGE) for r in rows), key=repr)


def _cli(home: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [GGLAKE, "ingest", *args],
        env={**os.environ, "GGLAKE_HOME": str(home), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_every_landing_source_belongs_to_exactly_one_feed():
    assert sorted(n for names in FEEDS.values() for n in names) == sorted(s.name for s in SOURCES)
    assert [s.name for s in feed_sources(["welfare"])] == ["welfare_national", "welfare_provincial", "search_ranking"]
    with pytest.raises(ValueError, match="unknown feed nope"):
        feed_sources(["nope"])


@pytest.fixture(scope="module")
def clean(landing, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("clean-once"))
    ingest(settings, str(landing))
    return settings


def test_concurrent_ingests_on_same_and_different_feeds_equal_one_clean_ingest(landing, clean, tmp_path):
    home = tmp_path / "lake"
    settings = make_settings(home)
    first = _cli(home, "--landing", str(landing), "--feed", "registry")  # other feeds look residents up in it
    assert first.wait(timeout=300) == 0, first.stdout.read()
    runs = [
        _cli(home, "--landing", str(landing), "--wait", "600"),  # every feed, twice
        _cli(home, "--landing", str(landing), "--wait", "600"),
        *(
            _cli(home, "--landing", str(landing), "--feed", feed, "--wait", "600")
            for feed in ("sensors", "calls", "visits", "welfare", "industry", "sensors")
        ),
    ]
    outputs = [(run.wait(timeout=900), run.stdout.read()) for run in runs]
    for code, output in outputs:
        assert code == 0, output
        assert "Traceback" not in output, output

    for t in SILVER + RESTRICTED + QUARANTINE:
        assert _contents(settings, t.name) == _contents(clean, t.name), t.name
    for t in BRONZE:
        assert _contents(settings, t.name) == _contents(clean, t.name), t.name
    manifest = read_rows(settings, "audit.ingest_manifest")
    pairs = Counter((r["path"], r["sha256"]) for r in manifest)
    assert max(pairs.values()) == 1, [p for p, n in pairs.items() if n > 1][:3]
    assert set(pairs) == {(r["path"], r["sha256"]) for r in read_rows(clean, "audit.ingest_manifest")}
    audit = read_rows(settings, "audit.ingest_batches")
    assert Counter((r["_batch_id"], r["bronze_table"]) for r in audit).most_common(1)[0][1] == 1
    landed = Counter()
    for r in audit:
        assert r["rows_landed"] == r["rows_bronze"] == r["rows_silver"] + r["rows_quarantined"] + r["duplicates_merged"], r
        landed[r["bronze_table"]] += r["rows_bronze"]
    assert landed == Counter({t.name: len(read_rows(settings, t.name, ["_line"])) for t in BRONZE})
    assert read_rows(settings, "audit.leases") == []  # every run released its lease


def test_a_run_on_a_held_feed_is_refused_with_one_line(landing, tmp_path):
    home = tmp_path / "lake"
    settings = make_settings(home)
    with lease.hold(settings, ["feed:calls"], "run-holding-calls", "ingest"):
        refused = _cli(home, "--landing", str(landing), "--feed", "calls")
        code, output = refused.wait(timeout=120), refused.stdout.read()
        other = _cli(home, "--landing", str(landing), "--feed", "industry")  # a different feed goes ahead
        assert other.wait(timeout=300) == 0, other.stdout.read()
    assert code == 1
    assert "Traceback" not in output
    (line,) = output.strip().splitlines()
    assert "another ingest holds the lock on feed:calls since" in line and "run id run-holding-calls" in line
    assert read_rows(settings, "audit.ingest_manifest", ["source"]) and {
        r["source"] for r in read_rows(settings, "audit.ingest_manifest", ["source"])
    } == {"industry"}


HOLD_THEN_WAIT = """
import sys, time
from gglake import lease
from gglake.settings import Settings
with lease.hold(Settings(home=sys.argv[1]), ["feed:visits"], "run-that-gets-killed", "ingest"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_killed_runs_lease_lapses_and_the_next_run_proceeds(landing, tmp_path):
    home = tmp_path / "lake"
    settings = make_settings(home)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THEN_WAIT, str(home)],
        env={**os.environ, "GGLAKE_LEASE_TTL_SECONDS": "3"},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    time.sleep(4)  # heartbeats keep a live holder's lease past its time to live
    with pytest.raises(lease.LeaseHeld, match="run-that-gets-killed"):
        ingest(settings, str(landing), feeds=["visits"])
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    began = time.monotonic()
    summary = ingest(settings, str(landing), feeds=["visits"], wait_seconds=30)
    assert time.monotonic() - began < 10  # the lapsed lease (3 s) let it in
    assert summary.runs and all(r.balanced for r in summary.runs)
    assert [r["run_id"] for r in read_rows(settings, "audit.leases")] == []
