"""Gold: risk scores and alerts (and, later, the dbt marts: add them with `register(keys_suite(...))`)."""

from __future__ import annotations

from gglake.catalog import GOLD_MARTS, table
from models.rules import ALERT_GRADES, ESCALATION_LADDER, GRADES
from quality.builders import (
    between,
    columns_match,
    freshness,
    in_set,
    key_checks,
    keys_suite,
    not_null,
    references,
    unexpected_rows,
    volume,
)
from quality.checks import TableSuite, register

RISK_SCORES = TableSuite(
    "gold.risk_scores",
    "gold",
    (
        columns_match(table("gold.risk_scores")),
        *key_checks(table("gold.risk_scores").keys),
        *not_null(("probability", "grade", "model_version")),
        between("probability", 0, 1),
        in_set("grade", GRADES),
        in_set("model_grade", GRADES),
        references("resident_key", "silver.residents"),
        # the alert decided with each score reached gold.risk_alerts (no run died between the two writes)
        references("alert_id", "gold.risk_alerts"),
        freshness(),
        *volume(),
    ),
)

RISK_ALERTS = TableSuite(
    "gold.risk_alerts",
    "gold",
    (
        columns_match(table("gold.risk_alerts")),
        *key_checks(table("gold.risk_alerts").keys),
        *not_null(("resident_key", "score_date", "grade", "next_step")),
        between("probability", 0, 1),
        in_set("grade", ALERT_GRADES),
        in_set("next_step", ESCALATION_LADDER),
        unexpected_rows(
            "alert_has_score",
            "SELECT DISTINCT b.resident_key, b.score_date FROM {batch} b LEFT ANTI JOIN gold.risk_scores s "
            "ON b.resident_key = s.resident_key AND b.score_date = s.score_date",
            "critical",
            description="every alert has its row in gold.risk_scores",
        ),
    ),
    required=False,  # a day may legitimately have no alert, and the table exists only after the first one
)

register(RISK_SCORES, RISK_ALERTS)


# dbt marts (schemas and tests live in dbt/models/marts/_marts.yml): the gate re-checks each mart's
# grain key so a duplicated or missing key stops the pipeline even when dbt's own tests were skipped.
MART_RANGES = {"fct_care_calls_daily": [between("answer_rate", 0, 1, scope="table")]}
register(
    *(
        keys_suite(mart.name, mart.keys, location=mart.relative_path, extra=MART_RANGES.get(mart.short_name, ()))
        for mart in GOLD_MARTS
        if mart.keys  # the grain key dbt declares in _marts.yml (the districts seed has none)
    )
)
