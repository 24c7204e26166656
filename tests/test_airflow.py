"""Airflow, for real: the DAG files parsed by Airflow 3, and DAG runs on a real deployment (Sail server,
Airflow api-server, scheduler and dag-processor with LocalExecutor) over generated landing data.

Needs `make airflow-install` (Airflow's virtual environment and the dbt manifest); `make test` does it.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable
from ports import free_port, free_port_run

from gglake import delta
from gglake.catalog import GOLD_MARTS, TABLES, table
from gglake.deployment import AIRFLOW_VENV, PROJECT_ROOT, SECRETS, Deployment, run_days
from gglake.domain import FEED_CADENCE, feed_silver_tables
from gglake.orchestration import INGEST_DAGS, POOLS, RISK_FEEDS
from gglake.pipeline import catch_up, ingest_feeds
from gglake.settings import ConfigError, Settings
from sources.generate import generate

EXPECTED_DAGS = {*INGEST_DAGS.values(), "care_risk_daily", "gold_marts", "lakehouse_maintenance"}
# Columns that say when or by which run a row was written: a rerun may change them, never the data.
RUN_COLUMNS = {"_batch_id", "_ingested_at"}


def _deployment(tmp: Path, home: Path, landing: Path, **env: str) -> Deployment:
    sail = free_port()
    return Deployment(
        var=tmp / "var",
        airflow_port=free_port_run(2, taken=(sail,)),  # Airflow's log server takes the next port
        sail_port=sail,
        env_overrides={
            "GGLAKE_HOME": str(home),
            "GGLAKE_LANDING": str(landing),
            "GGLAKE_RETRY_DELAY_SECONDS": "2",
            **env,
        },
    )


def snapshot(settings: Settings, names) -> dict[str, list[dict]]:
    """Each existing table's rows without the columns that record the writing run, sorted."""
    out = {}
    for name in names:
        dt = delta.open_table(settings, table(name))
        if dt is None:
            continue
        frame = pl.from_arrow(delta.to_arrow(dt))
        frame = frame.drop([c for c in frame.columns if c in RUN_COLUMNS])
        out[name] = frame.sort(frame.columns, nulls_last=True).to_dicts()
    return out


def _audit_balanced(settings: Settings) -> list[dict]:
    rows = delta.read(settings, table("audit.ingest_batches")).to_pylist()
    return [
        r for r in rows
        if not r["rows_landed"] == r["rows_bronze"] == r["rows_silver"] + r["rows_quarantined"] + r["duplicates_merged"]
    ]


# ---------------------------------------------------------------------------------------------------
# DAG integrity: every file parsed by Airflow itself
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dag_report(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("airflow-inspect")
    env = Deployment(var=tmp / "var").environment()
    out = tmp / "report.json"
    result = subprocess.run(
        [str(AIRFLOW_VENV / "bin" / "python"), str(Path(__file__).with_name("airflow_inspect.py")), str(PROJECT_ROOT / "dags"),
         str(out)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(out.read_text())


def test_every_dag_file_imports_without_errors_and_parses_in_under_2_s(dag_report):
    files = dag_report["files"]
    assert set(files) == {p.name for p in (PROJECT_ROOT / "dags").glob("*.py")}
    for name, parsed in files.items():
        assert parsed["errors"] == {}, name
        assert parsed["dags"], f"{name} defines no DAG"
        assert parsed["seconds"] < 2.0, f"{name} took {parsed['seconds']:.2f} s to parse"
    assert set(dag_report["dags"]) == EXPECTED_DAGS


def test_schedules_and_data_intervals(dag_report):
    dags = dag_report["dags"]
    crons = {"hourly": "0 * * * *", "daily": "0 0 * * *", "quarterly": "0 0 1 1,4,7,10 *"}
    for feed, dag_id in INGEST_DAGS.items():
        d = dags[dag_id]
        cron = crons[FEED_CADENCE[feed]]
        assert (d["timetable"], d["summary"], d["timezone"]) == ("CronDataIntervalTimetable", cron, "Asia/Seoul")
        assert d["catchup"] is False
    # hourly: the hour after 2026-10-01 10:30 KST is 11:00–12:00 KST
    assert dags["ingest_care_sensors"]["next_interval_after_2026_10_01_1030_kst"]["start"] == "2026-10-01T02:00:00+00:00"
    risk = dags["care_risk_daily"]
    assert risk["timetable"] == "KstPreviousDayTimetable"
    # the data interval is the whole previous KST day, and the run comes at 04:00 KST the day after
    assert risk["next_interval_after_2026_10_01_1030_kst"] == {
        "start": "2026-10-01T15:00:00+00:00",  # 2026-10-02 00:00 KST
        "end": "2026-10-02T15:00:00+00:00",  # 2026-10-03 00:00 KST
        "run_after": "2026-10-02T19:00:00+00:00",  # 2026-10-03 04:00 KST
    }
    assert risk["deadline"] == ["DagRunQueuedAtDeadline"]
    assert dags["gold_marts"]["timetable"] == "AssetTriggeredTimetable"
    assert dags["gold_marts"]["schedule_assets"] == ["gold.risk_alerts"]
    assert dags["lakehouse_maintenance"]["summary"] == "0 2 * * 0"


def test_assets_pools_retries_and_failure_callbacks(dag_report):
    dags = dag_report["dags"]
    for feed, dag_id in INGEST_DAGS.items():
        tasks = dags[dag_id]["tasks"]
        assert tasks["ingest"]["outlets"] == sorted(feed_silver_tables(feed))
        assert tasks["ingest"]["pool"] == f"feed_{feed}"
        assert tasks["ingest"]["upstream"] == ["wait_for_landing"]
        assert tasks["wait_for_landing"]["retries"] == 0  # a timeout is final; a transient error is not
        assert tasks["ingest"]["retries"] > 0
    risk = dags["care_risk_daily"]["tasks"]
    assert risk["wait_for_silver"]["inlets"] == sorted({t for f in RISK_FEEDS for t in feed_silver_tables(f)})
    assert risk["score_and_alert"]["outlets"] == ["gold.risk_alerts", "gold.risk_scores"]
    assert {risk[t]["pool"] for t in ("features", "model", "score_and_alert")} == {"risk"}
    assert risk["publish"]["upstream"] == ["gold_gate"]
    marts = dags["gold_marts"]["tasks"]
    seeds = {p.stem for p in (PROJECT_ROOT / "dbt" / "seeds").glob("*.csv")}
    for mart in GOLD_MARTS:
        kind = "seed" if mart.short_name in seeds else "model"
        assert f"dbt.{mart.short_name}_{kind}_build" in marts, mart.name
    assert any(t.endswith("_test") for t in marts)  # tests spanning marts run as their own tasks
    for name, node in marts.items():  # seeds are rebuilt before any mart reads them
        if name.startswith("dbt.") and not name.endswith("_seed_build"):
            assert "dbt.districts_seed_build" in node["upstream"], name
    assert marts["publish"]["upstream"] == ["gold_gate"]
    assert sorted(marts["publish"]["outlets"]) == sorted(m.name for m in GOLD_MARTS if m.short_name not in seeds)
    assert marts["knowledge"]["upstream"] == ["publish"]
    assert marts["knowledge"]["outlets"] == ["gold.policy_chunks", "gold.policy_documents"]
    used = {t["pool"] for d in dags.values() for t in d["tasks"].values()} - {"default_pool"}
    assert used <= set(POOLS)
    assert all(t["on_failure_callback"] for d in dags.values() for t in d["tasks"].values())


def test_secrets_have_no_defaults_in_prod_and_services_listen_on_loopback(tmp_path, monkeypatch):
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    prod = Deployment(var=tmp_path / "prod", env_overrides={"GGLAKE_ENV": "prod"})
    with pytest.raises(ConfigError, match="GGLAKE_AIRFLOW_ADMIN_PASSWORD"):
        prod.environment()
    dev = Deployment(var=tmp_path / "dev")
    env = dev.environment()
    stored = dev.airflow_home / "secrets.json"
    assert stored.stat().st_mode & 0o077 == 0  # readable by its owner only
    assert dev.environment()["AIRFLOW__CORE__FERNET_KEY"] == env["AIRFLOW__CORE__FERNET_KEY"]  # kept across starts
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1" and env["SPARK_REMOTE"].startswith("sc://127.0.0.1:")
    monkeypatch.setenv("GGLAKE_AIRFLOW_ADMIN_PASSWORD", "from-the-environment")
    assert dev.secrets()["GGLAKE_AIRFLOW_ADMIN_PASSWORD"] == "from-the-environment"


def test_the_metadata_database_is_sqlite_unless_another_is_given(tmp_path, monkeypatch):
    monkeypatch.delenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", raising=False)
    local = Deployment(var=tmp_path / "local").environment()
    assert local["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'local' / 'airflow' / 'airflow.db'}"
    assert local["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"]  # SQLite's busy wait
    postgres = "postgresql+psycopg2://airflow@127.0.0.1:5432/airflow"
    for given in ({"env_overrides": {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres}}, {}):
        if not given:
            monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", postgres)
        env = Deployment(var=tmp_path / "pg", **given).environment()
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == postgres
        assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS" not in env  # SQLite's arguments would break psycopg2


# ---------------------------------------------------------------------------------------------------
# End to end: history caught up, then the last two days through Airflow
# ---------------------------------------------------------------------------------------------------

START = date(2026, 9, 1)
RESIDENTS = 300
HISTORY_DAYS = 42
SEED = 42
FIRST = START + timedelta(days=HISTORY_DAYS)  # the two days Airflow runs
MISSING = FIRST + timedelta(days=2)  # a day whose sensor deliveries have not arrived


@pytest.fixture(scope="module")
def airflow_lakehouse(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("airflow-e2e")
    landing, home = tmp / "landing", tmp / "lakehouse"
    generate(landing, RESIDENTS, HISTORY_DAYS, START, SEED)
    settings = Settings(home=str(home))
    catch_up(settings, str(landing), START, FIRST - timedelta(days=1), score_days_back=1)
    generate(landing, RESIDENTS, 2, FIRST, SEED)  # the two days arrive after the bootstrap
    # Pokes 20 s apart: Airflow 3.3 fails a rescheduled sensor whose next try was queued before the scheduler
    # processed the previous try's end ("task state changed externally"), which a busy 2-core scheduler does
    # when pokes come every few seconds.
    deployment = _deployment(tmp, home, landing, GGLAKE_LANDING_POKE_SECONDS="20", GGLAKE_LANDING_TIMEOUT_SECONDS="45")
    deployment.start(wait_for_dags=EXPECTED_DAGS, scheduler=False)
    try:
        states = run_days(deployment, FIRST, 2, timeout=1800)
        yield deployment, settings, landing, states
    finally:
        deployment.stop()


def _data_tables() -> list[str]:
    return [t.name for t in TABLES if t.layer in ("silver", "features", "quarantine", "gold")]


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the module's deployment starts with the first test: catch-up, then 2 days of DAG runs
def test_two_days_run_through_airflow(airflow_lakehouse):
    deployment, settings, _, states = airflow_lakehouse
    expected = {dag_id: (24 if FEED_CADENCE[f] == "hourly" else 1) * 2 for f, dag_id in INGEST_DAGS.items()
                if FEED_CADENCE[f] != "quarterly"}
    expected |= {"care_risk_daily": 2, "gold_marts": 1}
    assert {d: dict(c) for d, c in states.items()} == {d: {"success": n} for d, n in expected.items()}
    scores = pl.from_arrow(delta.read(settings, table("gold.risk_scores")))
    for day in (FIRST, FIRST + timedelta(days=1)):
        assert scores.filter(pl.col("score_date") == day).height > 0
    assert delta.read(settings, table("gold.risk_alerts")).num_rows > 0
    for mart in GOLD_MARTS:
        assert delta.stats(settings, mart) is not None, mart.name
    assert sum(delta.read(settings, m).num_rows for m in GOLD_MARTS) > 0
    assert _audit_balanced(settings) == []
    published = delta.read(settings, table("audit.publications")).to_pylist()
    assert {r["release"] for r in published} == {"risk", "marts"}
    # The marts' publish task wrote the serving store from the versions it released.
    from gglake import serving

    served = serving.read(serving.default_target(settings), "_publication").to_pylist()[0]
    marts_runs = {r["run_id"] for r in published if r["release"] == "marts"}
    assert served["run_id"] in marts_runs
    assert serving.read(serving.default_target(settings), "care_calls_daily").num_rows > 0
    # ... and its knowledge task built the chatbot's tables and index from them.
    from gglake.knowledge.index import current_manifest, index_dir

    documents = delta.read(settings, table("gold.policy_documents"))
    assert documents.num_rows > 0 and delta.read(settings, table("gold.policy_chunks")).num_rows > 0
    assert current_manifest(index_dir(settings)).documents_version == delta.stats(settings, table("gold.policy_documents"))[1]
    assert Path(deployment.airflow_home, "openlineage", "events.jsonl").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the module's deployment starts with the first test: catch-up, then 2 days of DAG runs
def test_clear_and_rerun_changes_no_table(airflow_lakehouse):
    deployment, settings, _, _ = airflow_lakehouse
    client = deployment.client()
    before = snapshot(settings, _data_tables())
    assert before["silver.sensor_readings"] and before["gold.risk_scores"]
    last = FIRST + timedelta(days=1)
    cleared = {}
    for dag_id in ("ingest_care_calls", "ingest_care_sensors", "care_risk_daily"):
        run = next(r for r in reversed(client.runs(dag_id)) if r["logical_date"] and r["logical_date"][:10] <= last.isoformat())
        client.clear(dag_id, run["dag_run_id"])
        cleared[dag_id] = run["dag_run_id"]
    deadline = time.monotonic() + 600
    while True:
        states = {d: next(r["state"] for r in client.runs(d) if r["dag_run_id"] == run_id) for d, run_id in cleared.items()}
        if all(s in ("success", "failed") for s in states.values()):
            break
        assert time.monotonic() < deadline, states
        time.sleep(3)
    assert set(states.values()) == {"success"}, states
    assert snapshot(settings, _data_tables()) == before


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the module's deployment starts with the first test: catch-up, then 2 days of DAG runs
def test_planted_critical_failure_fails_the_gate_and_blocks_downstream(airflow_lakehouse):
    deployment, settings, _, _ = airflow_lakehouse
    client = deployment.client()
    calls = table("silver.care_calls")
    dt = delta.open_table(settings, calls)
    version = dt.version()
    duplicate = delta.to_arrow(dt).slice(0, 1)  # the same call_id twice: keys are no longer unique
    delta.append(settings, calls, duplicate)
    try:
        run = client.trigger("gold_marts")["dag_run_id"]
        runs = client._wait(lambda: ({"gold_marts": [r for r in client.runs("gold_marts") if r["dag_run_id"] == run]}, True), 600)
        assert runs["gold_marts"][0]["state"] == "failed"
        tasks = {t["task_id"]: t for t in client.tasks("gold_marts", run)}
        assert tasks["silver_gate"]["state"] == "failed"
        assert tasks["silver_gate"]["try_number"] == 1  # a data error is not retried
        downstream = [t for t in tasks if t != "silver_gate"]
        assert {tasks[t]["state"] for t in downstream} == {"upstream_failed"}
        log = client.log("gold_marts", run, "silver_gate", 1)
        assert "silver.care_calls: keys_unique (unexpected_rows_expectation)" in log, log[-3000:]
        alerts = [json.loads(line) for line in Path(settings.home, "audit", "_pipeline_alerts.jsonl").read_text().splitlines()]
        assert any(a["dag_id"] == "gold_marts" and a["task_id"] == "silver_gate" and a["run_id"] == run for a in alerts)
    finally:
        DeltaTable(delta.location(settings, calls)).restore(version)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the module's deployment starts with the first test: catch-up, then 2 days of DAG runs
def test_missing_sensor_folder_waits_times_out_then_succeeds_when_it_arrives(airflow_lakehouse):
    deployment, settings, landing, _ = airflow_lakehouse
    client = deployment.client()
    folder = f"sensors/date={MISSING.isoformat()}/hour=03/"
    assert not (landing / folder).exists()

    def finished(run_id: str) -> dict:
        return client._wait(
            lambda: ({"s": [r for r in client.runs("ingest_care_sensors") if r["dag_run_id"] == run_id]}, True), 300
        )["s"][0]

    def hour(h: int) -> tuple[str, str]:
        return f"{MISSING.isoformat()}T{h:02d}:00:00+09:00", f"{MISSING.isoformat()}T{h + 1:02d}:00:00+09:00"

    first = client.trigger("ingest_care_sensors", interval=hour(3))["dag_run_id"]
    assert finished(first)["state"] == "failed"
    sensor = next(t for t in client.tasks("ingest_care_sensors", first) if t["task_id"] == "wait_for_landing")
    log = client.log("ingest_care_sensors", first, "wait_for_landing", sensor["try_number"])
    assert f"landing not arrived yet: {folder}" in log
    assert "timed out" in log.lower() or "timeout" in log.lower()

    second = client.trigger("ingest_care_sensors", interval=hour(4))["dag_run_id"]
    deadline = time.monotonic() + 120
    while not any(t["task_id"] == "wait_for_landing" and t["state"] == "up_for_reschedule"
                  for t in client.tasks("ingest_care_sensors", second)):
        assert time.monotonic() < deadline, client.tasks("ingest_care_sensors", second)
        time.sleep(1)
    generate(landing, RESIDENTS, 1, MISSING, SEED)  # the delivery arrives while the run waits
    assert finished(second)["state"] == "success"
    assert {t["task_id"]: t["state"] for t in client.tasks("ingest_care_sensors", second)} == {
        "wait_for_landing": "success", "ingest": "success"
    }


# ---------------------------------------------------------------------------------------------------
# A backfill of three days in one command equals the three runs one by one
# ---------------------------------------------------------------------------------------------------

BACKFILL_DAGS = ("ingest_care_calls", "ingest_welfare_policies")
BACKFILL_START = date(2026, 11, 1)


def _three_day_lakehouse(tmp: Path) -> tuple[Path, Settings]:
    landing = tmp / "landing"
    generate(landing, 40, 3, BACKFILL_START, 7)
    settings = Settings(home=str(tmp / "lakehouse"))
    ingest_feeds(settings, str(landing), "registry-bootstrap", feeds=["registry"])  # the residents every feed refers to
    return landing, settings


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the module's deployment starts with the first test: catch-up, then 2 days of DAG runs
def test_backfill_of_three_days_equals_one_by_one(tmp_path):
    days = [BACKFILL_START + timedelta(days=i) for i in range(3)]
    tables = sorted({t for dag in BACKFILL_DAGS for f, d in INGEST_DAGS.items() if d == dag for t in feed_silver_tables(f)}
                    | {t.name for t in TABLES if t.layer == "quarantine"})

    landing, together = _three_day_lakehouse(tmp_path / "backfill")
    deployment = _deployment(tmp_path / "backfill", Path(together.home), landing)
    deployment.start(wait_for_dags=BACKFILL_DAGS, scheduler=False)
    try:
        for dag_id in BACKFILL_DAGS:  # one backfill request (the REST API's `backfill create`) per DAG for the three days
            # (the CLI writes SQLite directly and fails outright when the dag-processor holds the lock; the client retries)
            deployment.client().backfill(dag_id, f"{days[0]}T00:00:00+09:00", f"{days[-1]}T00:00:00+09:00")
        deployment.start()
        window = (f"{days[0]}T00:00:00+09:00", f"{days[-1]}T00:00:00+09:00")
        runs = deployment.client().wait_window({d: window for d in BACKFILL_DAGS}, 900)
    finally:
        deployment.stop()
    assert {d: [r["state"] for r in rs] for d, rs in runs.items()} == {d: ["success"] * 3 for d in BACKFILL_DAGS}

    landing, apart = _three_day_lakehouse(tmp_path / "one-by-one")
    deployment = _deployment(tmp_path / "one-by-one", Path(apart.home), landing)
    deployment.start(wait_for_dags=BACKFILL_DAGS)
    try:
        client = deployment.client()
        for day in days:
            moment = f"{day}T00:00:00+09:00"
            for dag_id in BACKFILL_DAGS:
                client.trigger(dag_id, interval=(moment, f"{day + timedelta(days=1)}T00:00:00+09:00"))
            ran = client.wait_window({d: (moment, moment) for d in BACKFILL_DAGS}, 600)
            assert all(rs[0]["state"] == "success" for rs in ran.values()), ran
    finally:
        deployment.stop()

    assert snapshot(together, tables) == snapshot(apart, tables)
    assert snapshot(together, tables)["silver.care_calls"]
