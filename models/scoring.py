"""Daily batch scoring: features for one date → gold.risk_scores and gold.risk_alerts.

For every resident with a feature row that day: the current model's calibrated probability, the grade
from it (cut points stored in the model's manifest, see models.train.grade_thresholds), the rules' hard
overrides on top (models.rules.apply_overrides), and the three features that pushed the score up most
(LightGBM SHAP contributions, in log-odds) with their values. Residents at 주의 or above become alerts
with the next step on the escalation ladder and an id that is the same on every rerun.

Idempotent: each run replaces exactly that date's partition of both tables with rows sorted by
resident_key, so rerunning a date leaves the tables' contents unchanged.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from datetime import date

import numpy as np
import polars as pl
import pyarrow as pa

from gglake import delta
from gglake.catalog import table
from gglake.settings import Settings
from models import rules
from models.card import load_current
from models.train import FEATURES, design_matrix, rule_overrides

SCORES = table("gold.risk_scores")
ALERTS = table("gold.risk_alerts")
ALERT_FROM = "주의"
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


def score(settings: Settings, score_date: date) -> dict:
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
        },
        schema=SCORES.arrow_schema(),
    )
    alert_at = rules.grade_rank(ALERT_FROM)
    picked = [i for i, (g, _) in enumerate(graded) if rules.grade_rank(g) >= alert_at]
    steps = [rules.next_step(graded[i][0], graded[i][1]) for i in picked]
    alerts = pa.table(
        {
            "alert_id": [alert_id(keys[i], score_date) for i in picked],
            "resident_key": [keys[i] for i in picked],
            "score_date": [score_date] * len(picked),
            "grade": [graded[i][0] for i in picked],
            "probability": [float(probability[i]) for i in picked],
            "rule_flags": [",".join(graded[i][1]) for i in picked],
            "next_step": steps,
            "top_factors": [factors[i] for i in picked],
            "model_version": [model.version] * len(picked),
        },
        schema=ALERTS.arrow_schema(),
    )
    _replace_partition(settings, SCORES, scores, score_date)
    _replace_partition(settings, ALERTS, alerts, score_date)
    grades = Counter(g for g, _ in graded)
    return {
        "score_date": score_date.isoformat(),
        "model_version": model.version,
        "rows": len(keys),
        "alerts": len(picked),
        "grades": {g: grades.get(g, 0) for g in rules.GRADES},
        "next_steps": dict(sorted(Counter(steps).items())),
        "masked_impossible_values": masked,
    }
