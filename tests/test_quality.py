"""Quality gates (Great Expectations on the engine): clean data passes, planted bad batches stop the run."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import DAYS, START, make_settings, read_rows
from deltalake import DeltaTable, write_deltalake

from gglake import delta
from gglake.catalog import table
from quality import checks
from quality.builders import keys_suite
from quality.gates import QUALITY_RESULTS, QualityGateFailed, run_gate

RUN_DATE = START + timedelta(days=DAYS - 1)


@pytest.fixture
def lake(ingested, tmp_path: Path):
    """A private copy of the session's lakehouse (tests here plant bad data in it)."""
    settings, _ = ingested
    own = make_settings(tmp_path / "lakehouse")
    shutil.copytree(settings.home, own.home)
    return own


def _results(settings, run_id: str) -> list[dict]:
    return [r for r in delta.read(settings, QUALITY_RESULTS).to_pylist() if r["run_id"] == run_id]


def test_clean_lakehouse_passes_bronze_and_silver_gates_and_records_results(lake):
    from gglake.engine import spark_session

    with spark_session(lake) as spark:
        bronze = run_gate(lake, "bronze", RUN_DATE, spark)
        silver = run_gate(lake, "silver", RUN_DATE, spark)
    assert bronze.passed and silver.passed, [r.line() for r in bronze.failures + silver.failures]
    checked = {(r.table, r.check) for r in silver.results}
    for expected in [
        ("silver.care_calls", "keys_unique"),
        ("silver.care_calls", "volume_not_empty"),
        ("silver.care_calls", "freshness"),
        ("silver.sensor_readings", "range:value[heart_rate]"),
        ("silver.sensor_readings", "references:resident_key->silver.residents.resident_key"),
        ("silver.residents", "scd2_one_current"),
        ("restricted.resident_registry", "keys_unique"),
    ]:
        assert expected in checked, expected
    for name in [t for t in checks.SUITES if t.startswith("bronze.")]:
        assert (name, "not_null:_batch_id") in {(r.table, r.check) for r in bronze.results}
    rows = _results(lake, silver.run_id)
    assert len(rows) == len(silver.results) and all(r["success"] for r in rows)
    assert {r["layer"] for r in rows} == {"silver"} and {r["run_date"] for r in rows} == {RUN_DATE}
    assert {r["severity"] for r in rows} == {"critical", "warning"}
    assert Path(silver.docs_index).is_file()
    assert "silver.care_calls" in Path(silver.docs_index).read_text()


def test_a_day_without_calls_fails_the_silver_gate_naming_table_and_expectation(lake):
    calls = DeltaTable(delta.location(lake, table("silver.care_calls")))
    calls.delete(f"call_date = '{RUN_DATE.isoformat()}'")

    with pytest.raises(QualityGateFailed) as failed:
        run_gate(lake, "silver", RUN_DATE)
    message = str(failed.value)
    assert "quality gate 'silver' failed" in message
    assert "silver.care_calls: volume_not_empty (expect_table_row_count_to_be_between)" in message
    result = failed.value.result
    assert [(r.table, r.check) for r in result.failures] == [("silver.care_calls", "volume_not_empty")]
    # the stale partition is also reported, as a warning
    assert ("silver.care_calls", "freshness") in {(r.table, r.check) for r in result.warnings}
    rows = {r["check_name"]: r for r in _results(lake, result.run_id) if r["table_name"] == "silver.care_calls"}
    assert rows["volume_not_empty"]["success"] is False and rows["volume_not_empty"]["observed_value"] == "0"
    assert rows["freshness"]["success"] is False and rows["keys_unique"]["success"] is True


def _write_gold(settings, day: date, residents: list[str], alerts: int) -> list[dict]:
    scores = [
        {
            "resident_key": key,
            "score_date": day,
            "probability": 0.4 if i < alerts else 0.01,
            "model_grade": "경계" if i < alerts else "정상",
            "grade": "경계" if i < alerts else "정상",
            "rule_flags": "",
            "top_factors": "[]",
            "model_version": "test",
            "alert_id": f"{key[:8]}-{day:%Y%m%d}" if i < alerts else None,
            "next_step": "monitoring_centre_call" if i < alerts else None,
        }
        for i, key in enumerate(residents)
    ]
    delta.append(settings, table("gold.risk_scores"), pa.Table.from_pylist(scores))
    rows = scores[:alerts]
    delta.ensure_table(settings, table("gold.risk_alerts"))  # scoring creates it before the first scores
    if rows:
        delta.append(settings, table("gold.risk_alerts"), pa.Table.from_pylist(rows))
    return rows


def test_duplicate_alert_key_fails_the_gold_gate_with_the_sample_value(lake):
    residents = sorted({r["resident_key"] for r in read_rows(lake, "silver.residents", ["resident_key"])})
    _write_gold(lake, RUN_DATE - timedelta(days=1), residents, alerts=3)
    alerts = _write_gold(lake, RUN_DATE, residents, alerts=3)
    assert run_gate(lake, "gold", RUN_DATE).passed

    delta.append(lake, table("gold.risk_alerts"), pa.Table.from_pylist(alerts[:1]))  # a replayed alert
    with pytest.raises(QualityGateFailed) as failed:
        run_gate(lake, "gold", RUN_DATE)
    message = str(failed.value)
    assert "gold.risk_alerts: keys_unique (unexpected_rows_expectation)" in message
    assert alerts[0]["alert_id"] in message  # the failing value itself
    (failure,) = failed.value.result.failures
    assert failure.samples == [alerts[0]["alert_id"]] and failure.unexpected_count == 2
    row = next(
        r
        for r in _results(lake, failed.value.result.run_id)
        if r["check_name"] == "keys_unique" and r["table_name"] == "gold.risk_alerts"
    )
    assert row["success"] is False and json.loads(row["sample_values"]) == [alerts[0]["alert_id"]]


def test_warnings_are_recorded_and_do_not_stop_the_run(lake):
    residents = sorted({r["resident_key"] for r in read_rows(lake, "silver.residents", ["resident_key"])})
    # yesterday 5 scores, today all residents (8x: above the volume band), and no alert on either day
    _write_gold(lake, RUN_DATE - timedelta(days=1), residents[:5], alerts=0)
    _write_gold(lake, RUN_DATE, residents, alerts=0)
    result = run_gate(lake, "gold", RUN_DATE)
    assert result.passed
    warned = {(r.table, r.check) for r in result.warnings}
    assert ("gold.risk_scores", "volume_within_band") in warned
    rows = _results(lake, result.run_id)
    assert {(r["table_name"], r["check_name"]) for r in rows if not r["success"]} == warned


def test_a_suite_built_from_declared_keys_gates_a_new_mart(lake):
    location = lake.path("gold", "mart_test")
    write_deltalake(location, pa.table({"k": ["a", "b", "b"], "v": [1, 2, 3]}))
    checks.register(keys_suite("gold.mart_test", ("k",), columns=("k", "v"), location="gold/mart_test"))
    try:
        with pytest.raises(QualityGateFailed) as failed:
            run_gate(lake, "gold", RUN_DATE, tables=["gold.mart_test"])
        assert "gold.mart_test: keys_unique (unexpected_rows_expectation)" in str(failed.value)
        assert '["b"]' in str(failed.value)
    finally:
        checks.SUITES.pop("gold.mart_test")


def test_impossible_vital_and_unknown_resident_fail_the_silver_gate(lake):
    bad = {
        "event_id": "planted-1",
        "resident_key": "no-such-resident",
        "device_id": "d1",
        "device_type": "wearable",
        "metric": "heart_rate",
        "value": 999.0,
        "diastolic": None,
        "unit": "bpm",
        "measured_at": datetime(RUN_DATE.year, RUN_DATE.month, RUN_DATE.day, 3, tzinfo=UTC),
        "reading_hour": 12,
        "firmware": "x",
        "reading_date": RUN_DATE,
        "_source_file": "planted",
        "_line": 1,
        "_batch_id": "planted",
        "_ingested_at": datetime.now(UTC),
    }
    delta.append(lake, table("silver.sensor_readings"), pa.Table.from_pylist([bad]))
    with pytest.raises(QualityGateFailed) as failed:
        run_gate(lake, "silver", RUN_DATE, tables=["silver.sensor_readings"])
    message = str(failed.value)
    assert "silver.sensor_readings: range:value[heart_rate] (expect_column_values_to_be_between)" in message
    assert "sample: [999.0]" in message
    assert "references:resident_key->silver.residents.resident_key (unexpected_rows_expectation)" in message
    assert '"no-such-resident"' in message


def test_cli_command_exits_1_with_the_message_on_a_critical_failure(lake, monkeypatch):
    from click.testing import CliRunner

    from models.features import build_features
    from quality.cli import quality

    build_features(lake, START, RUN_DATE, "cpu")
    monkeypatch.setenv("GGLAKE_HOME", lake.home)
    ok = CliRunner().invoke(quality, ["--layer", "features", "--layer", "silver", "--date", RUN_DATE.isoformat()])
    assert ok.exit_code == 0, ok.output
    assert "quality gate 'features' for 2026-11-03" in ok.output and "quality gate 'silver'" in ok.output
    assert "0 critical failures" in ok.output

    DeltaTable(delta.location(lake, table("silver.care_calls"))).delete(f"call_date = '{RUN_DATE.isoformat()}'")
    failed = CliRunner().invoke(quality, ["--layer", "silver", "--date", RUN_DATE.isoformat(), "--no-docs"])
    assert failed.exit_code == 1
    assert "silver.care_calls: volume_not_empty" in failed.output


class _Rows:
    def __init__(self, counts: dict[date, int]):
        self.counts = counts

    def sql(self, query: str):
        return self

    def collect(self):
        return [{"day": d, "n": n} for d, n in self.counts.items()]


@pytest.mark.parametrize(
    ("run", "counts", "expected"),
    [
        # a Tuesday: same weekday a week ago wins over the trailing days
        (date(2026, 11, 10), {date(2026, 11, 3): 30, date(2026, 11, 9): 10}, 30),
        # a Tuesday with no Tuesday yet: trailing weekdays, partial days (< 10 % of the busiest) left out
        (date(2026, 11, 3), {date(2026, 10, 28): 2, date(2026, 10, 30): 20, date(2026, 11, 2): 40}, 30),
        # a Saturday with no Saturday yet and only weekdays before: no comparable day, no volume check
        (date(2026, 11, 7), {date(2026, 11, 5): 20, date(2026, 11, 6): 40}, None),
    ],
)
def test_volume_baseline_follows_the_weekly_rhythm(run, counts, expected):
    from quality.builders import daily_baseline
    from quality.checks import CheckContext

    ctx = CheckContext(_Rows(counts), "silver.care_calls", run, "call_date", whole=None)
    assert daily_baseline(ctx, days=7, same_weekday_weeks=4)[0] == expected
