"""Landing → bronze → silver on a real Delta lakehouse through the embedded Sail engine."""

from __future__ import annotations

import csv
import gzip
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import DAYS, RESIDENTS, SEED, START, count, defect_log, make_settings, read_rows

from gglake.catalog import BRONZE, QUARANTINE, SILVER
from gglake.pseudonym import resident_key
from gglake.settings import DEV_PSEUDONYM_KEY
from sources.generate import generate
from spark_jobs.ingest import ingest

KST = timezone(timedelta(hours=9))

QUARANTINED_AS = {
    "malformed_json": "malformed_json",
    "schema_drift": "unknown_field",
    "too_late": "too_late",
    "future_timestamp": "future_timestamp",
    "impossible_value": "impossible_value",
    "bad_encoding": "bad_encoding",
    "malformed_row": "malformed_row",
    "invalid_code": "invalid_code",
    "missing_key": "missing_key",
}
FAILED_AS = {"truncated_gzip": "corrupt_gzip", "empty_file": "empty_file", "malformed_xml": "malformed_xml"}
ACCEPTED = {"duplicate_event", "late_event"}  # valid data: must reach silver, exactly once


def test_all_four_sources_reach_bronze_and_silver(ingested):
    settings, summary = ingested
    for name in [t.name for t in BRONZE] + [t.name for t in SILVER] + ["restricted.resident_registry"]:
        assert count(settings, name) > 0, name
    assert count(settings, "silver.residents") >= RESIDENTS


def test_every_batch_reconciles(ingested):
    settings, summary = ingested
    rows = read_rows(settings, "audit.ingest_batches")
    assert {r["bronze_table"] for r in rows} == {t.name for t in BRONZE}
    for r in rows:
        assert r["rows_landed"] == r["rows_bronze"], r
        assert r["rows_bronze"] == r["rows_silver"] + r["rows_quarantined"] + r["duplicates_merged"], r
    # the audit's totals are the tables' real contents
    by_table = Counter()
    for r in rows:
        by_table[r["bronze_table"]] += r["rows_bronze"]
    for bronze in BRONZE:
        assert by_table[bronze.name] == count(settings, bronze.name)
    quarantined = sum(r["rows_quarantined"] for r in rows)
    assert quarantined == sum(count(settings, q.name) for q in QUARANTINE)
    fact = {r["bronze_table"]: r for r in rows}["bronze.sensor_readings"]
    assert fact["rows_silver"] == count(settings, "silver.sensor_readings")


def test_every_planted_defect_is_accounted_for(ingested, landing):
    settings, _ = ingested
    defects = defect_log(landing)
    assert {d["class"] for d in defects} >= set(QUARANTINED_AS) | set(FAILED_AS) | ACCEPTED
    quarantined = {(r["_source_file"], r["_line"]): r["reason"] for q in QUARANTINE for r in read_rows(settings, q.name)}
    failed = {r["path"]: r["reason"] for r in read_rows(settings, "audit.ingest_manifest") if r["status"] == "failed"}
    silver_events = Counter(r["event_id"] for r in read_rows(settings, "silver.sensor_readings", ["event_id"]))
    for d in defects:
        where = (d["file"], d["line"])
        if d["class"] in QUARANTINED_AS:
            assert quarantined.get(where) == QUARANTINED_AS[d["class"]], d
        elif d["class"] in FAILED_AS:
            assert failed.get(d["file"]) == FAILED_AS[d["class"]], d
        else:
            assert where not in quarantined, d
            if d["source"] == "sensors":
                assert silver_events[d["key"]] == 1, d
    # nothing else was quarantined: every rejection traces back to a planted defect
    planted = {(d["file"], d["line"]) for d in defects}
    assert set(quarantined) <= planted


def test_late_events_land_in_their_own_partition(ingested, landing):
    settings, _ = ingested
    late = {d["key"]: d for d in defect_log(landing) if d["class"] == "late_event"}
    rows = [r for r in read_rows(settings, "silver.sensor_readings") if r["event_id"] in late]
    assert len(rows) == len(late)
    for r in rows:
        file_day = late[r["event_id"]]["file"].split("date=")[1][:10]
        assert r["reading_date"] == r["measured_at"].astimezone(KST).date()
        assert r["reading_date"].isoformat() < file_day


def test_natural_keys_are_unique_in_silver(ingested):
    settings, _ = ingested
    for t in SILVER:
        rows = read_rows(settings, t.name, list(t.keys))
        keys = Counter(tuple(r[k] for k in t.keys) for r in rows)
        assert keys and max(keys.values()) == 1, t.name


def test_scd2_dimensions_keep_history(ingested):
    settings, _ = ingested
    for name, key in (("silver.companies", "company_id"), ("silver.residents", "resident_key")):
        rows = read_rows(settings, name)
        current = Counter(r[key] for r in rows if r["is_current"])
        assert max(current.values()) == 1, name
        assert {r[key] for r in rows} == set(current), name  # every key has a current version
        for r in rows:
            assert (r["valid_to"] is None) == r["is_current"], r
            assert r["valid_to"] is None or r["valid_to"] > r["valid_from"], r
    companies = read_rows(settings, "silver.companies")
    versions = Counter(r["company_id"] for r in companies)
    assert sum(1 for n in versions.values() if n > 1) > 0, "quarterly snapshots must produce changes"


def _registry_pii(landing: Path) -> tuple[set[str], set[str]]:
    values, ids = set(), set()
    for path in landing.glob("registry/date=*/*.csv"):
        for row in csv.DictReader(path.open(encoding="utf-8")):
            values.update(v for k, v in row.items() if k in ("name", "phone", "address") and v)
            ids.add(row["resident_id"])
    return values, ids


def test_no_pii_outside_the_restricted_registry(ingested, landing):
    settings, _ = ingested
    pii, ids = _registry_pii(landing)
    assert len(pii) > 2 * RESIDENTS
    scanned = 0
    for t in SILVER:
        for row in read_rows(settings, t.name):
            for value in row.values():
                if isinstance(value, str):
                    scanned += 1
                    assert value not in pii and value not in ids, (t.name, value)
                    assert not any(p in value for p in pii if len(p) > 6), (t.name, value)
    assert scanned > 1000
    registry = read_rows(settings, "restricted.resident_registry")
    assert {r["resident_id"] for r in registry} <= ids
    assert {r["name"] for r in registry} <= pii


def test_resident_key_is_the_keyed_hmac(ingested):
    settings, _ = ingested
    for r in read_rows(settings, "restricted.resident_registry"):
        assert r["resident_key"] == resident_key(DEV_PSEUDONYM_KEY.encode(), r["resident_id"])
    keys = {r["resident_key"] for r in read_rows(settings, "restricted.resident_registry")}
    calls = read_rows(settings, "silver.care_calls", ["resident_key"])
    assert calls and {r["resident_key"] for r in calls} <= keys


def _landed_rows(files: list[Path]) -> int:
    """Records in landing files, counted independently of the ingest code."""
    total = 0
    for path in files:
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            try:
                raw = gzip.decompress(raw)
            except (EOFError, OSError):
                continue
        total += raw.count(b"\n") - (1 if path.suffix == ".csv" else 0)
    return total


def test_rerun_is_a_no_op_and_a_new_day_adds_exactly_its_rows(tmp_path, landing):
    own_landing = tmp_path / "landing"
    shutil.copytree(landing, own_landing)
    settings = make_settings(tmp_path / "lakehouse")
    ingest(settings, str(own_landing))
    names = [t.name for t in BRONZE + SILVER + QUARANTINE] + ["restricted.resident_registry"]
    before = {n: count(settings, n) for n in names}

    rerun = ingest(settings, str(own_landing))
    assert rerun.new_files == 0 and rerun.runs == []
    assert {n: count(settings, n) for n in names} == before

    existing = set(own_landing.rglob("*"))
    next_day = START + timedelta(days=DAYS)
    generate(own_landing, RESIDENTS, 1, next_day, SEED, defect_rate=0.01)
    new_files = sorted(p for p in set(own_landing.rglob("*")) - existing if p.is_file() and "_generator" not in p.parts)
    sensor_files = [p for p in new_files if p.parts[-4] == "sensors" or "sensors" in p.parts]
    assert sensor_files, "the generator wrote a new day of sensor files"

    added = ingest(settings, str(own_landing))
    assert added.new_files == len(new_files)
    sensors = {r.bronze_table: r for r in added.runs}["bronze.sensor_readings"]
    assert count(settings, "bronze.sensor_readings") - before["bronze.sensor_readings"] == _landed_rows(sensor_files)
    assert sensors.rows_landed == _landed_rows(sensor_files)
    c = sensors.counts
    assert count(settings, "silver.sensor_readings") - before["silver.sensor_readings"] == c.inserted
    assert c.bronze == c.silver + c.quarantined + c.duplicates
    days = {
        r["reading_date"]
        for r in read_rows(settings, "silver.sensor_readings", ["reading_date", "_batch_id"])
        if r["_batch_id"] == added.batch_id
    }
    assert max(days) == next_day


def test_ingest_twice_in_a_row_changes_no_table(ingested, landing):
    settings, _ = ingested
    versions = {t.name: count(settings, t.name) for t in BRONZE + SILVER}
    again = ingest(settings, str(landing))
    assert again.new_files == 0
    assert {t.name: count(settings, t.name) for t in BRONZE + SILVER} == versions


@pytest.mark.parametrize("name", [t.name for t in SILVER])
def test_silver_rows_trace_back_to_bronze(ingested, name):
    settings, _ = ingested
    rows = read_rows(settings, name, ["_source_file", "_line", "_batch_id"])
    assert all(r["_source_file"] and r["_line"] and r["_batch_id"] for r in rows)


def test_ingest_time_is_recorded(ingested):
    settings, summary = ingested
    manifest = read_rows(settings, "audit.ingest_manifest")
    assert all(r["_batch_id"] == summary.batch_id for r in manifest)
    assert all(abs(r["recorded_at"] - datetime.now(UTC)) < timedelta(hours=1) for r in manifest)


def test_a_rescheduled_call_redelivered_later_moves_instead_of_duplicating(tmp_path, landing):
    own_landing = tmp_path / "landing"
    shutil.copytree(landing, own_landing)
    settings = make_settings(tmp_path / "lakehouse")
    ingest(settings, str(own_landing))
    original = next(r for r in read_rows(settings, "silver.care_calls") if r["vendor"] == "hyodol")
    source = own_landing / original["_source_file"]
    header, *rows = source.read_text(encoding="utf-8").splitlines()
    row = next(r for r in rows if r.startswith(original["call_id"] + ","))
    fields = next(csv.reader([row]))
    columns = header.split(",")
    moved = (original["scheduled_at"].astimezone(KST) + timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
    fields[columns.index("scheduled_at")] = moved
    later = own_landing / "calls" / f"date={moved[:10]}" / "hyodol-correction.csv"
    later.parent.mkdir(parents=True, exist_ok=True)
    with later.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerow(fields)
    before = count(settings, "silver.care_calls")
    run = {r.bronze_table: r for r in ingest(settings, str(own_landing)).runs}["bronze.care_calls"]
    assert run.counts.updated == 1 and run.counts.inserted == 0 and run.balanced
    assert count(settings, "silver.care_calls") == before
    (updated,) = [r for r in read_rows(settings, "silver.care_calls") if r["call_id"] == original["call_id"]]
    assert updated["call_date"].isoformat() == moved[:10]


def _path_dates(landing: Path, feed_glob: str) -> set:
    return {datetime.strptime(p.name.removeprefix("date="), "%Y-%m-%d").date() for p in landing.glob(feed_glob)}


def test_snapshot_dates_are_the_dates_the_landing_paths_state(ingested, landing):
    """A KST date in a path (date=2026-11-01, quarter=2026Q3) must not come out as the UTC day before."""
    settings, _ = ingested
    registry_days = _path_dates(landing, "registry/date=*")
    assert {r["valid_from"] for r in read_rows(settings, "silver.residents")} <= registry_days
    assert {r["snapshot_date"] for r in read_rows(settings, "restricted.resident_registry")} == {max(registry_days)}
    welfare_days = _path_dates(landing, "policies/national/date=*") | _path_dates(landing, "policies/provincial/date=*")
    welfare = {r["snapshot_date"] for r in read_rows(settings, "silver.welfare_services")}
    assert max(welfare_days) in welfare and welfare <= welfare_days  # latest delivery wins per service
    quarter_starts = set()
    for p in landing.glob("industry/quarter=*"):
        year, quarter = p.name.removeprefix("quarter=").split("Q")
        quarter_starts.add(datetime(int(year), 3 * int(quarter) - 2, 1).date())
    companies = read_rows(settings, "silver.companies")
    assert {r["valid_from"] for r in companies} == quarter_starts
    assert {r["valid_to"] for r in companies if r["valid_to"]} <= quarter_starts
