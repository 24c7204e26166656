"""Daily features: exact values on a hand-checked fixture, idempotent reruns, and the CPU fallback."""

from __future__ import annotations

import functools
import math
from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest
from conftest import DAYS, START, make_settings, write_rows
from polars.testing import assert_frame_equal

from gglake import delta
from gglake.catalog import table
from models.features import build_features, resolve_device

KST = timezone(timedelta(hours=9))
A, B, C = "a" * 32, "b" * 32, "c" * 32
FIRST = date(2026, 10, 1)
LAST = date(2026, 10, 10)


def _reading(key: str, day: date, hour: int, metric: str, value: float, diastolic: float | None = None, n: int = 0):
    at = datetime(day.year, day.month, day.day, hour, n, tzinfo=KST)
    device = {"steps": "wearable", "heart_rate": "wearable", "blood_pressure": "bp_monitor", "spo2": "pulse_oximeter"}
    return {
        "event_id": f"{key[:1]}-{metric}-{at.isoformat()}",
        "resident_key": key,
        "device_type": device[metric],
        "metric": metric,
        "value": value,
        "diastolic": diastolic,
        "measured_at": at,
        "reading_hour": hour,
        "reading_date": day,
    }


@pytest.fixture(scope="module")
def hand_checked(tmp_path_factory):
    """Resident A: rising heart rate, a bad last day; resident B: enrolled, no devices, no calls."""
    settings = make_settings(tmp_path_factory.mktemp("features"))
    readings = []
    for i in range(10):
        day = FIRST + timedelta(days=i)
        readings += [_reading(A, day, 9, "heart_rate", 60 + i), _reading(A, day, 21, "heart_rate", 70 + i)]
        if i < 9:
            readings += [_reading(A, day, h, "steps", 100 + 10 * i) for h in range(8, 20)]
    readings += [
        _reading(A, LAST, 8, "steps", 100),
        _reading(A, LAST, 9, "steps", 100),
        _reading(A, LAST, 7, "blood_pressure", 185, 95),
        _reading(A, LAST, 19, "blood_pressure", 120, 80),
        _reading(A, LAST, 10, "spo2", 91),
    ]
    write_rows(settings, "silver.sensor_readings", readings)
    calls = [
        ("2026-10-07", True),
        ("2026-10-08", False),
        ("2026-10-09", False),
        ("2026-10-10", False),
    ]
    write_rows(
        settings,
        "silver.care_calls",
        [
            {
                "call_id": f"C{i}",
                "resident_key": A,
                "answered": answered,
                "outcome": "answered" if answered else "no_answer",
                "scheduled_at": datetime.fromisoformat(f"{d}T10:00:00+09:00"),
                "call_date": date.fromisoformat(d),
                "sentiment": 0.5 if answered else None,
                "keywords": "외로움" if answered else "",
            }
            for i, (d, answered) in enumerate(calls)
        ],
    )
    withdrawn_on = date(2026, 10, 5)
    person = {"birth_year": 1945, "district": "수원시", "living_alone": True, "enrolled_on": FIRST, "valid_from": FIRST}
    write_rows(
        settings,
        "silver.residents",
        [
            *({**person, "resident_key": k, "status": "active", "is_current": True} for k in (A, B)),
            {**person, "resident_key": C, "status": "active", "valid_to": withdrawn_on, "is_current": False},
            {**person, "resident_key": C, "status": "withdrawn", "valid_from": withdrawn_on, "is_current": True},
        ],
    )
    run = build_features(settings, FIRST, LAST, "cpu")
    rows = pl.read_delta(delta.location(settings, table("features.resident_daily")))
    return settings, run, {r["resident_key"]: r for r in rows.filter(pl.col("feature_date") == LAST).to_dicts()}, rows


def test_vitals_news2_and_blood_pressure_of_the_day(hand_checked):
    _, run, rows, all_rows = hand_checked
    a = rows[A]
    # C withdrew on 10-05: rows for the days enrolled (the labels need them), none after
    assert all_rows.filter(pl.col("resident_key") == C)["feature_date"].max() == date(2026, 10, 4)
    assert run.rows == 24 and run.residents == 3 and run.device == "cpu"  # A, B: 10 days; C: 4
    assert (a["hr_mean"], a["hr_min"], a["hr_max"], a["age"]) == (74.0, 69.0, 79.0, 81)
    assert a["hr_mean_7d"] == pytest.approx(71.0)  # mean of 68 … 74
    assert (a["sys_mean"], a["dia_mean"], a["sys_max"]) == (152.5, 87.5, 185.0)
    assert a["bp_category"] == "isolated_systolic"  # mean 152.5/87.5: systolic ≥140 with diastolic <90
    assert a["hypertensive_crisis"] is True  # one reading above 180
    assert (a["news2_spo2"], a["news2_sys"], a["news2_pulse"], a["news2_total"]) == (3, 0, 0, 3)
    assert a["news2_any_3"] is True and a["news2_risk"] == "low_medium"


def test_personal_baselines_and_activity(hand_checked):
    _, _, rows, _ = hand_checked
    a = rows[A]
    history = [65 + i for i in range(9)]  # daily heart-rate means of the 9 days before
    mean, std = sum(history) / 9, math.sqrt(sum((h - 69) ** 2 for h in history) / 8)
    assert a["hr_baseline_mean"] == pytest.approx(mean) and a["hr_baseline_std"] == pytest.approx(std)
    assert a["hr_z"] == pytest.approx((74 - mean) / std)
    steps = [12 * (100 + 10 * i) for i in range(9)]
    steps_mean = sum(steps) / 9
    steps_std = math.sqrt(sum((s - steps_mean) ** 2 for s in steps) / 8)
    assert a["steps"] == 200 and a["steps_z"] == pytest.approx((200 - steps_mean) / steps_std)
    assert a["no_activity_hours"] == 22 and a["longest_stationary_hours"] == 14  # active only 08–10 h
    assert a["readings"] == 7 and a["completeness"] == pytest.approx(7 / 14)


def test_calls_streak_and_answer_rate(hand_checked):
    _, _, rows, _ = hand_checked
    a = rows[A]
    assert a["calls_unanswered_streak"] == 3 and a["home_visit_flag"] is True
    assert a["answer_rate_7d"] == pytest.approx(0.25)
    assert a["kw_loneliness_7d"] == 1


def test_a_resident_without_devices_has_nulls_not_zeros(hand_checked):
    _, _, rows, _ = hand_checked
    b = rows[B]
    assert b["hr_mean"] is None and b["no_activity_hours"] is None and b["completeness"] is None
    assert b["calls_unanswered_streak"] == 0 and b["home_visit_flag"] is False and b["answer_rate_7d"] is None


@functools.cache
def gpu_usable() -> bool:
    """Whether cudf-polars and a CUDA device are usable here (tests adapt instead of assuming no GPU)."""
    try:
        return resolve_device("gpu") == "gpu"
    except RuntimeError:
        return False


def _features(settings) -> pl.DataFrame:
    return pl.read_delta(delta.location(settings, table("features.resident_daily"))).sort("feature_date", "resident_key")


def test_rerun_and_auto_device_give_the_same_rows(ingested, tmp_path):
    settings, _ = ingested
    own = make_settings(tmp_path / "lake")
    import shutil

    shutil.copytree(settings.home, own.home)
    end = START + timedelta(days=DAYS - 1)
    first = build_features(own, START, end, "cpu")
    cpu = _features(own)
    assert first.rows == cpu.height > 0
    again = build_features(own, START, end, "auto")  # the GPU when one is usable, else the CPU
    assert again.device == ("gpu" if gpu_usable() else "cpu")
    # the same rows on either device (the GPU's float reductions may differ in the last bits)
    assert_frame_equal(_features(own), cpu, check_exact=not gpu_usable())
    # an overlapping range replaces only its own dates
    build_features(own, end, end, "cpu")
    assert _features(own).equals(cpu)


@pytest.mark.skipif("gpu_usable()", reason="a GPU is usable here")
def test_gpu_request_without_a_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match="GPU engine is unavailable"):
        resolve_device("gpu")
