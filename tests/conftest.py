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
