"""Interval-scoped ingest: a run lists and reads only its data interval's landing folders, skips files the
manifest knows by path and size, and raises when a batch does not balance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from conftest import START, make_settings, read_rows

from spark_jobs import bronze
from spark_jobs.ingest import ReconciliationError, ingest
from spark_jobs.landing import interval_folders
from spark_jobs.silver import Counts, Refiner

KST = timezone(timedelta(hours=9))
SENSORS = "sensors/date=*/hour=*/*.jsonl.gz"


def test_interval_folders_per_hour_day_and_quarter_in_kst():
    assert interval_folders(SENSORS, datetime(2026, 11, 1, 22), datetime(2026, 11, 2, 1)) == [
        "sensors/date=2026-11-01/hour=22/",
        "sensors/date=2026-11-01/hour=23/",
        "sensors/date=2026-11-02/hour=00/",
    ]
    # Airflow hands UTC intervals: 2026-11-01 15:00 UTC is midnight KST on the 2nd
    utc = interval_folders("calls/date=*/*.csv", datetime(2026, 11, 1, 15, tzinfo=UTC), datetime(2026, 11, 2, 15, tzinfo=UTC))
    assert utc == ["calls/date=2026-11-02/"]
    assert interval_folders("industry/quarter=*/*.csv", datetime(2026, 11, 1), datetime(2027, 2, 1)) == [
        "industry/quarter=2026Q4/",
        "industry/quarter=2027Q1/",
    ]
    with pytest.raises(ValueError, match="not after its start"):
        interval_folders(SENSORS, datetime(2026, 11, 2), datetime(2026, 11, 2))


def test_an_interval_run_reads_only_its_folders_and_the_catch_up_completes_it(landing, ingested, tmp_path, monkeypatch):
    clean, _ = ingested
    settings = make_settings(tmp_path / "lake")
    ingest(settings, str(landing), feeds=["registry"])
    opened: list[str] = []
    read = bronze._read_bytes
    monkeypatch.setattr(bronze, "_read_bytes", lambda fs, entry, limit: opened.append(entry.path) or read(fs, entry, limit))
    start = datetime.combine(START, datetime.min.time()) + timedelta(hours=7)
    summary = ingest(settings, str(landing), feeds=["sensors"], start=start, end=start + timedelta(hours=2))
    wanted = ("sensors/date=2026-11-01/hour=07/", "sensors/date=2026-11-01/hour=08/")
    assert opened and all(p.startswith(wanted) for p in opened)
    sensor_files = [r["path"] for r in read_rows(settings, "audit.ingest_manifest") if r["source"] == "sensors"]
    assert sensor_files and all(p.startswith(wanted) for p in sensor_files)
    assert all(r.balanced for r in summary.runs)
    silver_hours = {(r["reading_date"], r["reading_hour"]) for r in read_rows(settings, "silver.sensor_readings")}
    assert (START, 7) in silver_hours and (START, 12) not in silver_hours

    opened.clear()
    ingest(settings, str(landing))  # the catch-up: every other folder
    catch_up_reads = len(opened)
    assert not {p for p in opened if p.startswith(wanted)}, "known files are skipped by path and size, unread"
    silver = sorted(r["event_id"] for r in read_rows(settings, "silver.sensor_readings", ["event_id"]))
    assert silver == sorted(r["event_id"] for r in read_rows(clean, "silver.sensor_readings", ["event_id"]))

    opened.clear()
    again = ingest(settings, str(landing))
    assert opened == [] and again.new_files == 0  # a rerun reads nothing at all
    verified = ingest(settings, str(landing), verify_checksums=True)
    assert len(opened) > catch_up_reads and verified.new_files == 0  # hashes everything, lands nothing


def test_an_unbalanced_batch_raises_after_it_is_recorded(landing, tmp_path, monkeypatch):
    settings = make_settings(tmp_path / "lake")
    refine = Refiner.refine

    def miscount(self, entity) -> Counts:
        counts = refine(self, entity)
        if entity.bronze == "bronze.care_calls":
            counts.inserted -= 1  # one row lost on the way to silver
        return counts

    monkeypatch.setattr(Refiner, "refine", miscount)
    with pytest.raises(ReconciliationError, match="bronze.care_calls") as failed:
        ingest(settings, str(landing))
    assert [r.bronze_table for r in failed.value.summary.runs if not r.balanced] == ["bronze.care_calls"]
    audit = {r["bronze_table"]: r for r in read_rows(settings, "audit.ingest_batches")}
    assert len(audit) == 8  # every batch recorded before the run fails
    calls = audit["bronze.care_calls"]
    assert calls["rows_bronze"] != calls["rows_silver"] + calls["rows_quarantined"] + calls["duplicates_merged"]
