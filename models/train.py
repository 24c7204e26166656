"""Train the care-risk model: LightGBM on daily features, calibrated, evaluated on a held-out future period.

Label: a feature row (resident, day d) is positive when silver.visit_outcomes has an adverse outcome
(`is_adverse`) for that resident with visit_date in (d, d + horizon]. A row is labelled only when
d + horizon <= the last visit_date in silver (later outcomes cannot be known yet: left out). Rows after
a resident's adverse outcome are kept: people come back from hospital and a new episode can follow
(the generator's lonely-death residents simply stop producing rows).

Split by time: the first 65 % of the labelled dates train, then an embargo of `horizon` days (so no
training row's label window reaches into validation), then validation. 20 % of the residents (a fixed
hash of resident_key) are never used for training or calibration; validation metrics are reported on
every validation row and separately on those unseen residents.

Within the training period, a 5-fold cross-validation grouped by resident (episodes never straddle
folds) picks the number of boosting rounds and gives out-of-fold margins on which the probability
calibrator is fitted; the model is then refitted on the whole training period. (A separate calibration
period after another embargo was tried first: on 400 residents x 60 days it held 0-3 episodes, too few
to calibrate or stop on.)

`train()` writes the versioned artifacts (see models.card) and makes them current; the version is a
hash of the data fingerprint and the parameters, so retraining on the same data gives the same one.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from gglake import delta
from gglake.catalog import table
from gglake.domain import DIASTOLIC_RANGE, SENSOR_METRICS
from gglake.settings import Settings
from models import card as cards
from models import rules

FEATURES = table("features.resident_daily")
VISITS = table("silver.visit_outcomes")

HORIZON_DAYS = 7
CAPACITY_SHARE = 0.02
TRAIN_SHARE = 0.65  # of the labelled dates after the embargo; validation gets the rest
MIN_SPLIT_DAYS = (14, 5)  # train, validation
HOLDOUT_SHARE = 0.20  # residents kept out of training and calibration entirely
HOLDOUT_SALT = "risk-holdout-v1"
FOLDS = 5  # resident-grouped folds: round count and out-of-fold margins for the calibrator
# Fewest residents with an adverse outcome in the training rows: the stratified folds deal them one per
# fold, so every fold is stopped and calibrated on held-out positives (with one, its fold's model never
# sees a positive, the out-of-fold margins hold none and the calibrator cannot be fitted at all).
MIN_POSITIVE_RESIDENTS = FOLDS
MIN_ROUNDS = 20
SCHEMA_VERSION = 1  # bump when the feature encoding or label definition changes

PARAMS: dict = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 50,  # a leaf needs rows from several episodes (an episode gives ~7 positive rows)
    "min_sum_hessian_in_leaf": 1e-3,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    # no scale_pos_weight: an unweighted objective keeps the raw margin close to calibrated already,
    # and ranking metrics (what the alert list uses) are not helped by re-weighting
    "seed": 20260901,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,  # one thread: same numbers, and no OpenMP spin-waiting on a busy machine
    "verbose": -1,
}
NUM_BOOST_ROUND = 300

# Categoricals: district is dropped (31 levels, no plausible causal link, invites memorising places);
# the two clinical categories are ordinal by severity.
# Resident-level "who is this" columns are dropped too: age, personal baselines (mean/std) and 7/30-day
# level averages barely change from day to day, so with a few dozen training episodes they let the model
# memorise which residents had an episode (seen on generated data: the same healthy residents topped the
# alert list every day on steps_30d, age and power_baseline_mean). The person-relative signal stays in the
# z-scores, the day's own values and the NEWS2/BP/activity/call features.
RESIDENT_LEVEL = (
    "age",
    "hr_mean_7d", "hr_mean_30d", "sys_mean_7d", "sys_mean_30d", "spo2_mean_7d", "steps_7d", "steps_30d",
    "hr_baseline_mean", "hr_baseline_std", "steps_baseline_mean", "power_baseline_mean", "stress_baseline_mean",
)  # fmt: skip
DROPPED = ("resident_key", "feature_date", "district", *RESIDENT_LEVEL)
ORDINAL: dict[str, dict[str, int]] = {
    "news2_risk": {"low": 0, "low_medium": 1, "medium": 2, "high": 3},
    "bp_category": {"normal": 0, "elevated": 1, "prehypertension": 2, "stage1": 3, "isolated_systolic": 3, "stage2": 4},
}


def _limits(metric: str) -> tuple[float, float]:
    _, _, low, high = SENSOR_METRICS[metric]
    return float(low), float(high)


# Defence in depth: silver quarantines physically impossible readings, so features should never hold one;
# should one get through, the model does not see it (it becomes missing) and scoring reports how many.
VITAL_LIMITS: dict[str, tuple[float, float]] = {
    **{c: _limits("heart_rate") for c in ("hr_mean", "hr_min", "hr_max", "hr_mean_7d", "hr_mean_30d")},
    **{c: _limits("blood_pressure") for c in ("sys_mean", "sys_min", "sys_max", "sys_mean_7d", "sys_mean_30d")},
    **{c: (float(DIASTOLIC_RANGE[0]), float(DIASTOLIC_RANGE[1])) for c in ("dia_mean", "dia_max")},
    **{c: _limits("spo2") for c in ("spo2_mean", "spo2_min", "spo2_mean_7d")},
    "temp_max": _limits("body_temp"),
    "resp_mean": _limits("resp_rate"),
    "stress_mean": _limits("stress_index"),
}

RULES_FORMULA = (
    "rank of the grade that the hard rules alone give (models.rules.apply_overrides starting from 정상: "
    "hypertensive crisis → 심각, a NEWS2 sub-score of 3 → 경계, no activity ≥ 12 h → 경계 (≥ 24 h → 심각), "
    "3 unanswered calls in a row → 주의; 정상=0 … 심각=4) + NEWS2 total / 16 as a tie-breaker "
    "(missing NEWS2 counts 0). Its probability (for ECE/Brier) is the positive rate of each score level on "
    "the training rows (isotonic fit)."
)


def feature_columns() -> list[str]:
    """Model inputs: every numeric/boolean feature column, plus the ordinal-encoded clinical categories."""
    kinds = {"double", "int", "bigint", "boolean"}
    return [name for name, kind in FEATURES.columns if name not in DROPPED and (kind in kinds or name in ORDINAL)]


def design_matrix(frame: pl.DataFrame, features: list[str]) -> tuple[np.ndarray, int]:
    """(X as float64 with NaN for missing, number of physically impossible values masked)."""
    exprs, masked = [], 0
    for name in features:
        col = pl.col(name)
        if name in ORDINAL:
            expr = col.replace_strict(ORDINAL[name], default=None, return_dtype=pl.Float64)
        else:
            expr = col.cast(pl.Float64)
            if name in VITAL_LIMITS:
                low, high = VITAL_LIMITS[name]
                bad = frame.select(((expr < low) | (expr > high)).sum()).item()
                masked += int(bad or 0)
                expr = pl.when(expr.is_between(low, high)).then(expr)
        exprs.append(expr.alias(name))
    x = frame.select(exprs).to_numpy().astype(np.float64)
    return np.where(np.isfinite(x), x, np.nan), masked


def holdout_resident(key: str) -> bool:
    digest = hashlib.sha256(f"{HOLDOUT_SALT}|{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < HOLDOUT_SHARE * 10_000


def _key_hash(key: str) -> str:
    return hashlib.sha256(f"fold|{key}".encode()).hexdigest()


def resident_folds(keys: list[str], labels: np.ndarray) -> np.ndarray:
    """Fold per row, grouped by resident and stratified: residents with a positive row are dealt round-robin
    (in hash order), the others likewise, so every fold gets its share of the few episodes."""
    positive = {k for k, y in zip(keys, labels) if y}
    fold: dict[str, int] = {}
    for group in (sorted(positive, key=_key_hash), sorted(set(keys) - positive, key=_key_hash)):
        for i, key in enumerate(group):
            fold[key] = i % FOLDS
    return np.array([fold[k] for k in keys], dtype=np.int64)


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def rule_overrides(frame: pl.DataFrame, grades: list[str]) -> list[tuple[str, list[str]]]:
    """apply_overrides row by row (a few thousand rows a day): (final grade, flags) per row."""
    cols = frame.select("hypertensive_crisis", "news2_any_3", "no_activity_hours", "calls_unanswered_streak").rows()
    return [
        rules.apply_overrides(
            grade,
            hypertensive_crisis=crisis,
            any_news2_3=news2_3,
            no_activity_hours=idle,
            unanswered_streak=streak,
        )
        for grade, (crisis, news2_3, idle, streak) in zip(grades, cols)
    ]


def rules_score(frame: pl.DataFrame) -> np.ndarray:
    graded = rule_overrides(frame, [rules.GRADES[0]] * frame.height)
    rank = np.array([rules.grade_rank(g) for g, _ in graded], dtype=np.float64)
    news2 = frame["news2_total"].cast(pl.Float64).fill_null(0).to_numpy()
    return rank + news2 / 16.0


def labelled_rows(features: pl.DataFrame, visits: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """Feature rows with `label` (0/1), only those whose whole label window is already observed."""
    if visits.is_empty():
        return features.head(0).with_columns(pl.lit(0, pl.Int8).alias("label"))
    last_visit = visits["visit_date"].max()
    rows = features.filter(pl.col("feature_date") + timedelta(days=horizon) <= last_visit)
    adverse = visits.filter(pl.col("is_adverse").fill_null(False)).select("resident_key", "visit_date").unique()
    hits = (
        rows.select("resident_key", "feature_date")
        .join(adverse, on="resident_key", how="inner")
        .filter(
            (pl.col("visit_date") > pl.col("feature_date"))
            & (pl.col("visit_date") <= pl.col("feature_date") + timedelta(days=horizon))
        )
        .select("resident_key", "feature_date")
        .unique()
        .with_columns(pl.lit(1, pl.Int8).alias("label"))
    )
    return (
        rows.join(hits, on=["resident_key", "feature_date"], how="left")
        .with_columns(pl.col("label").fill_null(0))
        .sort("feature_date", "resident_key")
    )


def split_windows(dates: list[date], horizon: int) -> dict[str, tuple[date, date]]:
    """Consecutive date windows train | embargo of `horizon` days | validation over the labelled dates."""
    usable = len(dates) - horizon
    n_train = round(usable * TRAIN_SHARE)
    n_val = usable - n_train
    if n_train < MIN_SPLIT_DAYS[0] or n_val < MIN_SPLIT_DAYS[1]:
        need = sum(MIN_SPLIT_DAYS) + horizon
        raise ValueError(
            f"not enough labelled history: {len(dates)} labelled days, need at least {need} "
            f"(horizon {horizon} days + embargo); build features and ingest visits for a longer period"
        )
    return {"train": (dates[0], dates[n_train - 1]), "validation": (dates[n_train + horizon], dates[-1])}


def _check_positives(train_rows: pl.DataFrame, window: tuple[date, date]) -> None:
    """Refuse, before any fitting, training rows with too few adverse outcomes for the folds and the calibrator."""
    positives = train_rows.filter(pl.col("label") == 1)
    found = positives["resident_key"].n_unique()
    if found < MIN_POSITIVE_RESIDENTS:
        start, end = window
        raise ValueError(
            f"training needs adverse visit outcomes of at least {MIN_POSITIVE_RESIDENTS} residents (one per "
            f"cross-validation fold) in the training window {start.isoformat()} … {end.isoformat()}, found {found} "
            f"({positives.height} positive resident-days; held-out residents not counted): "
            "ingest more days of visit outcomes"
        )


def _calibration_cv(margin: np.ndarray, y: np.ndarray, folds: np.ndarray) -> dict[str, dict[str, float]]:
    """ECE and PR-AUC of each method, each fold's margins calibrated by a fit on the other folds."""
    from sklearn.metrics import average_precision_score

    held_out = {m: np.full(len(y), np.nan) for m in ("platt", "isotonic")}
    for f in range(FOLDS):
        test, fit = folds == f, folds != f
        if not test.any() or len(np.unique(y[fit])) < 2:
            continue
        for method in held_out:
            held_out[method][test] = _fit_calibrator(method, margin[fit], y[fit]).predict(margin[test])
    done = ~np.isnan(held_out["platt"])
    both = 0 < y[done].sum() < done.sum()
    return {
        m: {
            "ece": cards.expected_calibration_error(y[done], p[done]),
            "pr_auc": float(average_precision_score(y[done], p[done])) if both else math.nan,
        }
        for m, p in held_out.items()
    }


def _fit_calibrator(method: str, margin: np.ndarray, y: np.ndarray) -> cards.Calibrator:
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), y)
        a, b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        if a <= 0:  # a calibrator must never invert the ranking: no usable signal → the base rate for all
            a, b = 0.0, _logit(float(np.mean(y)))
        return cards.Calibrator("platt", a=a, b=b)
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(margin, y)
    return cards.Calibrator(
        "isotonic", x=tuple(float(v) for v in iso.X_thresholds_), y=tuple(float(v) for v in iso.y_thresholds_)
    )


def calibrate(margin: np.ndarray, y: np.ndarray, folds: np.ndarray) -> tuple[cards.Calibrator, dict]:
    """Platt, unless isotonic has a lower cross-validated ECE without a lower cross-validated PR-AUC.

    Isotonic regression is a step function: with a few dozen positive rows it merges most scores into
    a handful of ties, which costs ranking (the alert list is a ranking) more than it gains in ECE.
    """
    cv = _calibration_cv(margin, y, folds)
    iso, platt = cv["isotonic"], cv["platt"]
    method = "isotonic" if iso["ece"] < platt["ece"] and iso["pr_auc"] >= platt["pr_auc"] else "platt"
    info = {
        "method": method,
        "fitted_on": "out-of-fold raw margins of the training period (resident-grouped folds)",
        "cv": {m: {k: cards.finite(v) for k, v in scores.items()} for m, scores in cv.items()},
        "description": (
            f"{method} (LightGBM raw margin → probability), fitted on the out-of-fold margins of the {FOLDS}-fold "
            "resident-grouped cross-validation of the training period, so it sees margins of residents the model "
            "was not fitted on. Rule: Platt, unless isotonic has a lower ECE and no lower PR-AUC when each fold is "
            f"calibrated by a fit on the other folds (platt ECE {platt['ece']:.4f} / PR-AUC {platt['pr_auc']:.4f}, "
            f"isotonic {iso['ece']:.4f} / {iso['pr_auc']:.4f}); isotonic's ties cost ranking, and in-sample ECE "
            "would always favour it."
        ),
    }
    calibrator = _fit_calibrator(method, margin, y)
    if calibrator.method == "platt" and calibrator.a == 0:
        info["warning"] = (
            "out-of-fold margins do not rank positive rows higher: the model found no usable signal and gives "
            "everyone the base rate"
        )
    return calibrator, info


def grade_thresholds(prob: np.ndarray, capacity_share: float) -> dict:
    """Grade cut points from the validation period's calibrated probabilities.

    rules.DEFAULT_THRESHOLDS (5/15/30/50 %) suit a common event; for an adverse outcome with a ~1-2 %
    weekly base rate they leave almost everybody 정상 or put the alert volume wherever the calibration
    happens to land. Instead 주의 starts at the score that the top `capacity_share` of resident-days
    reach (so alerts ≈ the daily capacity), 관심 at 2.5× that share, 경계 at a quarter and 심각 at a
    twentieth of it; each cut is also at least the base rate and strictly above the one below.
    """
    prevalence_floor = float(np.mean(prob)) if len(prob) else 0.0
    shares = (2.5 * capacity_share, capacity_share, capacity_share / 4, capacity_share / 20)
    cuts: list[float] = []
    for share in shares:
        q = float(np.quantile(prob, 1 - share)) if len(prob) else 0.5
        floor = cuts[-1] + 1e-6 if cuts else round(prevalence_floor, 6)
        cuts.append(round(max(q, floor), 6))  # rounded to 1e-6, so +1e-6 keeps them strictly increasing
    return {
        "cuts": cuts,
        "grades": list(rules.GRADES),
        "source": "validation-period calibrated probability quantiles",
        "shares_at_or_above": [round(s, 6) for s in shares],
        "description": (
            "Cut points come from the calibrated probabilities of the validation period: 관심 from the top "
            f"{shares[0]:.1%} of resident-days, 주의 from the top {shares[1]:.1%} (the daily alert capacity), "
            f"경계 from the top {shares[2]:.2%}, 심각 from the top {shares[3]:.2%} (each at least the period's "
            "mean probability and above the cut below). rules.DEFAULT_THRESHOLDS (0.05/0.15/0.30/0.50) are meant "
            "for common events; for a ~1-2 % weekly event they would not track the alert capacity. Hard rule "
            "overrides still raise grades on top of these."
        ),
    }


def _split_info(frame: pl.DataFrame) -> dict:
    if frame.is_empty():
        return {"start": None, "end": None, "rows": 0, "positives": 0, "prevalence": None, "residents": 0}
    return {
        "start": frame["feature_date"].min().isoformat(),
        "end": frame["feature_date"].max().isoformat(),
        "rows": frame.height,
        "positives": int(frame["label"].sum()),
        "prevalence": round(float(frame["label"].mean()), 6),
        "residents": frame["resident_key"].n_unique(),
    }


def _fingerprint(settings: Settings, features: pl.DataFrame, labelled: pl.DataFrame) -> dict:
    stats = delta.stats(settings, FEATURES)
    positives = labelled.filter(pl.col("label") == 1).select("resident_key", pl.col("feature_date").cast(pl.String))
    digest = hashlib.sha256("\n".join(f"{k}|{d}" for k, d in positives.sort(pl.all()).rows()).encode()).hexdigest()
    return {
        "features": {
            "table": FEATURES.name,
            "delta_version": stats[1] if stats else None,
            "rows": features.height,
            "first_date": features["feature_date"].min().isoformat(),
            "last_date": features["feature_date"].max().isoformat(),
        },
        "labels": {
            "table": VISITS.name,
            "labelled_rows": labelled.height,
            "positives": int(labelled["label"].sum()),
            "positives_sha256": digest,
        },
    }


def _libraries() -> dict[str, str]:
    import deltalake
    import lightgbm
    import sklearn

    return {
        "lightgbm": lightgbm.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "polars": pl.__version__,
        "deltalake": deltalake.__version__,
    }


def _cross_fit(x: np.ndarray, y: np.ndarray, folds: np.ndarray, names: list[str]) -> tuple[int, np.ndarray]:
    """Resident-grouped K-fold on the training rows.

    Returns the number of boosting rounds with the lowest held-out log loss (pooled over the folds)
    and every row's out-of-fold raw margin at that round count (what the calibrator is fitted on).
    Each fold model starts from its own training prevalence (LightGBM's boost_from_average); its margins
    are shifted to the full training prevalence so that pooled out-of-fold margins are comparable.
    """
    import lightgbm as lgb

    losses = np.zeros(NUM_BOOST_ROUND)
    boosters: list = []
    for f in range(FOLDS):
        fit, held = folds != f, folds == f
        if not held.any() or y[fit].sum() == 0:
            boosters.append(None)
            continue
        evals: dict = {}
        dfit = lgb.Dataset(x[fit], y[fit], feature_name=names)
        dheld = lgb.Dataset(x[held], y[held], reference=dfit)
        booster = lgb.train(
            {**PARAMS, "metric": "binary_logloss"},
            dfit,
            num_boost_round=NUM_BOOST_ROUND,
            valid_sets=[dheld],
            valid_names=["held"],
            callbacks=[lgb.record_evaluation(evals)],
        )
        losses += np.asarray(evals["held"]["binary_logloss"]) * held.sum()
        boosters.append(booster)
    rounds = int(np.argmin(losses[MIN_ROUNDS - 1 :])) + MIN_ROUNDS
    oof = np.full(len(y), np.nan)
    for f, booster in enumerate(boosters):
        if booster is not None:
            shift = _logit(float(y.mean())) - _logit(float(y[folds != f].mean()))
            oof[folds == f] = booster.predict(x[folds == f], num_iteration=rounds, raw_score=True, num_threads=1) + shift
    return rounds, oof


def train(settings: Settings, *, horizon_days: int = HORIZON_DAYS, capacity_share: float = CAPACITY_SHARE) -> dict:
    """Train, calibrate and evaluate; write the versioned artifacts, make them current; return the card."""
    import lightgbm as lgb
    from sklearn.isotonic import IsotonicRegression

    if horizon_days < 1:
        raise ValueError("horizon_days must be at least 1")
    if not 0 < capacity_share < 1:
        raise ValueError("capacity_share must be between 0 and 1")
    features = pl.from_arrow(delta.read(settings, FEATURES))
    if features.is_empty():
        raise ValueError("no features: run `gglake features` first")
    visits = pl.from_arrow(delta.read(settings, VISITS, columns=["resident_key", "visit_date", "is_adverse"]))
    labelled = labelled_rows(features, visits, horizon_days)
    windows = split_windows(sorted(labelled["feature_date"].unique().to_list()), horizon_days)
    labelled = labelled.with_columns(
        pl.col("resident_key").map_elements(holdout_resident, return_dtype=pl.Boolean).alias("_unseen")
    )

    def period(name: str) -> pl.DataFrame:
        start, end = windows[name]
        return labelled.filter(pl.col("feature_date").is_between(start, end))

    train_rows = period("train").filter(~pl.col("_unseen"))
    val_rows = period("validation")
    unseen_rows = val_rows.filter(pl.col("_unseen"))
    _check_positives(train_rows, windows["train"])

    names = feature_columns()
    x_train, _ = design_matrix(train_rows, names)
    x_val, _ = design_matrix(val_rows, names)
    y_train = train_rows["label"].to_numpy()
    folds = resident_folds(train_rows["resident_key"].to_list(), y_train)

    rounds, oof = _cross_fit(x_train, y_train, folds, names)
    booster = lgb.train(PARAMS, lgb.Dataset(x_train, y_train, feature_name=names), num_boost_round=rounds)
    model_text = booster.model_to_string()
    booster = lgb.Booster(model_str=model_text)  # exactly what scoring will load
    done = ~np.isnan(oof)
    calibrator, calibration = calibrate(oof[done], y_train[done], folds[done])

    # rules alone: its score levels → positive rate on the training rows (isotonic; no validation data)
    rules_cal = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(rules_score(train_rows), y_train)
    constant_p = float(y_train.mean())

    def metrics(rows: pl.DataFrame, x: np.ndarray) -> dict:
        y = rows["label"].to_numpy()
        day = rows["feature_date"].cast(pl.Int32).to_numpy()
        key = rows["resident_key"].to_numpy()
        prob = calibrator.predict(booster.predict(x, raw_score=True, num_threads=1))
        r_score = rules_score(rows)
        const = np.full(len(y), constant_p)
        return {
            "model": cards.evaluate(y, prob, prob, day, key, capacity_share),
            "rules": cards.evaluate(y, rules_cal.predict(r_score), r_score, day, key, capacity_share),
            "constant": cards.evaluate(y, const, const, day, key, capacity_share, constant=True),
        }

    val_prob = calibrator.predict(booster.predict(x_val, raw_score=True, num_threads=1))
    unseen_mask = val_rows["_unseen"].to_numpy()
    thresholds = grade_thresholds(val_prob, capacity_share)

    params = {
        "lightgbm": PARAMS,
        "max_boost_round": NUM_BOOST_ROUND,
        "min_boost_round": MIN_ROUNDS,
        "folds": FOLDS,
        "horizon_days": horizon_days,
        "capacity_share": capacity_share,
        "train_share": TRAIN_SHARE,
        "holdout_share": HOLDOUT_SHARE,
        "holdout_salt": HOLDOUT_SALT,
        "schema_version": SCHEMA_VERSION,
        "features": names,
    }
    fingerprint = _fingerprint(settings, features, labelled)
    version = hashlib.sha256(json.dumps([fingerprint, params], sort_keys=True, default=str).encode()).hexdigest()[:12]
    created_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    iso = {name: {"start": start.isoformat(), "end": end.isoformat()} for name, (start, end) in windows.items()}

    card = {
        "model_version": version,
        "created_at": created_at,
        "target": (
            "an adverse home-visit outcome (deterioration, fall, hospitalisation, lonely death: "
            f"silver.visit_outcomes.is_adverse) within the {horizon_days} days after the feature date"
        ),
        "horizon_days": horizon_days,
        "capacity_share": capacity_share,
        "embargo_days": horizon_days,
        "training_window": iso["train"],
        "validation_window": iso["validation"],
        "splits": {
            "train": _split_info(train_rows),
            "validation": _split_info(val_rows),
            "validation_unseen_residents": _split_info(unseen_rows),
        },
        "holdout": {
            "share": HOLDOUT_SHARE,
            "residents": int(labelled.filter(pl.col("_unseen"))["resident_key"].n_unique()),
            "description": (
                f"About {HOLDOUT_SHARE:.0%} of residents (a fixed hash of resident_key) are kept out of training "
                "and calibration entirely; validation metrics are shown for all residents and for those unseen ones."
            ),
        },
        "features": names,
        "feature_notes": FEATURE_NOTES,
        "model": {
            "algorithm": "LightGBM gradient boosting (binary)",
            "boosting_rounds": rounds,
            "params": PARAMS,
            "description": (
                f"LightGBM, {rounds} trees (the round count with the lowest out-of-fold log loss in a "
                f"{FOLDS}-fold resident-grouped cross-validation of the training period, {MIN_ROUNDS}-"
                f"{NUM_BOOST_ROUND}), num_leaves {PARAMS['num_leaves']}, learning rate {PARAMS['learning_rate']}, "
                "unweighted classes, deterministic; refitted on the whole training period; calibrated probability."
            ),
        },
        "calibration": calibration,
        "rules_baseline": {"formula": RULES_FORMULA},
        "constant_baseline": (
            "the training prevalence for every row: ROC-AUC 0.5, PR-AUC = validation prevalence, precision at "
            "capacity = validation prevalence (the expected value: a constant orders nobody)."
        ),
        "metrics": {
            "validation": metrics(val_rows, x_val),
            "validation_unseen_residents": metrics(unseen_rows, x_val[unseen_mask]),
        },
        "grade_thresholds": thresholds,
        "limitations": LIMITATIONS,
        "libraries": _libraries(),
        "fingerprint": fingerprint,
    }
    manifest = {
        "version": version,
        "created_at": created_at,
        "horizon_days": horizon_days,
        "capacity_share": capacity_share,
        "params": params,
        "features": names,
        "ordinal_encodings": ORDINAL,
        "grade_thresholds": thresholds["cuts"],
        "calibration": calibration["method"],
        "boosting_rounds": rounds,
        "training_data": fingerprint,
        "training_window": iso["train"],
        "validation_window": iso["validation"],
        "libraries": card["libraries"],
        "artifacts": list(cards.ARTIFACTS),
    }

    def dumps(data: dict) -> str:
        return json.dumps(data, ensure_ascii=False, indent=2, default=_json_default) + "\n"

    cards.write_text(settings, f"{version}/model.txt", model_text)
    cards.write_text(settings, f"{version}/calibrator.json", dumps(calibrator.to_json()))
    cards.write_text(settings, f"{version}/card.json", dumps(card))
    cards.write_text(settings, f"{version}/card.md", cards.render_markdown(card))
    cards.write_text(settings, f"{version}/manifest.json", dumps(manifest))
    cards.write_text(settings, "CURRENT", version + "\n")  # last: a half-written model never becomes current
    return json.loads(dumps(card))


FEATURE_NOTES = (
    "Every numeric and boolean column of features.resident_daily except keys, dates, district and the "
    f"resident-level columns ({', '.join(RESIDENT_LEVEL)}), which let a model trained on few episodes memorise "
    "residents rather than learn changes; news2_risk (low<low_medium<medium<high) and bp_category (normal<elevated"
    "<prehypertension<stage1=isolated_systolic<stage2) are ordinal-encoded; missing values stay missing (LightGBM "
    "routes them); vitals outside physical limits (gglake.domain) are treated as missing."
)
LIMITATIONS = [
    "Labels come from home visits: an adverse event that no visit found is a negative, and visits are partly "
    "triggered by the same signals the model uses (3 unanswered calls, alerts).",
    "Few positive episodes: held-out metrics rest on a handful of episodes (each one many positive rows) and move "
    "by several points between periods; read them with their positive counts, the unseen-resident subset above all.",
    "The calibrator is fitted on out-of-fold margins of the cross-validation models and applied to the model "
    "refitted on all training rows, which can be slightly more confident.",
    "Precision at capacity breaks ties by resident key; the rules score has many ties.",
    "Grade cut points are quantiles of one validation period; re-check them when the population, the programme "
    "mix or the alert capacity changes.",
    "Features only cover residents active when features were built (withdrawn residents' history is not rebuilt), "
    "which can drop some outcomes (e.g. deaths) from the labels.",
    "Trained and evaluated on generated data; not validated on real residents.",
]


def _json_default(value):
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
