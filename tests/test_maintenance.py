"""Delta maintenance (`gglake maintain`): compaction, vacuum and checkpoints on a real lakehouse."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pytest
from click.testing import CliRunner
from conftest import make_settings, read_rows
from deltalake import DeltaTable

from gglake import delta, lease
from gglake.catalog import table
from gglake.cli import main
from gglake.pipeline import maintain
from spark_jobs.maintenance import lease_resources

CALLS = "silver.care_calls"  # partitioned by call_date, written by Sail


@pytest.fixture
def lake(ingested, tmp_path):
    settings, _ = ingested
    shutil.copytree(settings.home, tmp_path / "lake")
    return make_settings(tmp_path / "lake")


def _sorted(rows: list[dict]) -> list[tuple]:
    return sorted(tuple(sorted(r.items(), key=lambda kv: kv[0])) for r in rows)


def _small_appends(settings, name: str, appends: int = 5) -> None:
    """`appends` commits of a few copied rows each (new keys), the way hourly runs leave small files."""
    t = table(name)
    rows = delta.read(settings, t).slice(0, 3).to_pylist()
    key = t.keys[0]
    for i in range(appends):
        copies = [{**r, key: f"{r[key]}-copy{i}"} for r in rows]
        delta.append(settings, t, pa.Table.from_pylist(copies, schema=t.arrow_schema()))


def _files(settings, name: str) -> int:
    return len(delta.open_table(settings, table(name)).file_uris())


def test_compaction_cuts_files_and_keeps_rows_and_time_travel(lake):
    _small_appends(lake, CALLS)
    before_rows = _sorted(read_rows(lake, CALLS))
    files_before = _files(lake, CALLS)
    old_version = delta.open_table(lake, table(CALLS)).version()

    result = maintain(lake, "maint-1", tables=[CALLS])

    (r,) = result.tables
    assert r.table_name == CALLS and r.files_before == files_before
    assert r.files_after == _files(lake, CALLS) < files_before
    assert r.files_compacted > r.files_added > 0
    assert r.version_after > r.version_before == old_version
    assert _sorted(read_rows(lake, CALLS)) == before_rows
    # 30 days of retention: the version before compaction still reads, file for file
    past = DeltaTable(delta.location(lake, table(CALLS)), version=old_version)
    assert _sorted(delta.to_arrow(past).to_pylist()) == before_rows
    assert r.files_vacuumed == 0

    # retention 0: the replaced small files are deleted, the current version still reads
    zero = maintain(lake, "maint-2", retention_days=0, tables=[CALLS])
    assert zero.tables[0].files_vacuumed >= r.files_compacted > 0
    assert _sorted(read_rows(lake, CALLS)) == before_rows
    with pytest.raises(Exception, match="(?i)not found|no such file|does not exist"):
        delta.to_arrow(DeltaTable(delta.location(lake, table(CALLS)), version=old_version))


@pytest.mark.slow  # a classic JVM Spark session (~20-40 s to start)
def test_classic_delta_spark_backend_compacts_vacuums_and_records_its_history(lake):
    """`--engine delta-spark`: delta-spark's DeltaTable API in a classic PySpark session, on the same table."""
    _small_appends(lake, CALLS)
    before_rows = _sorted(read_rows(lake, CALLS))
    files_before = _files(lake, CALLS)

    result = maintain(lake, "maint-classic", retention_days=0, tables=[CALLS], backend="delta-spark")

    (r,) = result.tables
    assert r.error is None and r.files_before == files_before
    assert r.files_after == _files(lake, CALLS) < files_before
    assert r.files_compacted > r.files_added > 0 and r.files_vacuumed >= r.files_compacted
    assert _sorted(read_rows(lake, CALLS)) == before_rows
    operations = [h["operation"] for h in delta.open_table(lake, table(CALLS)).history(3)]
    assert operations == ["VACUUM END", "VACUUM START", "OPTIMIZE"], operations
    (recorded,) = [row for row in read_rows(lake, "audit.maintenance_runs") if row["run_id"] == "maint-classic"]
    assert recorded["files_after"] == r.files_after and recorded["error"] is None


def test_every_table_is_recorded_and_a_rerun_is_harmless(lake):
    _small_appends(lake, "audit.ingest_batches", 3)
    existing = sorted(t.name for t in map(table, _existing(lake)))
    contents = {name: _sorted(read_rows(lake, name)) for name in ("audit.ingest_batches", "silver.sensor_readings")}

    first = maintain(lake, "maint-a")
    second = maintain(lake, "maint-b")

    assert sorted(t.table_name for t in first.tables) == existing  # audit.maintenance_runs did not exist yet
    assert "audit.maintenance_runs" in {t.table_name for t in second.tables}
    assert all(t.files_compacted == 0 and t.files_vacuumed == 0 for t in second.tables)
    after_first = {t.table_name: t for t in first.tables}
    for t in second.tables:
        if t.table_name in after_first and t.table_name not in ("audit.leases", "audit.maintenance_runs"):
            assert t.files_before == t.files_after == after_first[t.table_name].files_after
    for name, rows in contents.items():
        assert _sorted(read_rows(lake, name)) == rows

    audit = {(r["run_id"], r["table_name"]): r for r in read_rows(lake, "audit.maintenance_runs")}
    assert len(audit) == len(first.tables) + len(second.tables)
    batches = audit[("maint-a", "audit.ingest_batches")]
    assert batches["files_before"] > batches["files_after"] == 1
    assert batches["files_compacted"] == batches["files_before"]
    assert batches["bytes_before"] > 0 and batches["bytes_after"] > 0
    assert batches["retention_days"] == 30 and batches["error"] is None
    assert batches["started_at"] <= batches["finished_at"]
    assert batches["version_after"] > batches["version_before"]


def _existing(settings) -> list[str]:
    from gglake.catalog import TABLES

    return [t.name for t in TABLES if delta.open_table(settings, t) is not None]


def test_sail_reads_and_merges_a_compacted_silver_table(lake):
    from gglake.engine import spark_session

    _small_appends(lake, CALLS)
    rows = len(read_rows(lake, CALLS))
    maintain(lake, "maint-sail", retention_days=0, tables=[CALLS])
    call_id = read_rows(lake, CALLS, ["call_id"])[0]["call_id"]
    with spark_session(lake, tables=[table(CALLS)]) as spark:
        assert spark.sql(f"select count(*) as n from {CALLS}").collect()[0]["n"] == rows
        spark.sql(
            f"merge into {CALLS} as t using (select '{call_id}' as call_id, 'merged after compaction' as transcript) as s "
            "on t.call_id = s.call_id when matched then update set transcript = s.transcript"
        )
        got = spark.sql(f"select transcript from {CALLS} where call_id = '{call_id}'").collect()
    assert [r["transcript"] for r in got] == ["merged after compaction"]
    assert len(read_rows(lake, CALLS)) == rows


def test_tables_take_their_writers_leases(lake):
    assert lease_resources(lake, "silver.care_calls") == ["maintain:silver.care_calls", "feed:calls"]
    assert lease_resources(lake, "quarantine.welfare_services")[1] == "feed:welfare"
    assert lease_resources(lake, "bronze.welfare_national")[1] == "feed:welfare"
    assert lease_resources(lake, "restricted.resident_registry")[1] == "feed:registry"
    assert lease_resources(lake, "features.resident_daily")[1] == "features:resident_daily"
    assert lease_resources(lake, "gold.risk_alerts")[1] == "gold:risk"
    assert lease_resources(lake, "gold.policy_documents")[1] == "gold:knowledge"
    assert lease_resources(lake, "audit.ingest_batches") == ["maintain:audit.ingest_batches"]
    assert lease_resources(lake, "gold.kpi_care_monthly") == ["maintain:gold.kpi_care_monthly"]


def test_a_held_writer_lease_refuses_that_table_and_maintains_the_others(lake, monkeypatch):
    _small_appends(lake, CALLS)
    files = _files(lake, CALLS)
    with lease.hold(lake, ["feed:calls"], "ingest-elsewhere", "ingest"):
        with pytest.raises(lease.LeaseHeld, match="another ingest holds the lock on feed:calls") as info:
            maintain(lake, "maint-held", tables=[CALLS, "audit.ingest_batches"], wait_seconds=0.3)
        assert CALLS in str(info.value)

        monkeypatch.setenv("GGLAKE_HOME", lake.home)
        cli = CliRunner().invoke(main, ["maintain", "--table", CALLS])
    assert cli.exit_code == 1
    lines = cli.output.strip().splitlines()
    assert len(lines) == 1 and "another ingest holds the lock on feed:calls" in lines[0], cli.output
    assert _files(lake, CALLS) == files  # not compacted under the writer
    audit = {r["table_name"]: r for r in read_rows(lake, "audit.maintenance_runs") if r["run_id"] == "maint-held"}
    assert "feed:calls" in audit[CALLS]["error"] and audit[CALLS]["files_after"] == files
    assert audit["audit.ingest_batches"]["error"] is None

    # once the writer is gone the same command maintains the table and prints the table
    ok = CliRunner().invoke(main, ["maintain", "--table", CALLS, "--retention-days", "0"])
    assert ok.exit_code == 0, ok.output
    assert CALLS in ok.output and f"{files} → " in ok.output
    assert _files(lake, CALLS) < files


def test_a_failing_table_is_recorded_and_named_while_the_others_are_maintained(lake, monkeypatch):
    from spark_jobs import maintenance

    real = maintenance.maintain_table

    def flaky(settings, t, *args):
        if t.name == CALLS:
            raise RuntimeError("Commit failed: a concurrent transaction removed files\nHelp: rerun")
        return real(settings, t, *args)

    monkeypatch.setattr(maintenance, "maintain_table", flaky)
    with pytest.raises(maintenance.MaintenanceFailed, match=f"maintain failed for {CALLS} .*removed files$") as info:
        maintain(lake, "maint-flaky", tables=[CALLS, "audit.ingest_batches"])
    assert [t.table_name for t in info.value.tables if t.error] == [CALLS]
    audit = {r["table_name"]: r for r in read_rows(lake, "audit.maintenance_runs")}
    assert "removed files" in audit[CALLS]["error"] and audit["audit.ingest_batches"]["error"] is None
