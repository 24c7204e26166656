"""The serving store: every dataset published, no resident identifier, small cells suppressed, numbers
equal to the gold marts, and readers never failing or seeing a partial store while publishes run — for
the DuckDB file and for a real PostgreSQL server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pytest
from postgres_server import postgres_server

from gglake import delta, serving
from gglake.catalog import table
from gglake.disclosure import FLAG, SMALL_CELL, suppress


def _tables(target: str) -> dict[str, pa.Table]:
    return {ds.name: serving.read(target, ds.name) for ds in serving.DATASETS}


def test_suppress_hides_small_counts_and_what_is_derived_from_them():
    data = pa.table({"n": [0, 4, 5, None, 12], "m": [9, 9, 9, 9, 3], "rate": [0.1, 0.2, 0.3, 0.4, 0.5]})
    out, cells = suppress(data, ["n", "m"], {"rate": ("n",)})
    assert out["n"].to_pylist() == [None, None, 5, None, 12]
    assert out["m"].to_pylist() == [9, 9, 9, 9, None]
    assert out["rate"].to_pylist() == [None, None, 0.3, 0.4, 0.5]  # a null count hides nothing more
    assert out[FLAG].to_pylist() == [True, True, False, False, True]
    assert cells == 2 + 1 + 2


def test_every_dataset_is_published_without_resident_identifiers(served):
    _, target = served
    tables = _tables(target)
    assert all(t.num_rows for name, t in tables.items()), {n: t.num_rows for n, t in tables.items()}
    for name, data in tables.items():
        assert not serving.IDENTIFIER_COLUMNS & set(data.column_names), name
    meta = serving.read(target, "_publication").to_pylist()
    assert meta[0]["run_id"] == "served-1" and json.loads(meta[0]["versions"])["gold.fct_care_calls_daily"] >= 0


def test_no_count_below_the_threshold_reaches_a_public_dataset(served):
    _, target = served
    for ds in serving.DATASETS:
        data = serving.read(target, ds.name).to_pylist()
        for row in data:
            for column in ds.resident_counts:
                assert row[column] is None or row[column] >= SMALL_CELL, (ds.name, column, row)
            for column, bases in ds.derived.items():
                if any(row[b] is None for b in bases):
                    assert row[column] is None, (ds.name, column, row)
            assert row[FLAG] == any(row[c] is None for c in ds.resident_counts) or not ds.resident_counts
    suppressed = [r for r in serving.read(target, "care_calls_daily").to_pylist() if r[FLAG]]
    assert suppressed, "the fixture has small district-days: suppression must have happened"


def test_monthly_answer_rate_equals_the_gold_mart(served):
    settings, target = served
    gold = delta.read(settings, table("gold.fct_care_calls_daily")).to_pylist()
    for row in serving.read(target, "care_calls_monthly").to_pylist():
        month = (row["district_code"], row["month_start"])
        days = [g for g in gold if (g["district_code"], g["call_date"].replace(day=1)) == month]
        scheduled, answered = sum(g["calls_scheduled"] for g in days), sum(g["calls_answered"] for g in days)
        if row["calls_scheduled"] is not None:
            assert row["calls_scheduled"] == scheduled
        if row["answer_rate"] is not None:
            assert row["answer_rate"] == pytest.approx(answered / scheduled, abs=1e-4)
    assert any(r["answer_rate"] is not None for r in serving.read(target, "care_calls_monthly").to_pylist())


def test_republishing_changes_no_dataset_and_leaves_one_file(served, tmp_path):
    settings, target = served
    again = tmp_path / "gglake.duckdb"
    shutil.copy(target, again)
    serving.publish(settings, "served-2", str(again))
    serving.publish(settings, "served-3", str(again))
    assert _tables(str(again)) == _tables(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gglake.duckdb"]  # no staging files left
    assert serving.read(str(again), "_publication").column("run_id").to_pylist() == ["served-3"]


# A dashboard-style reader in its own process (as Superset's workers are): each query reads two datasets
# and the publication record in one statement; a partial store would show a missing table or wrong count.
READER = textwrap.dedent(
    """
    import json, sys, time
    target, seconds, expected = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
    query = ("select (select count(*) from serving.care_calls_daily), (select count(*) from serving.risk_grades_daily),"
             " (select sum(calls_scheduled) from serving.care_calls_province_daily), (select run_id from serving._publication)")
    ok, errors, runs = 0, [], set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if target.startswith("postgresql"):
                import psycopg
                with psycopg.connect(target) as con:
                    row = con.execute(query).fetchone()
            else:
                import duckdb
                with duckdb.connect(target, read_only=True) as con:
                    row = con.execute(query).fetchone()
            if list(row[:3]) != expected:
                errors.append(f"partial result {row}")
            else:
                ok += 1
                runs.add(row[3])
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"ok": ok, "errors": errors[:5], "error_count": len(errors), "runs": sorted(runs)}))
    """
)


def _by_key(name: str, rows: list[dict]) -> list[dict]:
    key = serving.dataset(name).key
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in key))


def _publish_while_querying(settings, target: str, publishes: int = 4, readers: int = 4) -> list[dict]:
    tables = _tables(target)
    expected = [
        tables["care_calls_daily"].num_rows,
        tables["risk_grades_daily"].num_rows,
        sum(v for v in tables["care_calls_province_daily"].column("calls_scheduled").to_pylist() if v is not None),
    ]
    procs = [
        subprocess.Popen([sys.executable, "-c", READER, target, "12", json.dumps(expected)], stdout=subprocess.PIPE, text=True)
        for _ in range(readers)
    ]
    time.sleep(1.0)
    for i in range(publishes):
        serving.publish(settings, f"concurrent-{i}", target)
    results = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    return results


def test_dashboard_queries_never_fail_while_the_duckdb_store_is_republished(served, tmp_path):
    settings, target = served
    store = str(tmp_path / "gglake.duckdb")
    shutil.copy(target, store)
    results = _publish_while_querying(settings, store)
    assert [r["error_count"] for r in results] == [0] * len(results), results
    assert all(r["ok"] > 10 for r in results), results
    assert any(len(r["runs"]) > 1 for r in results), "the readers never saw a publish land"


def test_postgres_store_equals_duckdb_and_queries_never_fail_while_it_is_republished(served):
    settings, target = served
    with postgres_server() as url:
        serving.publish(settings, "pg-1", url)
        for name, data in _tables(target).items():
            pg = serving.read(url, name).to_pylist()
            assert _by_key(name, pg) == _by_key(name, data.to_pylist()), name
        results = _publish_while_querying(settings, url)
        assert [r["error_count"] for r in results] == [0] * len(results), results
        assert all(r["ok"] > 10 for r in results), results
        assert any(len(r["runs"]) > 1 for r in results), "the readers never saw a publish land"


def test_postgres_upserts_only_recent_days_of_day_keyed_datasets(served):
    settings, target = served
    with postgres_server() as url:
        serving.publish(settings, "pg-1", url)
        import psycopg

        with psycopg.connect(url, autocommit=True) as con:
            con.execute("update serving.care_calls_daily set escalations = -1")
            con.execute("update serving.districts set population = -1")
        serving.publish(settings, "pg-2", url)
        rows = serving.read(url, "care_calls_daily").to_pylist()
        days = sorted({r["call_date"] for r in rows})
        # Within LOOKBACK_DAYS of the newest day the upsert rewrote the row; the full datasets were replaced.
        assert (days[-1] - days[0]).days < serving.LOOKBACK_DAYS
        assert all(r["escalations"] != -1 for r in rows)
        assert all(r["population"] > 0 for r in serving.read(url, "districts").to_pylist())
        assert len(rows) == serving.read(target, "care_calls_daily").num_rows


def test_publish_refuses_a_missing_gold_table(tmp_path):
    from conftest import make_settings

    with pytest.raises(RuntimeError, match="does not exist yet"):
        serving.publish(make_settings(tmp_path / "empty"), "x", str(tmp_path / "s.duckdb"))
    assert not list(tmp_path.glob("*.duckdb"))


def test_the_serving_target_defaults_next_to_a_local_lakehouse(monkeypatch, tmp_path):
    from conftest import make_settings

    from gglake.settings import ConfigError, Settings

    monkeypatch.delenv("GGLAKE_SERVING_URL", raising=False)
    assert serving.default_target(make_settings(tmp_path)) == str(Path(tmp_path) / "serving" / "gglake.duckdb")
    with pytest.raises(ConfigError, match="GGLAKE_SERVING_URL"):
        serving.default_target(Settings(home="s3://bucket/lake"))
    monkeypatch.setenv("GGLAKE_SERVING_URL", "postgresql://u:secret@127.0.0.1:5432/db")
    assert serving.default_target(make_settings(tmp_path)).startswith("postgresql://")
    assert "secret" not in serving._redacted("postgresql://u:secret@127.0.0.1:5432/db")


def test_publish_command_prints_every_dataset(served, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from gglake.cli import main

    settings, _ = served
    monkeypatch.setenv("GGLAKE_HOME", settings.home)
    store = tmp_path / "cli.duckdb"
    result = CliRunner().invoke(main, ["publish", "--target", str(store)])
    assert result.exit_code == 0, result.output
    assert "care_kpi_monthly" in result.output and f"{len(serving.DATASETS)} datasets published" in result.output
    assert serving.read(str(store), "districts").num_rows == 31
