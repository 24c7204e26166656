"""The scale-out profile, end to end: Apache Spark 4 standalone (master + 2 workers) with a Delta Connect
server, the lakehouse on a real S3 API (SeaweedFS), the landing read from an s3:// prefix.

The same `gglake pipeline` (ingest → gates → features → model → scores → dbt → gold gate) runs once on the
embedded Sail engine with a local home and once on the cluster with an s3:// home, on the same landing
files; every silver, quarantine, features and gold table must hold the same rows (lineage columns that name
a batch, a run or a landing path excluded). Then the work is shown to have run on both workers, a worker
is killed in the middle of a silver refine, and one more day runs through Airflow's DAG chain with its
metadata in PostgreSQL (LocalExecutor), every task's step on the cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import date
from pathlib import Path

import psycopg
import pyarrow.fs as pafs
import pytest
from ports import free_port_run, free_ports
from postgres_server import postgres_server

from gglake import delta
from gglake.catalog import TABLES
from gglake.catalog import table as catalog_table
from gglake.deployment import Deployment, run_days
from gglake.domain import FEED_CADENCE
from gglake.knowledge.index import current_manifest
from gglake.orchestration import INGEST_DAGS
from gglake.settings import ConfigError, Settings
from gglake.spark_cluster import SparkCluster
from sources.generate import generate

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]  # a Spark cluster, S3, two pipeline runs and an Airflow day

RESIDENTS, DAYS, START = 150, 36, date(2026, 9, 1)  # the fewest days and residents the model trains on
LINEAGE = ("_source_file", "_batch_id", "_ingested_at", "run_id")  # name a batch, a run or a landing location
COMPARED = [t for t in TABLES if t.layer in ("silver", "quarantine", "features", "gold")]
GGLAKE = str(Path(sys.executable).parent / "gglake")


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scale-landing")
    generate(out, RESIDENTS, DAYS, START, 42, defect_rate=0.01)
    return out


@pytest.fixture(scope="module")
def cluster(s3, tmp_path_factory):
    master, connect, driver_ui = free_ports(3)
    master_ui = free_port_run(3, taken=(master, connect, driver_ui))  # the workers' UIs sit after the master's
    cluster = SparkCluster(var=tmp_path_factory.mktemp("spark-var"), workers=2, master_port=master,
                           master_ui_port=master_ui, connect_port=connect, driver_ui_port=driver_ui,
                           env_overrides=s3)  # fmt: skip
    try:
        cluster.jars()
    except ConfigError as exc:  # `make test` fetches them first; in CI a missing jar fails, never skips
        (pytest.fail if os.environ.get("CI") else pytest.skip)(str(exc))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def _pipeline(env: dict[str, str], landing: str, log: Path) -> None:
    command = [GGLAKE, "-v", "pipeline", "--landing", landing, "--start", START.isoformat(), "--days", str(DAYS),
               "--score-days", "1"]  # fmt: skip
    with log.open("w") as out:
        code = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=1800).returncode
    assert code == 0, f"pipeline failed ({code}):\n{log.read_text()[-5000:]}"


def _base_env() -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GGLAKE_", "SPARK_REMOTE"))}
    return {**kept, "GGLAKE_ENV": "test"}


def _upload(s3: dict[str, str], local: Path, prefix: str) -> None:
    fs = pafs.S3FileSystem(access_key=s3["AWS_ACCESS_KEY_ID"], secret_key=s3["AWS_SECRET_ACCESS_KEY"],
                           region=s3["AWS_REGION"], endpoint_override=s3["AWS_ENDPOINT_URL"].split("//")[1],
                           scheme="http")  # fmt: skip
    pafs.copy_files(str(local), prefix, destination_filesystem=fs)


@pytest.fixture(scope="module")
def runs(landing, s3, cluster, tmp_path_factory):
    """(Sail settings, Spark settings): the pipeline run on each profile over the same landing files."""
    logs = tmp_path_factory.mktemp("scale-logs")
    sail_home = tmp_path_factory.mktemp("sail-home")
    _pipeline({**_base_env(), "GGLAKE_HOME": str(sail_home)}, str(landing), logs / "sail.log")
    _upload(s3, landing, "lake/landing")
    spark_env = {**_base_env(), **s3, "GGLAKE_HOME": "s3://lake/gglake", "SPARK_REMOTE": cluster.remote}
    _pipeline(spark_env, "s3://lake/landing", logs / "spark.log")
    spark_settings = Settings(home="s3://lake/gglake", env="test", storage_options={**s3, "AWS_CONDITIONAL_PUT": "etag"})
    return Settings(home=str(sail_home), env="test"), spark_settings, logs


def _rows(settings: Settings, name: str) -> list[tuple]:
    table = catalog_table(name)
    dt = delta.open_table(settings, table)
    if dt is None:
        return []
    columns = [c for c in table.column_names if c not in LINEAGE]
    data = delta.to_arrow(dt, columns=columns).to_pylist()
    return sorted(tuple(repr(_comparable(row[c])) for c in columns) for row in data)


def _comparable(value):
    """Floats to 9 decimals: feature means summed in another row order differ in the last bit."""
    return round(value, 9) if isinstance(value, float) else value


def test_the_pipeline_on_the_spark_cluster_and_s3_equals_the_embedded_run(runs):
    sail, spark, _ = runs
    assert spark.home.startswith("s3://") and delta.open_table(spark, COMPARED[0]) is not None
    differing = {}
    for table in COMPARED:
        left, right = _rows(sail, table.name), _rows(spark, table.name)
        if left != right:
            differing[table.name] = (len(left), len(right), sorted(set(left) ^ set(right))[:3])
    assert not differing, differing
    assert len(_rows(spark, "silver.sensor_readings")) > 100_000 and _rows(spark, "gold.risk_scores")


def test_the_work_ran_on_both_workers(runs, cluster):
    tasks = cluster.tasks_per_worker()
    alive = [w["id"] for w in cluster.master_state()["workers"] if w["state"] == "ALIVE"]
    assert len(alive) == 2, cluster.master_state()["workers"]
    assert all(tasks[w] > 100 for w in alive), tasks  # thousands each on the full pipeline
    app = cluster.master_state()["activeapps"]
    assert [a["name"] for a in app] == ["gglake-connect"] and app[0]["cores"] == 2


def _running_jobs(cluster: SparkCluster) -> int:
    url = f"http://127.0.0.1:{cluster.driver_ui_port}/api/v1/applications/{cluster.application_id()}/jobs?status=running"
    with urllib.request.urlopen(url, timeout=10) as reply:
        return len(json.load(reply))


def test_killing_a_worker_during_a_silver_refine_converges_without_duplicates(runs, landing, s3, cluster, tmp_path):
    """A new day arrives; one worker (and its executor) is SIGKILLed once the refine's Spark jobs run. The
    ingest either finishes on the surviving worker (Spark reruns the lost tasks) or fails cleanly; a rerun
    then converges and every silver table equals the embedded engine's over the same files."""
    sail, spark, logs = runs
    extra = tmp_path / "landing"
    generate(extra, RESIDENTS, 1, date(2026, 10, 7), 42, defect_rate=0.01)
    _upload(s3, extra, "lake/landing")
    env = {**_base_env(), **s3, "GGLAKE_HOME": spark.home, "SPARK_REMOTE": cluster.remote}
    log = tmp_path / "ingest-killed.log"
    outcome = {}

    def ingest():
        with log.open("w") as out:
            outcome["code"] = subprocess.run([GGLAKE, "-v", "ingest", "--landing", "s3://lake/landing"], env=env,
                                             stdout=out, stderr=subprocess.STDOUT, timeout=900).returncode  # fmt: skip

    worker = threading.Thread(target=ingest)
    worker.start()
    deadline = time.monotonic() + 300
    while not _refining(log) or _running_jobs(cluster) == 0:
        assert worker.is_alive() and time.monotonic() < deadline, f"no refine job seen:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
    cluster.kill_worker(1)
    worker.join()
    killed_run = log.read_text()
    if outcome["code"] != 0:  # a clean failure: one line naming the problem, then a rerun converges
        assert "Traceback" not in killed_run, killed_run[-3000:]
        rerun = tmp_path / "ingest-rerun.log"
        with rerun.open("w") as out:
            code = subprocess.run([GGLAKE, "ingest", "--landing", "s3://lake/landing"], env=env, stdout=out,
                                  stderr=subprocess.STDOUT, timeout=900).returncode  # fmt: skip
        assert code == 0, rerun.read_text()[-3000:]
    states = {w["id"]: w["state"] for w in cluster.master_state()["workers"]}
    assert sorted(states.values()).count("ALIVE") == 1, states  # the kill really took a worker away

    subprocess.run([GGLAKE, "ingest", "--landing", str(extra)], env={**_base_env(), "GGLAKE_HOME": sail.home},
                   check=True, capture_output=True, timeout=900)  # fmt: skip
    for table in (t for t in COMPARED if t.layer in ("silver", "quarantine")):
        assert _rows(sail, table.name) == _rows(spark, table.name), table.name
    cluster.start_worker(1)  # leave the cluster whole for whatever runs next
    cluster.wait_for_workers(2, 120)


def _refining(log: Path) -> bool:
    return log.exists() and "materialise staged_" in log.read_text()


AIRFLOW_DAY = date(2026, 10, 8)  # the day after the worker-kill test's


def test_one_day_of_the_dag_chain_runs_through_airflow_on_postgresql_and_the_cluster(runs, s3, cluster, tmp_path):
    """Every ingest DAG run of one day, care_risk_daily and gold_marts, on the scale-out profile: Airflow's
    metadata in PostgreSQL, the LocalExecutor running tasks side by side, each task's step on the cluster
    with the landing and the lakehouse on S3. The day's silver equals the embedded engine's ingest of the
    same files, its scores exist, and every batch reconciles."""
    sail, spark, _ = runs
    day_landing = tmp_path / "landing"
    generate(day_landing, RESIDENTS, 1, AIRFLOW_DAY, 42, defect_rate=0.01)
    _upload(s3, day_landing, "lake/landing")
    tasks_before = cluster.tasks_per_worker()
    batches_before = delta.read(spark, catalog_table("audit.ingest_batches")).num_rows
    index = tmp_path / "knowledge-index"
    with postgres_server("airflow") as metadata_url:
        serving_url = metadata_url.removesuffix("/airflow") + "/serving"  # the serving store on the same server
        with psycopg.connect(metadata_url, autocommit=True) as db:
            db.execute("create database serving")
        deployment = Deployment(var=tmp_path / "var", airflow_port=free_port_run(2), env_overrides={
            **s3, "GGLAKE_ENV": "test", "GGLAKE_HOME": spark.home, "GGLAKE_LANDING": "s3://lake/landing",
            "SPARK_REMOTE": cluster.remote, "GGLAKE_RETRY_DELAY_SECONDS": "2",
            "GGLAKE_LANDING_POKE_SECONDS": "20", "GGLAKE_LANDING_TIMEOUT_SECONDS": "45",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url.replace("postgresql://", "postgresql+psycopg2://"),
            # an s3:// home has no local folder for these two: the serving store and the search index
            "GGLAKE_SERVING_URL": serving_url, "GGLAKE_KNOWLEDGE_INDEX": str(index),
        })  # fmt: skip
        assert deployment.external_engine == cluster.remote  # no Sail server: the cluster is the engine
        deployment.start(wait_for_dags=[*INGEST_DAGS.values(), "care_risk_daily", "gold_marts"], scheduler=False)
        try:
            states = run_days(deployment, AIRFLOW_DAY, 1, timeout=1800)
        finally:
            deployment.stop()
        with psycopg.connect(metadata_url) as db:  # the runs are recorded in PostgreSQL, not in a SQLite file
            recorded = dict(db.execute("select dag_id, count(*) from dag_run where state = 'success' group by dag_id"))
            spans = db.execute("select start_date, end_date from task_instance where start_date is not null").fetchall()
        with psycopg.connect(serving_url) as db:  # gold_marts published the serving store into PostgreSQL
            published = db.execute("select run_id from serving._publication").fetchall()
            graded = db.execute("select count(*) from serving.risk_grades_daily").fetchone()[0]
    expected = {dag_id: 24 if FEED_CADENCE[feed] == "hourly" else 1 for feed, dag_id in INGEST_DAGS.items()
                if FEED_CADENCE[feed] != "quarterly"} | {"care_risk_daily": 1, "gold_marts": 1}
    assert {d: dict(c) for d, c in states.items()} == {d: {"success": n} for d, n in expected.items()}
    assert recorded == expected
    assert not (Path(deployment.airflow_home) / "airflow.db").exists()
    assert _most_at_once(spans) >= 2  # the LocalExecutor ran tasks in parallel
    assert len(published) == 1 and graded > 0
    assert current_manifest(index) is not None  # and then built the chatbot's search index
    tasks_after = cluster.tasks_per_worker()
    # both live workers took tasks; the executor lost in the worker-kill test keeps its old count
    alive = [w["id"] for w in cluster.master_state()["workers"] if w["state"] == "ALIVE"]
    assert len(alive) == 2 and all(tasks_after[w] > tasks_before.get(w, 0) for w in alive), (tasks_before, tasks_after)

    spark_env = {**_base_env(), **s3, "GGLAKE_HOME": spark.home, "SPARK_REMOTE": cluster.remote}
    audit = subprocess.run([GGLAKE, "audit", "--json"], env=spark_env, capture_output=True, text=True, timeout=300)
    assert audit.returncode == 0, audit.stdout[-3000:] + audit.stderr[-3000:]
    assert len(json.loads(audit.stdout)) > batches_before  # the day's batches, all reconciled
    scores = delta.read(spark, catalog_table("gold.risk_scores")).to_pylist()
    assert [r for r in scores if r["score_date"] == AIRFLOW_DAY]
    subprocess.run([GGLAKE, "ingest", "--landing", str(day_landing)], env={**_base_env(), "GGLAKE_HOME": sail.home},
                   check=True, capture_output=True, timeout=900)  # fmt: skip
    for table in (t for t in COMPARED if t.layer in ("silver", "quarantine")):
        assert _rows(sail, table.name) == _rows(spark, table.name), table.name


def _most_at_once(spans: list[tuple]) -> int:
    """The most task instances that were running at the same moment."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans if end is not None])
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most
