"""features.resident_daily: one row per enrolled resident per day, rates within 0–1, NEWS2 in range."""

from __future__ import annotations

from gglake import domain
from gglake.catalog import table
from models.rules import BP_CATEGORIES
from quality.builders import between, columns_match, freshness, in_set, key_checks, rates, references, volume
from quality.checks import TableSuite, register

_LIMITS = domain.SENSOR_METRICS
_VITALS = {
    "heart_rate": ("hr_mean", "hr_min", "hr_max"),
    "blood_pressure": ("sys_mean", "sys_min", "sys_max"),
    "spo2": ("spo2_mean", "spo2_min"),
    "body_temp": ("temp_max",),
    "resp_rate": ("resp_mean",),
    "stress_index": ("stress_mean",),
}

RESIDENT_DAILY = TableSuite(
    "features.resident_daily",
    "features",
    (
        columns_match(table("features.resident_daily")),
        *key_checks(table("features.resident_daily").keys),
        *rates(("completeness", "answer_rate_7d", "answer_rate_28d")),
        *(between(c, 0, 3) for c in ("news2_resp", "news2_spo2", "news2_sys", "news2_pulse", "news2_temp")),
        between("news2_total", 0, 15),
        in_set("news2_risk", ("low", "low_medium", "medium", "high")),
        in_set("bp_category", BP_CATEGORIES),
        *(between(c, _LIMITS[m][2], _LIMITS[m][3]) for m, cols in _VITALS.items() for c in cols),
        *(between(c, *domain.DIASTOLIC_RANGE) for c in ("dia_mean", "dia_max")),
        between("no_activity_hours", 0, 24),
        between("longest_stationary_hours", 0, 24),
        between("calls_unanswered_streak", 0, None),
        references("resident_key", "silver.residents"),
        freshness("critical"),
        *volume(),
    ),
)

register(RESIDENT_DAILY)
