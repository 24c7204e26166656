"""Airflow's side of the lakehouse: what the DAG files in dags/ share.

Airflow runs in its own virtual environment (its Flask/SQLAlchemy stack and the project's engine stack
do not co-install cleanly), where this package is installed without the project's dependencies: it
imports only the standard library, `gglake.domain` and Airflow. Every task runs its pipeline step in the
project's environment through `python -m gglake.task` (`run_step`): the step's code is the same one the
CLI and the tests call, its log lines become the task log, and its exit code decides whether Airflow
retries (transient errors only).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TRANSIENT_EXIT = 75  # gglake.task.TRANSIENT
log = logging.getLogger("gglake.orchestration")

# One pool per set of tables one writer at a time may change (a feed's bronze/silver tables, the risk
# tables, the gold marts): runs of the same DAG, backfills and manual runs queue instead of racing.
# The lease each step takes (gglake.lease) still guards against writers outside Airflow.
POOLS: dict[str, str] = {
    **{f"feed_{feed}": f"ingest of the {feed} feed (its bronze and silver tables)" for feed in
       ("registry", "sensors", "calls", "visits", "welfare", "industry")},
    "risk": "features, scores and alerts (features.resident_daily, gold.risk_scores, gold.risk_alerts)",
    "gold_marts": "dbt builds of the gold marts",
}


# SQLite waits this long for a lock before "database is locked" (Airflow's tasks, scheduler and API all
# write the one metadata file); AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS points here.
SQLITE_CONNECT_ARGS = {"timeout": 60}


def project_python() -> str:
    """The project environment's interpreter (GGLAKE_PYTHON, else the checkout's .venv)."""
    return os.environ.get("GGLAKE_PYTHON") or str(PROJECT_ROOT / ".venv" / "bin" / "python")


def landing() -> str:
    """Where the feeds deliver (GGLAKE_LANDING: a folder or an s3:// URL; default the checkout's landing/)."""
    return os.environ.get("GGLAKE_LANDING") or str(PROJECT_ROOT / "landing")


def env_seconds(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def asset(table_name: str):
    """The Airflow asset of a lakehouse table ("silver.care_calls"): DAGs that update it declare it as an
    outlet, DAGs that read it as a schedule or inlet, and the UI draws the graph between them."""
    from airflow.sdk import Asset

    layer, name = table_name.split(".", 1)
    return Asset(name=table_name, uri=f"gglake://lakehouse/{layer}/{name}", group=layer)


def run_step(step: str, **args) -> dict:
    """Run one pipeline step in the project's environment; its output streams into the task log.

    Returns the step's result (pushed to XCom by the task). A transient failure raises AirflowException
    (the task's retries apply); any other failure raises AirflowFailException (no retry: bad data or a
    failed gate fail the same way again).
    """
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    with tempfile.TemporaryDirectory(prefix="gglake-step-") as tmp:
        result_file = Path(tmp) / "result.json"
        command = [project_python(), "-m", "gglake.task", step, json.dumps(args, default=str), "--result", str(result_file)]
        log.info("step %s %s", step, json.dumps(args, default=str))
        last = ""
        with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=PROJECT_ROOT, bufsize=1
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip("\n")
                if line:
                    log.info("%s", line)
                    last = line
            code = proc.wait()
        if code == 0:
            return json.loads(result_file.read_text(encoding="utf-8"))
    if code == TRANSIENT_EXIT:
        raise AirflowException(f"{last} (exit {code}: will retry)")
    raise AirflowFailException(f"{last} (exit {code}; the task log above has the details)")


# ---------------------------------------------------------------------------------------------------
# Alerts an operator reads: one JSON line per failed task or missed deadline
# ---------------------------------------------------------------------------------------------------


def alerts_file() -> Path:
    """GGLAKE_ALERTS_FILE, else <GGLAKE_HOME>/audit/_pipeline_alerts.jsonl (local lakehouse homes)."""
    configured = os.environ.get("GGLAKE_ALERTS_FILE")
    if configured:
        return Path(configured)
    home = os.environ.get("GGLAKE_HOME") or str(PROJECT_ROOT / "lakehouse")
    if "://" in home:
        return PROJECT_ROOT / "var" / "pipeline_alerts.jsonl"
    return Path(home) / "audit" / "_pipeline_alerts.jsonl"


def record_alert(kind: str, **fields) -> dict:
    record = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "kind": kind, **fields}
    path = alerts_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    print(f"gglake alert: {json.dumps(record, ensure_ascii=False, default=str)}", file=sys.stderr)
    return record


def _iso(value) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else value


def on_task_failure(context) -> None:
    """on_failure_callback of every task: the failed task, its run and the reason, as an alert record."""
    ti = context.get("ti") or context.get("task_instance")
    exc = context.get("exception")
    record_alert(
        "task_failed",
        dag_id=getattr(ti, "dag_id", None),
        task_id=getattr(ti, "task_id", None),
        run_id=context.get("run_id"),
        logical_date=_iso(context.get("logical_date")),
        data_interval_start=_iso(context.get("data_interval_start")),
        data_interval_end=_iso(context.get("data_interval_end")),
        try_number=getattr(ti, "try_number", None),
        error=type(exc).__name__ if exc else None,
        message=str(exc).splitlines()[0] if exc and str(exc) else None,
    )


def deadline_missed(context=None, **kwargs) -> None:
    """Deadline alert callback (Airflow runs it when a DAG run has not finished by its deadline)."""
    context = context or {}
    dag_run = context.get("dag_run") or {}
    get = dag_run.get if isinstance(dag_run, dict) else lambda k, d=None: getattr(dag_run, k, d)
    record_alert(
        "deadline_missed",
        dag_id=get("dag_id") or kwargs.get("dag_id"),
        run_id=get("run_id"),
        logical_date=_iso(get("logical_date")),
        deadline=kwargs.get("deadline"),
        message=kwargs.get("message", "the run had not finished by its deadline"),
    )


def default_args(**overrides) -> dict:
    """Every task's defaults: retries with exponential backoff (taken only for transient errors, see
    run_step) and the failure alert."""
    return {
        "owner": "lakehouse",
        "retries": int(env_seconds("GGLAKE_TASK_RETRIES", 3)),
        "retry_delay": timedelta(seconds=env_seconds("GGLAKE_RETRY_DELAY_SECONDS", 30)),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "on_failure_callback": on_task_failure,
        # A run's later tasks go first: started runs finish (and free their pools) before new ones start.
        "weight_rule": "upstream",
        **overrides,
    }


# ---------------------------------------------------------------------------------------------------
# What the DAGs are: one ingest DAG per feed, on the feed's delivery cadence (KST)
# ---------------------------------------------------------------------------------------------------

INGEST_DAGS: dict[str, str] = {
    "registry": "ingest_registry",
    "sensors": "ingest_care_sensors",
    "calls": "ingest_care_calls",
    "visits": "ingest_visit_outcomes",
    "welfare": "ingest_welfare_policies",
    "industry": "ingest_industrial_belt",
}
CRON_OF_CADENCE = {"hourly": "0 * * * *", "daily": "0 0 * * *", "quarterly": "0 0 1 1,4,7,10 *"}
# The feeds a day's care-risk scoring reads: it starts when all their deliveries of the day have landed.
RISK_FEEDS = ("registry", "sensors", "calls", "visits")
TIMEZONE = "Asia/Seoul"


def start_date():
    """The first data interval the DAGs know (older history is loaded with a catch-up ingest)."""
    import pendulum

    return pendulum.datetime(2026, 1, 1, tz=TIMEZONE)


def kst_day(moment) -> str:
    """The KST calendar day (ISO) of an interval bound Airflow gives in UTC."""
    import pendulum

    return pendulum.instance(moment).in_timezone(TIMEZONE).date().isoformat()
