"""Daily batch scoring: features for one date → gold.risk_scores and gold.risk_alerts.

For every resident with a feature row that day: the current model's calibrated probability, the grade
from it (cut points stored in the model's manifest, see models.train.grade_thresholds), the rules' hard
overrides on top (models.rules.apply_overrides), and the three features that pushed the score up most
(LightGBM SHAP contributions, in log-odds) with their values. Residents at 주의 or above become alerts
with the next step on the escalation ladder and an id that is the same on every rerun.

Idempotent: each run replaces exactly that date's partition of both tables with rows sorted by
resident_key, so rerunning a date leaves the tables' contents unchanged.

Consistent: two Delta tables cannot share a commit, so the alert decision (alert id, next step) is part of
the score row and commits with it. gold.risk_alerts is then rewritten from those rows; a run killed between
the two writes leaves scores whose alerts are missing only from the projection, and the next scoring run
(or `repair_alerts`) rewrites it before anything else — the gold gate refuses the pair until then.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import uuid
from collections import Counter
from datetime import date

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from gglake import delta, lease
from gglake.catalog import table
from gglake.settings import Settings
from models import rules
from models.card import load_current
from models.train import FEATURES, design_matrix, rule_overrides

log = logging.getLogger(__name__)

SCORES = table("gold.risk_scores")
RISK_LEASE = "gold:risk"  # one scoring run at a time writes the score/alert pair
ALERTS = table("gold.risk_alerts")
TOP_FACTORS = 3


def alert_id(resident_key: str, score_date: date) -> str:
    """Stable across reruns: the first 20 hex characters of sha256("<resident_key>|<YYYY-MM-DD>")."""
    return hashlib.sha256(f"{resident_key}|{score_date.isoformat()}".encode()).hexdigest()[:20]


def _value(raw):
    if isinstance(raw, float):
        return None if not math.isfinite(raw) else round(raw, 4)
    return raw


def top_factors(contrib: np.ndarray, names: list[str], raw_rows: list[tuple], x: np.ndarray) -> list[str]:
    """Per row: JSON list of up to TOP_FACTORS {feature, value, contribution} with positive contributions,
    largest first (ties by feature name). `value` is the feature as stored (categories as their label),
    null where the model saw it as missing."""
    out = []
    for row_contrib, raw, seen in zip(contrib, raw_rows, x):
        ranked = sorted((i for i in range(len(names)) if row_contrib[i] > 0), key=lambda i: (-row_contrib[i], names[i]))[
            :TOP_FACTORS
        ]
        factors = [
            {
                "feature": names[i],
                "value": None if np.isnan(seen[i]) else _value(raw[i]),
                "contribution": round(float(row_contrib[i]), 4),
            }
            for i in ranked
        ]
        out.append(json.dumps(factors, ensure_ascii=False, separators=(",", ":")))
    return out


def _replace_partition(settings: Settings, target, rows: pa.Table, score_date: date) -> None:
    delta.replace_where(settings, target, rows, f"score_date = '{score_date.isoformat()}'")


def alerts_of(scores: pa.Table) -> pa.Table:
    """gold.risk_alerts rows: the scored rows that carry an alert, in the alerts table's columns."""
    picked = scores.filter(pc.is_valid(scores.column("alert_id")))
    return picked.select(ALERTS.column_names).cast(ALERTS.arrow_schema())


def repair_alerts(settings: Settings) -> list[date]:
    """Rewrite gold.risk_alerts for every date whose alerts differ from the alerts recorded with the scores
    (a run that died between the two writes); returns the dates repaired."""
    recorded = delta.read(settings, SCORES, columns=["score_date", "alert_id"]).filter(pc.is_valid(pc.field("alert_id")))
    written = delta.read(settings, ALERTS, columns=["score_date", "alert_id"])

    def by_date(t: pa.Table) -> dict[date, set[str]]:
        out: dict[date, set[str]] = {}
        for day, aid in zip(t.column("score_date").to_pylist(), t.column("alert_id").to_pylist()):
            out.setdefault(day, set()).add(aid)
        return out

    want, have = by_date(recorded), by_date(written)
    stale = sorted(d for d in set(want) | set(have) if want.get(d) != have.get(d))
    for day in stale:
        rows = delta.read(settings, SCORES, filters=[("score_date", "=", day)]).sort_by("resident_key")
        _replace_partition(settings, ALERTS, alerts_of(rows), day)
        log.warning("gold.risk_alerts for %s did not match gold.risk_scores (an interrupted run): rewritten", day)
    return stale


def score(settings: Settings, score_date: date, *, run_id: str | None = None, wait_seconds: float = 0.0) -> dict:
    """Score every resident with features on `score_date`; replace that date in gold.risk_scores/risk_alerts."""
    model = load_current(settings)
    frame = pl.from_arrow(delta.read(settings, FEATURES, filters=[("feature_date", "=", score_date)]))
    if frame.is_empty():
        raise ValueError(f"no features for {score_date.isoformat()}: run `gglake features` first")
    frame = frame.sort("resident_key")
    names = model.features
    x, masked = design_matrix(frame, names)
    margin = model.booster.predict(x, raw_score=True, num_threads=1)
    probability = model.calibrator.predict(margin)
    contrib = model.booster.predict(x, pred_contrib=True, num_threads=1)[:, : len(names)]

    model_grades = [rules.grade_from_probability(float(p), model.thresholds) for p in probability]
    graded = rule_overrides(frame, model_grades)
    raw_rows = frame.select(names).rows()
    factors = top_factors(contrib, names, raw_rows, x)
    keys = frame["resident_key"].to_list()

    alert_at = rules.grade_rank(rules.ALERT_FROM)
    alerted = [rules.grade_rank(g) >= alert_at for g, _ in graded]
    steps = [rules.next_step(g, flags) if a else None for (g, flags), a in zip(graded, alerted)]
    scores = pa.table(
        {
            "resident_key": keys,
            "score_date": [score_date] * len(keys),
            "probability": probability.astype(np.float64),
            "model_grade": model_grades,
            "grade": [g for g, _ in graded],
            "rule_flags": [",".join(flags) for _, flags in graded],
            "top_factors": factors,
            "model_version": [model.version] * len(keys),
            "alert_id": [alert_id(k, score_date) if a else None for k, a in zip(keys, alerted)],
            "next_step": steps,
        },
        schema=SCORES.arrow_schema(),
    )
    run_id = run_id or f"score-{score_date.isoformat()}-{uuid.uuid4().hex[:12]}"
    with lease.hold(settings, [RISK_LEASE], run_id, "score", wait_seconds):
        repair_alerts(settings)
        delta.ensure_table(settings, ALERTS)  # exists before any score refers to it, even if this run dies next
        _replace_partition(settings, SCORES, scores, score_date)
        _replace_partition(settings, ALERTS, alerts_of(scores), score_date)
    steps = [s for s in steps if s is not None]
    grades = Counter(g for g, _ in graded)
    return {
        "score_date": score_date.isoformat(),
        "model_version": model.version,
        "rows": len(keys),
        "alerts": len(steps),
        "grades": {g: grades.get(g, 0) for g in rules.GRADES},
        "next_steps": dict(sorted(Counter(steps).items())),
        "masked_impossible_values": masked,
    }
