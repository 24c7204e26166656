"""The project's side of orchestration: the step runner Airflow's tasks call, its exit codes, the landing
status a sensor waits on, publishing, and the dbt command line Cosmos runs."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import START
from deltalake.exceptions import CommitFailedError

from gglake import delta
from gglake.catalog import table
from gglake.dbt_runner import DBT_DIR, cli_args
from gglake.lease import LeaseHeld
from gglake.pipeline import is_transient, landing_status, publish
from gglake.settings import Settings
from gglake.task import FAILED, run


def _step(step: str, args: dict, home: Path, tmp_path: Path) -> tuple[int, str, Path]:
    result = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, "-m", "gglake.task", step, json.dumps(args), "--result", str(result)],
        capture_output=True, text=True, env={"GGLAKE_HOME": str(home), "PATH": "/usr/bin:/bin"}, timeout=120,
    )
    return proc.returncode, proc.stderr, result


def test_a_failing_step_exits_65_with_a_one_line_reason(tmp_path):
    code, stderr, result = _step("gate", {"layer": "nope", "day": None, "run_id": "r1"}, tmp_path / "lh", tmp_path)
    assert code == FAILED
    assert stderr.strip().splitlines()[-1].startswith("gglake step gate failed (not retryable): unknown quality gate 'nope'")
    assert not result.exists()


def test_a_step_writes_its_typed_result_as_json(ingested, tmp_path):
    settings, _ = ingested
    day = START.isoformat()
    code, stderr, result = _step("gate", {"layer": "silver", "day": day, "run_id": "r2"}, Path(settings.home), tmp_path)
    assert code == 0, stderr[-2000:]
    outcome = json.loads(result.read_text())
    assert outcome["layer"] == "silver" and outcome["checks"] > 0


class _Unavailable(Exception):
    __module__ = "pyspark.errors.exceptions.connect"


def test_only_transient_errors_are_retryable():
    assert is_transient(LeaseHeld("another ingest holds the lock on feed:calls"))
    assert is_transient(CommitFailedError("a concurrent transaction"))
    assert is_transient(_Unavailable("<_InactiveRpcError: StatusCode.UNAVAILABLE failed to connect to all addresses>"))
    try:
        try:
            raise ConnectionRefusedError("connection refused")
        except ConnectionRefusedError as cause:
            raise RuntimeError("engine step failed") from cause
    except RuntimeError as wrapped:
        assert is_transient(wrapped)  # the cause decides
    assert not is_transient(ValueError("reconciliation failed for bronze.care_calls"))
    assert not is_transient(_Unavailable("[TABLE_OR_VIEW_NOT_FOUND] silver.nope"))


def test_landing_status_names_missing_folders_and_unlanded_files(landing, ingested):
    settings, _ = ingested
    day = datetime.combine(START, datetime.min.time())
    hour = landing_status(settings, str(landing), ["sensors"], day + timedelta(hours=3), day + timedelta(hours=4))
    assert hour.arrived and hour.ingested  # delivered and landed by the `ingested` lakehouse
    fresh = Settings(home=str(Path(settings.home).parent / "empty-lakehouse"))
    pending = landing_status(fresh, str(landing), ["sensors", "calls"], day, day + timedelta(days=1))
    assert pending.arrived and not pending.ingested
    assert all(p.startswith((f"sensors/date={START}/", f"calls/date={START}/")) for p in pending.unrecorded_files)
    later = day + timedelta(days=30)
    missing = landing_status(settings, str(landing), ["sensors", "registry"], later, later + timedelta(hours=2))
    # sensor hours are waited for; the registry delivers only when the cohort changed, so it never counts as missing
    assert missing.missing_folders == (
        f"sensors/date={later.date()}/hour=00/",
        f"sensors/date={later.date()}/hour=01/",
    )


def test_publish_records_each_release_once_per_run(tmp_path):
    settings = Settings(home=str(tmp_path / "lh"))
    with pytest.raises(RuntimeError, match="gold.risk_scores does not exist"):
        publish(settings, "risk", "run-1")
    for name in ("gold.risk_scores", "gold.risk_alerts"):
        delta.ensure_table(settings, table(name))
    first = publish(settings, "risk", "run-1")
    assert first.recorded == 2 and set(first.versions) == {"gold.risk_scores", "gold.risk_alerts"}
    assert publish(settings, "risk", "run-1").recorded == 0  # a rerun of the same run adds nothing
    assert run("publish", {"release": "risk", "run_id": "run-2"}, settings)["recorded"] == 2
    assert delta.read(settings, table("audit.publications")).num_rows == 4


def test_the_dbt_command_line_cosmos_runs_keeps_the_runners_options():
    command, extra, project = cli_args([
        "--no-partial-parse", "build", "--select", "fqn:gglake.marts.dim_districts",
        "--exclude", "config.materialized:view relationships_x", "--project-dir", "/tmp/copy",
        "--profiles-dir", "/elsewhere", "--profile", "other", "--target", "t", "--vars", "{a: 1}",
    ])
    assert command == "build"
    assert project == Path("/tmp/copy")
    assert extra == ["--no-partial-parse", "--select", "fqn:gglake.marts.dim_districts", "--exclude", "relationships_x"]
    assert cli_args(["test", "--exclude", "config.materialized:view"]) == ("test", [], DBT_DIR)
    with pytest.raises(ValueError, match="usage"):
        cli_args(["--debug"])
