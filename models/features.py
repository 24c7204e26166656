"""Daily resident features for care-risk scoring, on Polars (CPU) or RAPIDS cuDF (GPU).

One lazy Polars query computes every feature; `collect(engine=...)` runs it on the CPU streaming
engine or on the GPU through `cudf-polars`: the same code, the device chosen at run time. The job
is incremental and idempotent: it reads the history it needs before `start` (personal baselines,
rolling windows) and replaces exactly the `feature_date` partitions of [start, end].
"""

from __future__ import annotations

import importlib.util
import logging
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import polars as pl

from gglake import delta, lease
from gglake.catalog import table
from gglake.settings import Settings
from models import rules

log = logging.getLogger(__name__)

Device = Literal["auto", "cpu", "gpu"]
FEATURES = table("features.resident_daily")
FEATURES_LEASE = "features:resident_daily"  # one run at a time replaces feature dates
BASELINE_DAYS = 28  # personal baseline: trailing 28 days, excluding today
HISTORY_DAYS = 35  # read this much before `start`: baselines and 30-day rolling means
MIN_BASELINE_DAYS = 7  # fewer days of history → no baseline, no z-score (null, not a guess)
ACTIVITY_WINDOWS = 4  # hour-of-day windows of 6 hours for the activity baseline
KEYWORDS = {  # keyword group → Korean words spotted in transcripts/keywords
    "pain": ("통증", "아파", "아프"),
    "loneliness": ("외로", "쓸쓸", "혼자"),
    "help": ("도와", "살려"),
    "fall": ("넘어", "낙상"),
    "meal": ("식사", "밥", "끼니"),
}


@dataclass
class FeatureRun:
    start: date
    end: date
    rows: int
    residents: int
    device: str  # the engine that actually ran: "cpu" or "gpu"


def resolve_device(device: Device) -> str:
    """`auto` picks the GPU when cudf-polars and a CUDA device are usable, else the CPU."""
    if device == "cpu":
        return "cpu"
    available = importlib.util.find_spec("cudf_polars") is not None
    if available:
        try:
            pl.LazyFrame({"x": [1]}).collect(engine=pl.GPUEngine(raise_on_fail=True))
        except Exception as exc:  # no CUDA device or driver: the reason goes to the log
            available = False
            reason = str(exc).splitlines()[0]
        else:
            reason = ""
    else:
        reason = "cudf-polars is not installed"
    if available:
        return "gpu"
    if device == "gpu":
        raise RuntimeError(f"--device gpu requested but the GPU engine is unavailable: {reason}")
    log.warning("features: GPU not available (%s); running on the CPU", reason)
    return "cpu"


def _scan(settings: Settings, name: str) -> pl.LazyFrame:
    t = table(name)
    return pl.scan_delta(delta.location(settings, t), storage_options=settings.storage_options or None)


def _daily_vitals(readings: pl.LazyFrame) -> pl.LazyFrame:
    r = readings
    metric, value = pl.col("metric"), pl.col("value")

    def of(name: str, expr: pl.Expr = value) -> pl.Expr:
        return expr.filter(metric == name)

    systolic, diastolic = of("blood_pressure"), of("blood_pressure", pl.col("diastolic"))
    sub = {
        "resp": rules.news2_sub_score_expr(of("resp_rate"), "resp_rate"),
        "spo2": rules.news2_sub_score_expr(of("spo2"), "spo2"),
        "sys": rules.news2_sub_score_expr(systolic, "systolic"),
        "pulse": rules.news2_sub_score_expr(of("heart_rate"), "pulse"),
        "temp": rules.news2_sub_score_expr(of("body_temp"), "temperature"),
    }
    return r.group_by("resident_key", "reading_date").agg(
        of("heart_rate").mean().alias("hr_mean"),
        of("heart_rate").min().alias("hr_min"),
        of("heart_rate").max().alias("hr_max"),
        systolic.mean().alias("sys_mean"),
        systolic.min().alias("sys_min"),
        systolic.max().alias("sys_max"),
        diastolic.mean().alias("dia_mean"),
        diastolic.max().alias("dia_max"),
        rules.hypertensive_crisis_expr(systolic, diastolic).any().alias("hypertensive_crisis"),
        rules.screening_grade_expr(of("blood_pressure", pl.col("device_type"))).all().alias("bp_screening_grade"),
        of("spo2").mean().alias("spo2_mean"),
        of("spo2").min().alias("spo2_min"),
        of("body_temp").max().alias("temp_max"),
        of("resp_rate").mean().alias("resp_mean"),
        of("stress_index").mean().alias("stress_mean"),
        of("steps").sum().alias("steps"),
        of("motion_events").sum().alias("motion_events"),
        of("door_events").sum().alias("door_events"),
        of("power_kwh").sum().alias("power_kwh"),
        pl.len().alias("readings"),
        *(score.max().alias(f"news2_{name}") for name, score in sub.items()),
    )


def _daily_activity_hours(readings: pl.LazyFrame, days: pl.LazyFrame) -> pl.LazyFrame:
    """Hours with no activity at all, the longest stationary run, and motion per 6-hour window."""
    activity = ("steps", "motion_events", "door_events")
    active = (
        readings.filter(pl.col("metric").is_in(activity) & (pl.col("value") > 0))
        .select("resident_key", "reading_date", pl.col("reading_hour").cast(pl.Int32))
        .unique()
        .with_columns(pl.lit(1, pl.Int32).alias("active"))
    )
    hours = pl.LazyFrame({"reading_hour": pl.int_range(0, 24, eager=True).cast(pl.Int32)})
    grid = (
        days.join(hours, how="cross")
        .join(active, on=["resident_key", "reading_date", "reading_hour"], how="left")
        .with_columns(pl.col("active").fill_null(0))
        .sort("resident_key", "reading_date", "reading_hour")
        .with_columns(pl.col("active").cum_sum().over("resident_key", "reading_date").alias("_run"))
    )
    runs = (
        grid.filter(pl.col("active") == 0)
        .group_by("resident_key", "reading_date", "_run")
        .agg(pl.len().alias("run_hours"))
        .group_by("resident_key", "reading_date")
        .agg(pl.col("run_hours").max().alias("longest_stationary_hours"), pl.col("run_hours").sum().alias("no_activity_hours"))
    )
    window = (pl.col("reading_hour") // (24 // ACTIVITY_WINDOWS)).cast(pl.Int32)
    motion = (
        readings.filter(pl.col("metric") == "motion_events")
        .group_by("resident_key", "reading_date")
        .agg(*(pl.col("value").filter(window == w).sum().alias(f"motion_w{w}") for w in range(ACTIVITY_WINDOWS)))
    )
    # Residents without activity sensors have no activity to miss: null, not "24 idle hours".
    # A resident whose sensors usually report and fall silent does get 24: silence is a signal.
    monitored = active.select("resident_key").unique().with_columns(pl.lit(True).alias("_monitored"))
    hours_when_monitored = [
        pl.when(pl.col("_monitored")).then(pl.col(c).fill_null(0)).cast(pl.Int32).alias(c)
        for c in ("longest_stationary_hours", "no_activity_hours")
    ]
    return (
        days.join(runs, on=["resident_key", "reading_date"], how="left")
        .join(motion, on=["resident_key", "reading_date"], how="left")
        .join(monitored, on="resident_key", how="left")
        .with_columns(hours_when_monitored)
        .drop("_monitored")
    )


def _daily_calls(calls: pl.LazyFrame) -> pl.LazyFrame:
    text = pl.concat_str([pl.col("keywords").fill_null(""), pl.col("transcript").fill_null("")], separator=" ")
    ordered = calls.sort("resident_key", "scheduled_at").with_columns(
        # consecutive unanswered calls, reset by an answered one
        (~pl.col("answered")).cast(pl.Int32).alias("_missed"),
        pl.col("answered").cast(pl.Int32).cum_sum().over("resident_key").alias("_answered_so_far"),
    )
    ordered = ordered.with_columns(pl.col("_missed").cum_sum().over("resident_key", "_answered_so_far").alias("_streak"))
    return ordered.group_by("resident_key", pl.col("call_date").alias("reading_date")).agg(
        pl.len().alias("calls"),
        pl.col("answered").sum().alias("calls_answered"),
        pl.col("sentiment").mean().alias("sentiment"),
        pl.col("_streak").last().alias("streak_end_of_day"),
        *(text.str.contains("|".join(words)).sum().alias(f"kw_{group}") for group, words in KEYWORDS.items()),
    )


def _baseline(col: str, name: str | None = None) -> list[pl.Expr]:
    """Trailing BASELINE_DAYS mean/std of a daily value, excluding today, and today's z-score."""
    name = name or col
    past = pl.col(col).shift(1).over("resident_key", order_by="feature_date")
    mean = past.rolling_mean(BASELINE_DAYS, min_samples=MIN_BASELINE_DAYS).over("resident_key", order_by="feature_date")
    std = past.rolling_std(BASELINE_DAYS, min_samples=MIN_BASELINE_DAYS).over("resident_key", order_by="feature_date")
    return [mean.alias(f"{name}_baseline_mean"), std.alias(f"{name}_baseline_std")]


def feature_query(settings: Settings, start: date, end: date) -> pl.LazyFrame:
    """The whole feature computation as one lazy query over the silver tables."""
    history_start = start - timedelta(days=HISTORY_DAYS)
    readings = (
        _scan(settings, "silver.sensor_readings")
        .filter(pl.col("reading_date").is_between(history_start, end))
        .select("resident_key", "metric", "value", "diastolic", "device_type", "reading_hour", "reading_date")
    )
    # Every resident enrolled on a day gets a row for it, including those who withdrew (or died)
    # later: their last days are what the labels need. Attributes come from the latest active version.
    versions = _scan(settings, "silver.residents")
    active_until = (
        versions.filter(pl.col("status") != "active").group_by("resident_key").agg(pl.col("valid_from").min().alias("_until"))
    )
    residents = (
        versions.filter(pl.col("status") == "active")
        .sort("valid_from")
        .group_by("resident_key")
        .agg(pl.col("birth_year", "district", "living_alone", "enrolled_on").last())
        .join(active_until, on="resident_key", how="left")
    )
    dates = pl.LazyFrame({"reading_date": pl.date_range(history_start, end, eager=True)})
    days = (
        residents.join(dates, how="cross")
        .filter(
            (pl.col("reading_date") >= pl.col("enrolled_on").fill_null(history_start))
            & (pl.col("_until").is_null() | (pl.col("reading_date") < pl.col("_until")))
        )
        .select("resident_key", "reading_date")
    )
    residents = residents.drop("_until")
    calls = _scan(settings, "silver.care_calls").filter(pl.col("call_date") <= end)
    daily = (
        days.join(_daily_vitals(readings), on=["resident_key", "reading_date"], how="left")
        .join(_daily_activity_hours(readings, days), on=["resident_key", "reading_date"], how="left")
        .join(_daily_calls(calls), on=["resident_key", "reading_date"], how="left")
        .join(residents, on="resident_key", how="left")
        .rename({"reading_date": "feature_date"})
        .sort("resident_key", "feature_date")
    )
    by_resident = {"partition_by": "resident_key", "order_by": "feature_date"}

    def rolling(col: str, days_: int, how: str = "mean") -> pl.Expr:
        expr = getattr(pl.col(col), f"rolling_{how}")(days_, min_samples=1)
        return expr.over(**by_resident)

    def answer_rate(days_: int) -> pl.Expr:
        calls = rolling("calls", days_, "sum")
        return pl.when(calls > 0).then(rolling("calls_answered", days_, "sum") / calls)

    zero_filled = ["calls", "calls_answered", *(f"kw_{g}" for g in KEYWORDS)]
    daily = daily.with_columns(pl.col(zero_filled).fill_null(0), pl.col("readings").fill_null(0))
    daily = daily.with_columns(
        rolling("hr_mean", 7).alias("hr_mean_7d"),
        rolling("hr_mean", 30).alias("hr_mean_30d"),
        rolling("sys_mean", 7).alias("sys_mean_7d"),
        rolling("sys_mean", 30).alias("sys_mean_30d"),
        rolling("spo2_mean", 7).alias("spo2_mean_7d"),
        rolling("steps", 7).alias("steps_7d"),
        rolling("steps", 30).alias("steps_30d"),
        *_baseline("hr_mean", "hr"),
        *_baseline("sys_mean", "sys"),
        *_baseline("steps"),
        *_baseline("power_kwh", "power"),
        *_baseline("stress_mean", "stress"),
        *(b for w in range(ACTIVITY_WINDOWS) for b in _baseline(f"motion_w{w}")),
        pl.col("readings")
        .shift(1)
        .rolling_median(BASELINE_DAYS, min_samples=MIN_BASELINE_DAYS)
        .over(**by_resident)
        .alias("readings_baseline"),
        answer_rate(7).alias("answer_rate_7d"),
        answer_rate(28).alias("answer_rate_28d"),
        rolling("sentiment", 28).alias("sentiment_28d"),
        (rolling("sentiment", 7) - rolling("sentiment", 28)).alias("sentiment_trend"),
        pl.col("streak_end_of_day").forward_fill().over(**by_resident).fill_null(0).alias("calls_unanswered_streak"),
        *(rolling(f"kw_{g}", 7, "sum").alias(f"kw_{g}_7d") for g in KEYWORDS),
    )

    def z(col: str, base: str) -> pl.Expr:
        std = pl.col(f"{base}_baseline_std")
        return pl.when(std > 0).then((pl.col(col) - pl.col(f"{base}_baseline_mean")) / std)

    def outside_2sigma(col: str, base: str) -> pl.Expr:
        return z(col, base).abs() > 2

    subs = [pl.col(f"news2_{n}") for n in ("resp", "spo2", "sys", "pulse", "temp")]
    news2_total = rules.news2_aggregate_expr(*subs)
    any_3 = pl.any_horizontal([s == 3 for s in subs]).fill_null(False)
    features = daily.filter(pl.col("feature_date").is_between(start, end)).with_columns(
        (pl.col("feature_date").dt.year() - pl.col("birth_year")).alias("age"),
        news2_total.alias("news2_total"),
        any_3.alias("news2_any_3"),
        rules.news2_risk_expr(news2_total, any_3).alias("news2_risk"),
        rules.bp_category_expr(pl.col("sys_mean"), pl.col("dia_mean")).alias("bp_category"),
        pl.col("hypertensive_crisis").fill_null(False),
        z("hr_mean", "hr").alias("hr_z"),
        z("sys_mean", "sys").alias("sys_z"),
        z("steps", "steps").alias("steps_z"),
        z("power_kwh", "power").alias("power_z"),
        z("stress_mean", "stress").alias("stress_z"),
        (pl.col("power_kwh").fill_null(0) < pl.col("power_baseline_mean") - 2 * pl.col("power_baseline_std"))
        .fill_null(False)
        .alias("power_low"),
        pl.sum_horizontal(
            [outside_2sigma(f"motion_w{w}", f"motion_w{w}").fill_null(False).cast(pl.Int32) for w in range(ACTIVITY_WINDOWS)]
        ).alias("activity_windows_anomalous"),
        pl.when(pl.col("readings_baseline") > 0)
        .then((pl.col("readings") / pl.col("readings_baseline")).clip(upper_bound=1.0))
        .alias("completeness"),
        (pl.col("calls_unanswered_streak") >= rules.HOME_VISIT_UNANSWERED_STREAK).alias("home_visit_flag"),
    )
    return features.select([pl.col(name).cast(dtype) for name, dtype in FEATURES.polars_schema().items()]).sort(
        "feature_date", "resident_key"
    )


def build_features(
    settings: Settings,
    start: date,
    end: date,
    device: Device = "auto",
    *,
    run_id: str | None = None,
    wait_seconds: float = 0.0,
) -> FeatureRun:
    """Compute features for [start, end] and replace exactly those partitions."""
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    engine = resolve_device(device)
    log.info("features: running on %s", engine.upper())
    frame = feature_query(settings, start, end).collect(
        engine=pl.GPUEngine(raise_on_fail=True) if engine == "gpu" else "streaming"
    )
    with lease.hold(settings, [FEATURES_LEASE], run_id or f"features-{uuid.uuid4().hex[:12]}", "features", wait_seconds):
        delta.replace_where(
            settings,
            FEATURES,
            frame.to_arrow(),
            f"feature_date >= '{start.isoformat()}' AND feature_date <= '{end.isoformat()}'",
        )
    return FeatureRun(start, end, frame.height, frame["resident_key"].n_unique(), engine)
