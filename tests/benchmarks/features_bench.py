"""Features benchmark: the Polars feature job (CPU, and GPU when present) against plain pandas.

Synthesises silver tables of N residents × D days directly (the feature job's inputs, ~120
readings per resident-day as the generator delivers), then times in one run:
  1. the full feature job on Polars (CPU streaming engine), including the Delta write;
  2. the heaviest features — daily aggregation, 7/30-day rolling means, 28-day personal
     baselines (mean, std, z) including the hour-of-day activity windows — written the way a
     user would in pandas, and the same subset in Polars (the apples-to-apples ratio);
  3. the full job on the GPU (cudf-polars) when a CUDA device is usable.

    python -m tests.benchmarks.features_bench --residents 1000 --days 60
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

from gglake import delta
from gglake.catalog import table
from gglake.settings import Settings
from models.features import BASELINE_DAYS, MIN_BASELINE_DAYS, build_features, resolve_device

KST = timezone(timedelta(hours=9))
# metric → readings per day (spread over the day) and a plausible value generator
CADENCE = {
    "heart_rate": 48, "steps": 24, "motion_events": 24, "door_events": 24, "power_kwh": 24,
    "resp_rate": 9, "spo2": 3, "stress_index": 3, "blood_pressure": 2, "body_temp": 2,
}  # fmt: skip


def synthesise(settings: Settings, residents: int, days: int, start: date, seed: int = 1) -> int:
    rng = np.random.default_rng(seed)
    keys = np.array([f"{i:032x}" for i in range(residents)])
    parts = []
    for metric, per_day in CADENCE.items():
        n = residents * days * per_day
        resident = np.repeat(np.arange(residents), days * per_day)
        day = np.tile(np.repeat(np.arange(days), per_day), residents)
        hour = np.tile(np.tile((np.arange(per_day) * 24 // per_day), days), residents)
        base = {
            "heart_rate": 72,
            "steps": 120,
            "motion_events": 3,
            "door_events": 0.4,
            "power_kwh": 0.1,
            "resp_rate": 15,
            "spo2": 97,
            "stress_index": 45,
            "blood_pressure": 135,
            "body_temp": 36.6,
        }[metric]
        value = np.abs(base * (1 + 0.15 * rng.standard_normal(n)))
        measured = (
            np.datetime64(start) + day.astype("timedelta64[D]") + hour.astype("timedelta64[h]") - np.timedelta64(9, "h")
        )  # KST midnight in UTC
        parts.append(
            pa.table(
                {
                    "event_id": pa.array(np.char.add(f"{metric}-", np.arange(n).astype(str))),
                    "resident_key": pa.array(keys[resident]),
                    "device_type": pa.array(np.full(n, "bp_monitor" if metric == "blood_pressure" else "wearable")),
                    "metric": pa.array(np.full(n, metric)),
                    "value": pa.array(value),
                    "diastolic": pa.array(value * 0.6 if metric == "blood_pressure" else np.full(n, np.nan)),
                    "measured_at": pa.array(measured.astype("datetime64[us]")).cast(pa.timestamp("us", tz="UTC")),
                    "reading_hour": pa.array(hour.astype(np.int32)),
                    "reading_date": pa.array((np.datetime64(start) + day.astype("timedelta64[D]")).astype("datetime64[D]")),
                }
            )
        )
    readings = pa.concat_tables(parts)
    t = table("silver.sensor_readings")
    missing = [c for c in t.column_names if c not in readings.column_names]
    for c in missing:
        readings = readings.append_column(c, pa.nulls(readings.num_rows, t.arrow_schema().field(c).type))
    delta.append(settings, t, readings)
    res = table("silver.residents")
    rows = {c: [None] * residents for c in res.column_names}
    rows.update(
        resident_key=list(keys),
        birth_year=[1945] * residents,
        district=["수원시"] * residents,
        living_alone=[True] * residents,
        status=["active"] * residents,
        enrolled_on=[start] * residents,
        valid_from=[start] * residents,
        is_current=[True] * residents,
    )
    delta.append(settings, res, pa.table(rows, schema=res.arrow_schema()))
    calls = table("silver.care_calls")
    weekly = [(k, start + timedelta(days=d)) for k in keys for d in range(0, days, 7)]
    crows = {c: [None] * len(weekly) for c in calls.column_names}
    crows.update(
        call_id=[f"C{i}" for i in range(len(weekly))],
        resident_key=[k for k, _ in weekly],
        answered=[i % 6 != 0 for i in range(len(weekly))],
        call_date=[d for _, d in weekly],
        scheduled_at=[datetime(d.year, d.month, d.day, 10, tzinfo=KST) for _, d in weekly],
        sentiment=[0.4] * len(weekly),
        keywords=[""] * len(weekly),
    )
    delta.append(settings, calls, pa.table(crows, schema=calls.arrow_schema()))
    return readings.num_rows


def pandas_heavy(path: str) -> pd.DataFrame:
    """What a user would write in pandas: daily aggregates, rolling windows, personal baselines."""
    r = pd.read_parquet(path, columns=["resident_key", "metric", "value", "reading_hour", "reading_date"])
    r["window"] = r["reading_hour"] // 6
    daily = r.pivot_table(
        index=["resident_key", "reading_date"], columns="metric", values="value", aggfunc={"value": "mean"}
    ).reset_index()
    sums = r[r.metric.isin(["steps", "power_kwh"])].groupby(["resident_key", "reading_date", "metric"])["value"].sum()
    daily = daily.drop(columns=["steps", "power_kwh"]).merge(sums.unstack().reset_index(), on=["resident_key", "reading_date"])
    motion = r[r.metric == "motion_events"].pivot_table(
        index=["resident_key", "reading_date"], columns="window", values="value", aggfunc="sum"
    )
    motion.columns = [f"motion_w{w}" for w in motion.columns]
    daily = daily.merge(motion.reset_index(), on=["resident_key", "reading_date"]).sort_values(["resident_key", "reading_date"])
    g = daily.groupby("resident_key")
    for col, days in (
        ("heart_rate", 7),
        ("heart_rate", 30),
        ("blood_pressure", 7),
        ("blood_pressure", 30),
        ("steps", 7),
        ("steps", 30),
    ):
        daily[f"{col}_{days}d"] = g[col].transform(lambda s, d=days: s.rolling(d, min_periods=1).mean())
    for col in ["heart_rate", "blood_pressure", "steps", "power_kwh", "stress_index", *motion.columns]:
        past = g[col].shift(1)
        roll = past.groupby(daily["resident_key"]).rolling(BASELINE_DAYS, min_periods=MIN_BASELINE_DAYS)
        daily[f"{col}_mean"] = roll.mean().reset_index(level=0, drop=True)
        daily[f"{col}_std"] = roll.std().reset_index(level=0, drop=True)
        daily[f"{col}_z"] = (daily[col] - daily[f"{col}_mean"]) / daily[f"{col}_std"]
    return daily


def polars_heavy(path: str) -> pl.DataFrame:
    """The same subset in Polars, for a like-for-like ratio."""
    r = pl.scan_delta(path).select("resident_key", "metric", "value", "reading_hour", "reading_date")
    m = pl.col("metric")
    daily = (
        r.group_by("resident_key", "reading_date")
        .agg(
            *(pl.col("value").filter(m == x).mean().alias(x) for x in ("heart_rate", "blood_pressure", "stress_index")),
            *(pl.col("value").filter(m == x).sum().alias(x) for x in ("steps", "power_kwh")),
            *(
                pl.col("value").filter((m == "motion_events") & (pl.col("reading_hour") // 6 == w)).sum().alias(f"motion_w{w}")
                for w in range(4)
            ),
        )
        .sort("resident_key", "reading_date")
    )
    over = {"partition_by": "resident_key", "order_by": "reading_date"}
    cols = ["heart_rate", "blood_pressure", "steps", "power_kwh", "stress_index", *(f"motion_w{w}" for w in range(4))]
    daily = daily.with_columns(
        *(
            pl.col(c).rolling_mean(d, min_samples=1).over(**over).alias(f"{c}_{d}d")
            for c in ("heart_rate", "blood_pressure", "steps")
            for d in (7, 30)
        ),
        *(
            pl.col(c).shift(1).rolling_mean(BASELINE_DAYS, min_samples=MIN_BASELINE_DAYS).over(**over).alias(f"{c}_mean")
            for c in cols
        ),
        *(
            pl.col(c).shift(1).rolling_std(BASELINE_DAYS, min_samples=MIN_BASELINE_DAYS).over(**over).alias(f"{c}_std")
            for c in cols
        ),
    ).with_columns(*(((pl.col(c) - pl.col(f"{c}_mean")) / pl.col(f"{c}_std")).alias(f"{c}_z") for c in cols))
    return daily.collect(engine="streaming")


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=1000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", default="bench-out")
    args = parser.parse_args()
    start = date(2026, 9, 1)
    end = start + timedelta(days=args.days - 1)
    with tempfile.TemporaryDirectory(dir=Path(args.out).mkdir(parents=True, exist_ok=True) or args.out) as home:
        settings = Settings(home=home)
        began = time.perf_counter()
        rows = synthesise(settings, args.residents, args.days, start)
        print(
            f"synthesised {rows:,} silver readings ({args.residents} residents × {args.days} days) "
            f"in {time.perf_counter() - began:.1f} s"
        )
        path = delta.location(settings, table("silver.sensor_readings"))
        results = {}
        results["polars_cpu_full_job"], run = timed(lambda: build_features(settings, start, end, "cpu"), args.repeat)
        results["polars_cpu_heavy_subset"], _ = timed(lambda: polars_heavy(path), args.repeat)
        results["pandas_heavy_subset"], _ = timed(lambda: pandas_heavy(path), args.repeat)
        if resolve_device("auto") == "gpu":
            results["gpu_full_job"], _ = timed(lambda: build_features(settings, start, end, "gpu"), args.repeat)
    print(f"\n{'engine / scope':<28}{'seconds':>10}{'readings/s':>14}{'ratio':>10}")
    for name, seconds in results.items():
        ratio = seconds / results["polars_cpu_heavy_subset"] if "subset" in name else seconds / results["polars_cpu_full_job"]
        print(f"{name:<28}{seconds:>10.2f}{rows / seconds:>14,.0f}{ratio:>10.2f}")
    print(f"ratio: subsets against the Polars subset, full jobs against the Polars CPU full job; {run.rows:,} feature rows")
    report = {
        "residents": args.residents,
        "days": args.days,
        "readings": rows,
        "seconds": results,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "polars": pl.__version__,
            "pandas": pd.__version__,
        },
    }
    Path(args.out, f"features-{args.residents}x{args.days}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
