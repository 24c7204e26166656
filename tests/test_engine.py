"""The engine: tables are registered in every new session, and SPARK_REMOTE switches servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import count, make_settings
from ports import free_port

from gglake.engine import spark_session
from gglake.settings import Settings
from spark_jobs.ingest import ingest


def test_a_new_session_sees_every_table_by_name(ingested):
    settings, _ = ingested
    with spark_session(settings) as spark:
        calls = spark.sql("select count(*) as n from silver.care_calls").collect()[0].n
        keyed = (
            spark.sql(
                "select count(*) as n from silver.sensor_readings as s "
                "join restricted.resident_registry as r on r.resident_key = s.resident_key"
            )
            .collect()[0]
            .n
        )
    assert calls == count(settings, "silver.care_calls") > 0
    assert keyed == count(settings, "silver.sensor_readings")


@pytest.fixture
def second_server(tmp_path):
    """Another Spark Connect server, started the way an operator would: Sail's own CLI."""
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    env = {**os.environ, "RUST_LOG": "info"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pysail", "spark", "server", "--ip", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the second Spark Connect server did not start")
    yield f"sc://127.0.0.1:{port}", tmp_path / "server.log"
    proc.terminate()
    proc.wait(timeout=10)


def test_the_same_job_runs_on_the_server_given_by_spark_remote(second_server, landing, tmp_path, monkeypatch):
    remote, server_log = second_server
    monkeypatch.setenv("SPARK_REMOTE", remote)
    monkeypatch.setenv("GGLAKE_HOME", str(tmp_path / "lakehouse"))
    settings = Settings.from_env()
    assert settings.spark_remote == remote
    summary = ingest(settings, str(landing))
    assert all(run.balanced for run in summary.runs)
    assert count(settings, "silver.sensor_readings") > 0
    # the work reached the external server: it logged the sessions the job opened
    assert "creating session" in server_log.read_text()
    # and the result equals the embedded engine's on the same files
    embedded = make_settings(tmp_path / "embedded")
    ingest(embedded, str(landing))
    for name in ("silver.sensor_readings", "silver.care_calls", "silver.companies", "quarantine.sensor_readings"):
        assert count(settings, name) == count(embedded, name), name


def test_settings_paths_are_urls_not_only_local_paths():
    settings = Settings(home="s3://lake/gglake")
    assert settings.path("silver", "care_calls") == "s3://lake/gglake/silver/care_calls"
    local = Settings.from_env()
    assert Path(local.home).is_absolute()
