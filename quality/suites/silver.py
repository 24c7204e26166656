"""Silver (and the restricted registry): typed, deduplicated, pseudonymised tables.

Silver quarantines impossible values, unknown codes and unknown residents, so any such row found here
is a pipeline bug: those checks are critical. Freshness and volume bands are warnings; an empty day of
care calls or sensor readings while history has rows is critical.
"""

from __future__ import annotations

import great_expectations.expectations as gxe

from gglake import domain
from gglake.catalog import table
from quality.builders import (
    between,
    columns_match,
    freshness,
    in_set,
    key_checks,
    not_null,
    one_current_version,
    references,
    unexpected_rows,
    volume,
)
from quality.checks import Check, TableSuite, register

RESIDENTS = "silver.residents"


def _base(name: str) -> list[Check]:
    t = table(name)
    return [columns_match(t), *key_checks(t.keys)]


def vitals_within_limits() -> list[Check]:
    """Each metric's value within its physical limits (domain.SENSOR_METRICS); diastolic for blood pressure."""
    checks = [
        between("value", low, high, "critical", when=("metric", metric))
        for metric, (_devices, _unit, low, high) in domain.SENSOR_METRICS.items()
    ]
    low, high = domain.DIASTOLIC_RANGE
    checks.append(between("diastolic", low, high, "critical", when=("metric", "blood_pressure")))
    return checks


SENSOR_READINGS = TableSuite(
    "silver.sensor_readings",
    "silver",
    (
        *_base("silver.sensor_readings"),
        *not_null(("resident_key", "metric", "value", "measured_at", "reading_date")),
        in_set("metric", domain.SENSOR_METRICS),
        in_set("device_type", domain.DEVICE_TYPES),
        between("reading_hour", 0, 23),
        *vitals_within_limits(),
        references("resident_key", RESIDENTS),
        freshness(),
        *volume(),
    ),
)

CARE_CALLS = TableSuite(
    "silver.care_calls",
    "silver",
    (
        *_base("silver.care_calls"),
        *not_null(("resident_key", "vendor", "outcome", "answered", "scheduled_at", "call_date")),
        in_set("vendor", domain.CALL_VENDORS),
        in_set("outcome", domain.CALL_OUTCOMES),
        in_set("escalation", domain.ESCALATIONS),
        between("duration_sec", 0, 4 * 3600),
        between("sentiment", -1, 1),
        unexpected_rows(
            "answered_matches_outcome",
            "SELECT call_id, outcome, answered FROM {batch} WHERE answered <> (outcome = 'answered')",
            "warning",
            description="answered is true exactly when the outcome is 'answered'",
        ),
        references("resident_key", RESIDENTS),
        freshness(),
        # AI calls follow a weekly rhythm (each resident on a weekday): compare with the same weekday.
        *volume(same_weekday_weeks=4),
    ),
)

VISIT_OUTCOMES = TableSuite(
    "silver.visit_outcomes",
    "silver",
    (
        *_base("silver.visit_outcomes"),
        *not_null(("resident_key", "visit_date", "outcome", "is_adverse")),
        in_set("reason", domain.VISIT_REASONS),
        in_set("outcome", domain.VISIT_OUTCOMES),
        unexpected_rows(
            "is_adverse_matches_outcome",
            "SELECT visit_id, outcome, is_adverse FROM {batch} WHERE is_adverse <> (outcome IN ("
            + ", ".join(f"'{o}'" for o in domain.ADVERSE_VISIT_OUTCOMES)
            + "))",
            "critical",
            description="is_adverse is true exactly for adverse outcomes (the model's label)",
        ),
        references("resident_key", RESIDENTS),
    ),
)

RESIDENTS_SUITE = TableSuite(
    RESIDENTS,
    "silver",
    (
        *_base(RESIDENTS),
        one_current_version("resident_key"),
        in_set("status", domain.RESIDENT_STATUSES),
        in_set("sex", ("F", "M")),
        between("birth_year", 1900, 2030),
        Check(
            "valid_to_after_valid_from",
            "critical",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="valid_to", column_B="valid_from", ignore_row_if="either_value_is_missing"
            ),
            description="SCD2 versions end after they start",
        ),
    ),
)

COMPANIES = TableSuite(
    "silver.companies",
    "silver",
    (
        *_base("silver.companies"),
        one_current_version("company_id"),
        in_set("sector", domain.SECTORS),
        in_set("status", domain.COMPANY_STATUSES),
        between("employees", 0, None),
        between("revenue_krw_mn", 0, None, "warning"),
    ),
)

WELFARE = TableSuite(
    "silver.welfare_services",
    "silver",
    (
        *_base("silver.welfare_services"),
        *not_null(("source", "service_id", "service_name")),
        in_set("source", ("national", "provincial")),
    ),
)

RANKING = TableSuite(
    "silver.policy_search_ranking",
    "silver",
    (
        *_base("silver.policy_search_ranking"),
        between("rank", 1, None),
        between("search_count", 0, None),
    ),
)

# The registry holds direct identifiers: its checks never sample them (failing rows are shown by their
# pseudonymous resident_key, and GX's SUMMARY result of an unexpected-rows query carries counts only).
REGISTRY = TableSuite(
    "restricted.resident_registry",
    "silver",
    (
        columns_match(table("restricted.resident_registry")),
        *not_null(("resident_id", "resident_key"), scope="table"),
        unexpected_rows(
            "keys_unique",
            "SELECT resident_key FROM {batch} WHERE resident_id IN "
            "(SELECT resident_id FROM {batch} GROUP BY resident_id HAVING COUNT(*) > 1)",
            scope="table",
            description="resident_id is unique (failing rows shown by resident_key)",
        ),
        Check(
            "resident_key_unique",
            "critical",
            gxe.ExpectColumnValuesToBeUnique(column="resident_key"),
            scope="table",
            description="resident_key is unique",
        ),
        references("resident_key", RESIDENTS),
    ),
)

register(SENSOR_READINGS, CARE_CALLS, VISIT_OUTCOMES, RESIDENTS_SUITE, COMPANIES, WELFARE, RANKING, REGISTRY)
