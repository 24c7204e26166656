"""The provincial service's 04:00 run, timed per step at two sizes, with the growth and a 100,000-resident estimate.

Per size: 35 days of history are generated and caught up with `pipeline.catch_up`, 5 days at a time (not
timed), then day 36 arrives for every feed and the daily chain runs on the embedded default, each step
timed — the same pipeline functions the DAGs' tasks call: ingest of the day's interval for every feed,
bronze and silver gates, features of the day (with their 35-day look-back), features gate, scoring,
incremental dbt build, gold gate, publish.
The growth factor per step is t(large)/t(small); the estimate for 100,000 residents extrapolates each step
with the power law through the two sizes (t ∝ residents^k, k = log(growth)/log(size ratio)).

    python -m tests.benchmarks.daily_bench --sizes 5000 20000
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from gglake import pipeline
from gglake.settings import Settings
from sources.generate import generate

START = date(2026, 9, 1)
HISTORY_DAYS = 35
HISTORY_CHUNK_DAYS = 5  # the history is caught up 5 days at a time: 35 at once needs > 24 GiB at 20,000
TARGET_RESIDENTS = 100_000
GOAL_SECONDS = 15 * 60


def daily_run(settings: Settings, landing: Path, day: date) -> dict[str, float]:
    times: dict[str, float] = {}

    def step(name: str, work) -> None:
        began = time.perf_counter()
        work()
        times[name] = time.perf_counter() - began

    run_id = pipeline.new_run_id("daily-bench")
    since, until = pipeline.days_interval(day, day)
    step("ingest (every feed, the day)", lambda: pipeline.ingest_feeds(settings, str(landing), run_id, start=since, end=until))
    step("gates bronze + silver", lambda: [pipeline.quality_gate(settings, layer, day, run_id) for layer in ("bronze", "silver")])
    step("features (35-day look-back)", lambda: pipeline.build_features(settings, day, day, run_id))
    step("gate features", lambda: pipeline.quality_gate(settings, "features", day, run_id))
    step("score", lambda: pipeline.score_day(settings, day, run_id))
    step("dbt build", lambda: pipeline.dbt_build(settings, run_id))
    step("gate gold", lambda: pipeline.quality_gate(settings, "gold", day, run_id))
    step("publish", lambda: pipeline.publish(settings, "marts", run_id))
    return times


def measure(residents: int, work: Path) -> tuple[dict[str, float], float]:
    landing, home = work / f"landing-{residents}", work / f"home-{residents}"
    os.environ["GGLAKE_HOME"] = str(home)
    settings = Settings.from_env()
    began = time.perf_counter()
    generate(landing, residents, HISTORY_DAYS, START, 42, defect_rate=0.01)
    pipeline.catch_up(settings, str(landing), START, START + timedelta(days=HISTORY_DAYS - 1), score_days_back=1,
                      chunk_days=HISTORY_CHUNK_DAYS)  # fmt: skip
    prepare = time.perf_counter() - began
    day = START + timedelta(days=HISTORY_DAYS)
    generate(landing, residents, 1, day, 42, defect_rate=0.01)
    times = daily_run(settings, landing, day)
    # each size as it finishes: a long large size can be read while it runs, or after it is stopped
    print(f"{residents:,} residents: history {prepare:.0f} s; daily run {sum(times.values()):.1f} s: "
          + ", ".join(f"{name} {t:.1f} s" for name, t in times.items()), flush=True)
    return times, prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[2500, 5000], metavar=("SMALL", "LARGE"))
    args = parser.parse_args()
    small, large = sorted(args.sizes)
    work = Path(tempfile.mkdtemp(prefix="gglake-daily-bench-"))
    os.environ.pop("SPARK_REMOTE", None)  # the embedded default
    (t_small, prep_small), (t_large, prep_large) = measure(small, work), measure(large, work)
    exponent_base = math.log(TARGET_RESIDENTS / large)
    print(f"\ndaily run, day {HISTORY_DAYS + 1} on {HISTORY_DAYS} days of history (history built in "
          f"{prep_small:.0f} s / {prep_large:.0f} s, not counted)")
    print(f"{'step':34} {small:>9,} {large:>9,} {'growth':>7} {'k':>5} {TARGET_RESIDENTS:>9,} (est.)")
    total_est = 0.0
    for name in t_small:
        growth = t_large[name] / t_small[name]
        k = math.log(growth) / math.log(large / small)
        estimate = t_large[name] * math.exp(k * exponent_base)
        total_est += estimate
        print(f"{name:34} {t_small[name]:8.1f}s {t_large[name]:8.1f}s {growth:7.2f} {k:5.2f} {estimate:8.0f}s")
    total_small, total_large = sum(t_small.values()), sum(t_large.values())
    print(f"{'total':34} {total_small:8.1f}s {total_large:8.1f}s {total_large / total_small:7.2f} {'':5} {total_est:8.0f}s")
    dominant = max(t_large, key=t_large.get)
    verdict = "under" if total_est <= GOAL_SECONDS else "OVER"
    print(f"estimated {total_est / 60:.1f} min for {TARGET_RESIDENTS:,} residents: {verdict} the 15-minute goal; "
          f"dominant step at {large:,}: {dominant}\nwork folder: {work}")


if __name__ == "__main__":
    main()
