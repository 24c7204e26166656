"""Orchestrates one generator run: day by day for the daily sources, then the quarterly one.

Everything written for a day is a pure function of (seed, residents, defect rate, day), except
that the registry snapshot is also written on a run's first day when the landing folder has no
up-to-date earlier snapshot. Re-running a day replaces its partitions wholesale.
"""

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from sources import calls, industry, policies, registry, sensors, visits
from sources.defects import GENERATOR_DIR, Defect, rebuild_combined, write_log
from sources.files import clear_dir
from sources.world import World

SOURCES = ("registry", "sensors", "calls", "visits", "policies", "industry")
DAILY_PARTITIONS = (
    "registry", "sensors", "calls", "visits",
    "policies/national", "policies/provincial", "policies/search_ranking",
)  # fmt: skip
Progress = Callable[[str, int, int], None]


def companies_for(residents: int) -> int:
    """Industrial-belt scale follows the run's scale: 1500 companies for 1000 residents."""
    return round(1.5 * max(300, residents))


def generate(
    out: Path,
    residents: int,
    days: int,
    start: date,
    seed: int,
    defect_rate: float = 0.01,
    progress: Progress | None = None,
) -> dict[str, dict[str, int]]:
    """Write `days` days of landing files from `start` into `out`; return per-source counts.

    Counts are {"files": files written, "rows": data records in readable files}, planted
    defective records included, CSV headers and unreadable (truncated/empty/cut) files excluded.
    Defects are listed in `_generator/defects/` and the hidden episodes in `_generator/truth/`,
    one JSONL file per day (`date=YYYY-MM-DD.jsonl`; industry: `quarter=YYYYQN.jsonl`), both
    concatenated into `_generator/defects.jsonl` and `_generator/truth.jsonl` after each run.
    """
    if residents < 1 or days < 1:
        raise ValueError("residents and days must be at least 1")
    if seed < 0:
        raise ValueError("seed must be non-negative")
    if not 0.0 <= defect_rate <= 0.5:
        raise ValueError("defect_rate must be between 0 and 0.5")
    out = Path(out)
    report = progress or (lambda stage, done, total: None)
    stats = {source: {"files": 0, "rows": 0} for source in SOURCES}

    def tally(source: str, files: int, rows: int) -> None:
        stats[source]["files"] += files
        stats[source]["rows"] += rows

    def record(source: str, day_number: int, defects: list[Defect], files: int, rows: int, planted: list[Defect]) -> None:
        """One feed's day: count its files and rows, keep its planted defects, report progress."""
        tally(source, files, rows)
        defects.extend(planted)
        report(source, day_number, days)

    world = World(seed, residents, start)
    for n, day in enumerate((start + timedelta(days=i) for i in range(days)), 1):
        stamp = f"date={day.isoformat()}"
        for partition in DAILY_PARTITIONS:
            clear_dir(out / partition / stamp)
        defects: list[Defect] = []
        today = world.day(day)

        due = registry.snapshot_due(today.registry, day, start, out)
        rows, planted = registry.write_snapshot(out, day, world.cohort, today.registry, seed, defect_rate) if due else (0, [])
        record("registry", n, defects, int(due), rows, planted)
        record("sensors", n, defects, *sensors.write_day(out, today, world.cohort, seed, defect_rate))
        record("calls", n, defects, *calls.write_day(out, world, day, defect_rate))
        files, rows, planted, truth = visits.write_day(out, world, day, defect_rate)
        record("visits", n, defects, files, rows, planted)
        record("policies", n, defects, *policies.write_day(out, seed, day, defect_rate))
        write_log(out / GENERATOR_DIR / "defects" / f"{stamp}.jsonl", [d.to_json() for d in defects])
        write_log(out / GENERATOR_DIR / "truth" / f"{stamp}.jsonl", truth)

    last_day = start + timedelta(days=days - 1)
    quarters = industry.write_quarters(out, seed, companies_for(residents), last_day, defect_rate)
    for n, (q, (rows, planted)) in enumerate(quarters.items(), 1):
        tally("industry", 1, rows)
        name = f"quarter={industry.quarter_label(q)}.jsonl"
        write_log(out / GENERATOR_DIR / "defects" / name, [d.to_json() for d in planted])
        report("industry", n, len(quarters))
    rebuild_combined(out, "defects")
    rebuild_combined(out, "truth")
    return stats
