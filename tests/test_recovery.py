"""A run that dies half-way is finished or cleaned up by the next one, with nothing counted twice."""

from __future__ import annotations

import pyarrow as pa
from conftest import count, make_settings, read_rows

from gglake import delta
from gglake.catalog import BRONZE, SILVER, table
from spark_jobs import bronze
from spark_jobs.ingest import ingest


def test_bronze_rows_without_a_manifest_entry_are_discarded(tmp_path, landing):
    settings = make_settings(tmp_path / "lake")
    first = ingest(settings, str(landing))
    calls = table("bronze.care_calls")
    before = count(settings, calls.name)
    # a crash after the bronze write, before the manifest write
    orphan = (
        delta.read(settings, calls)
        .slice(0, 5)
        .set_column(calls.column_names.index("_batch_id"), "_batch_id", pa.array(["b19990101T000000000000Z"] * 5))
    )
    delta.append(settings, calls, orphan)
    assert count(settings, calls.name) == before + 5
    again = ingest(settings, str(landing))
    assert again.discarded_orphans == ["bronze.care_calls:b19990101T000000000000Z"]
    assert count(settings, calls.name) == before
    assert first.batch_id != again.batch_id


def test_a_batch_landed_but_not_refined_is_refined_by_the_next_run(tmp_path, landing):
    settings = make_settings(tmp_path / "lake")
    landed = bronze.land(settings, str(landing), "b20000101T000000000000Z", bronze.utc_now())  # then "crash"
    assert count(settings, "bronze.sensor_readings") > 0
    assert count(settings, "silver.sensor_readings") == 0
    summary = ingest(settings, str(landing))
    assert summary.new_files == 0  # nothing new to land ...
    assert {run.batch_id for run in summary.runs} == {landed.batch_id}  # ... but the old batch is refined
    assert all(run.balanced for run in summary.runs)
    audit = read_rows(settings, "audit.ingest_batches")
    assert {r["bronze_table"] for r in audit} == {t.name for t in BRONZE}
    for t in SILVER:
        assert count(settings, t.name) > 0, t.name


def test_refining_a_batch_again_changes_nothing(tmp_path, landing):
    """A crash after silver was written but before the audit row: the batch is refined again."""
    settings = make_settings(tmp_path / "lake")
    ingest(settings, str(landing))
    names = [
        "silver.sensor_readings",
        "quarantine.sensor_readings",
        "silver.companies",
        "silver.residents",
        "restricted.resident_registry",
    ]
    before = {n: count(settings, n) for n in names}
    audit = delta.open_table(settings, table("audit.ingest_batches"))
    audit.delete("bronze_table in ('bronze.sensor_readings', 'bronze.companies', 'bronze.registry_residents')")
    summary = ingest(settings, str(landing))
    assert {run.bronze_table for run in summary.runs} == {
        "bronze.sensor_readings",
        "bronze.companies",
        "bronze.registry_residents",
    }
    assert {n: count(settings, n) for n in names} == before
    sensors = {run.bronze_table: run for run in summary.runs}["bronze.sensor_readings"]
    assert sensors.balanced and sensors.counts.inserted == 0 and sensors.counts.updated > 0
