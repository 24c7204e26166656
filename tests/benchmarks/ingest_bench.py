"""Ingest benchmark: the lakehouse (landing → bronze → silver) against what a user would write instead.

    python -m tests.benchmarks.ingest_bench --residents 1000 --days 7 [--seed 42] [--repeat 1] [--out bench-out]

The numbers (each measured --repeat times; the table shows the median, and min–max when R > 1):
- lakehouse, all tables: wall time of `ingest()` on a fresh GGLAKE_HOME, all sources, bronze and
  silver (engine start included); rows = rows landed in bronze over all tables.
- lakehouse, sensors: the `land new files into bronze` step (every source; sensors are ~98% of
  the rows) plus the `refine bronze.sensor_readings` step, both from the `spark_jobs` INFO log;
  rows = sensor rows landed. This is the time the baselines are compared with (ratio column).
- lakehouse, 2nd ingest: `ingest()` again on the same landing folder (every file is known: a no-op).
- baselines (tests/benchmarks/baselines.py, spark_baseline.py): the sensor feed only, same landing
  files, same rules, same output shape; seconds from start to the last file written, registry
  read included, JVM start-up excluded (its own row); rows = lines read from readable files.
- rows/s = rows / seconds; ratio = seconds / the lakehouse's sensor seconds (>1: slower).
- CPU s: user + system CPU seconds over the same span: the bench process (all threads, the embedded
  engine included), its finished children, and the Spark JVM (from /proc, start-up included).
  CPU s well below cores x seconds means waiting, or (see loadavg in the JSON) other load.
Everything is also written to <out>/ingest-<N>x<D>.json. No timing is asserted anywhere.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date
from importlib.metadata import version
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gglake.settings import Settings
from sources.generate import generate
from spark_jobs.ingest import ingest
from tests.benchmarks.baselines import Result, run_duckdb, run_pandas

ROOT = Path(__file__).resolve().parents[2]
START = date(2026, 11, 1)
MARKER = "_bench_generated.json"  # written last; ingest ignores paths starting with "_"
STEP = re.compile(r"^(?P<step>.*?)\s+(?P<seconds>-?\d+\.\d+) s$")  # spark_jobs.silver.timed: "%-48s %6.2f s"
BATCH = re.compile(r"\s*\(b\d{8}T\d+Z\)")
LAND, REFINE_SENSORS = "land new files into bronze", "refine bronze.sensor_readings"
RATIO = f"ratio = seconds / lakehouse sensor seconds = seconds / ('{LAND}' (all sources) + '{REFINE_SENSORS}')"
PACKAGES = ("pysail", "pyspark", "duckdb", "pandas", "deltalake", "pyarrow")
console = Console() if sys.stdout.isatty() else Console(width=150)


def landing_folder(out: Path, residents: int, days: int, seed: int) -> Path:
    folder = out / f"landing-{residents}x{days}-s{seed}"
    if (folder / MARKER).exists():
        console.print(f"reusing landing folder {folder}")
        return folder
    shutil.rmtree(folder, ignore_errors=True)  # a half-written folder from an interrupted run
    console.print(f"generating {folder} …")
    began = time.perf_counter()
    stats = generate(folder, residents, days, START, seed)
    seconds = time.perf_counter() - began
    params = {"residents": residents, "days": days, "seed": seed, "start": START.isoformat()}
    (folder / MARKER).write_text(json.dumps(params | {"seconds": seconds, "stats": stats}))
    return folder


class StepTimes(logging.Handler):
    """Collects `spark_jobs` step timings (batch ids stripped, repeated steps summed)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.steps: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if match := STEP.match(message):
            step = BATCH.sub("", match["step"]).strip()
            self.steps[step] = self.steps.get(step, 0.0) + float(match["seconds"])
        elif record.levelno >= logging.ERROR:
            console.print(f"[bold red]{record.name}: {escape(message)}")


@contextmanager
def captured_steps() -> Iterator[StepTimes]:
    logger, handler = logging.getLogger("spark_jobs"), StepTimes()
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False  # the expected "landing file … rejected" warnings stay off the console
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def cpu_seconds() -> float:
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


@dataclass
class LakeRun:
    home: str
    seconds: float
    cpu_seconds: float
    noop_seconds: float
    noop_new_files: int
    rows_landed: int
    silver_rows: int
    sensor_rows_landed: int
    sensor_inserted: int
    steps: dict[str, float]

    @property
    def sensor_seconds(self) -> float:
        return self.steps.get(LAND, float("nan")) + self.steps.get(REFINE_SENSORS, float("nan"))


def run_lakehouse(landing: Path, work: Path) -> LakeRun:
    settings = Settings(home=tempfile.mkdtemp(prefix="home-", dir=work))
    with captured_steps() as log:
        began, cpu = time.perf_counter(), cpu_seconds()
        summary = ingest(settings, str(landing))
        seconds, cpu = time.perf_counter() - began, cpu_seconds() - cpu
    began = time.perf_counter()
    again = ingest(settings, str(landing))
    noop = time.perf_counter() - began
    sensors = next(r for r in summary.runs if r.bronze_table == "bronze.sensor_readings")
    return LakeRun(
        settings.home, seconds, cpu, noop, again.new_files,
        rows_landed=sum(r.rows_landed for r in summary.runs),
        silver_rows=sum(r.counts.inserted + r.counts.updated for r in summary.runs),
        sensor_rows_landed=sensors.rows_landed, sensor_inserted=sensors.counts.inserted, steps=log.steps,
    )  # fmt: skip


def run_spark(landing: Path, home: str, out: Path) -> Result:
    """Classic JVM Spark in a child process (see spark_baseline.py); raises RuntimeError when it cannot run."""
    command = [sys.executable, "-m", "tests.benchmarks.spark_baseline", str(landing), home, str(out)]
    # the lakehouse's Spark Connect session marked this process (and so its children) as Connect mode
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE", "SPARK_LOCAL_REMOTE")}
    try:
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(str(exc)) from exc
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if "Error" in line or "Exception" in line]
        raise RuntimeError((errors or proc.stderr.splitlines() or ["no output"])[-1][:300])
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    extra = {"jvm_startup": data["startup"], "jvm_cpu_seconds": data["jvm_cpu_seconds"] or 0.0}
    counts = [data[k] for k in ("rows_read", "accepted", "rejected", "files_skipped")]
    return Result(data["seconds"], *counts, data["reasons"], extra)


BASELINES: dict[str, tuple[str, Callable[[Path, str, Path], Result]]] = {
    "pandas + deltalake": ("sensors only → Delta", run_pandas),
    "DuckDB": ("sensors only → Parquet, no Delta log", run_duckdb),
    "Spark JVM local[2]": ("sensors only → Parquet, no Delta", run_spark),
}


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def seconds_cell(values: list[float]) -> str:
    s = spread(values)
    return f"{s['median']:.2f}" if len(values) == 1 else f"{s['median']:.2f} ({s['min']:.2f}–{s['max']:.2f})"


def machine(load: tuple[float, float, float]) -> dict:
    meminfo = Path("/proc/meminfo").read_text().splitlines() if Path("/proc/meminfo").exists() else []
    total_kb = next((int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:")), 0)
    return {
        "cpus": os.cpu_count(),
        "mem_total_gib": round(total_kb / 2**20, 1),
        "loadavg_at_start": load,  # other work on the machine skews every number
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: version(name) for name in PACKAGES},
    }


def report(lakes: list[LakeRun], results: dict[str, list[Result]], skipped: dict[str, str]) -> list[dict]:
    sensor_s = statistics.median(lake.sensor_seconds for lake in lakes)
    rows: list[dict] = []

    def add(engine: str, scope: str, seconds: list[float], n: int | None, ratio: bool = True, cpu: Sequence[float] = ()) -> None:
        med, cpu_med = statistics.median(seconds), statistics.median(cpu) if cpu else None
        rows.append({"engine": engine, "scope": scope, "seconds": spread(seconds), "rows": n, "cpu_seconds": cpu_med,
                     "rows_per_s": n / med if n and med else None, "ratio": med / sensor_s if ratio else None})  # fmt: skip
        table.add_row(engine, scope, seconds_cell(seconds), f"{n:,}" if n is not None else "—",
                      f"{n / med:,.0f}" if n and med else "—", f"{med / sensor_s:.2f}" if ratio else "—",
                      f"{cpu_med:.1f}" if cpu_med is not None else "—")  # fmt: skip

    table = Table(title="Ingest benchmark (median seconds; min–max over repeats)")
    for column in ("engine", "scope", "seconds", "rows", "rows/s", "ratio", "CPU s"):
        table.add_column(column, justify="left" if column in ("engine", "scope") else "right")
    first = lakes[0]
    add(
        "lakehouse (Sail + delta-rs)",
        "all tables, bronze + silver",
        [x.seconds for x in lakes],
        first.rows_landed,
        False,
        [x.cpu_seconds for x in lakes],
    )
    add(
        "lakehouse (Sail + delta-rs)", "sensors: land (all) + refine", [x.sensor_seconds for x in lakes], first.sensor_rows_landed
    )
    add("lakehouse 2nd ingest", f"no-op ({first.noop_new_files} new files)", [x.noop_seconds for x in lakes], None, False)
    for engine, runs in results.items():
        cpu = [r.extra["cpu_seconds"] for r in runs]
        add(engine, BASELINES[engine][0], [r.seconds for r in runs], runs[0].rows_read, cpu=cpu)
        if "jvm_startup" in runs[0].extra:
            add("Spark JVM start-up", "SparkSession.getOrCreate()", [r.extra["jvm_startup"] for r in runs], None, False)
    for engine, reason in skipped.items():
        table.add_row(engine, f"skipped: {escape(reason)}", "—", "—", "—", "—", "—")
    console.print(table)
    console.print(RATIO)

    steps = Table(title="Lakehouse steps (spark_jobs INFO log, median seconds)")
    steps.add_column("step")
    steps.add_column("seconds", justify="right")
    for name in dict.fromkeys(name for lake in lakes for name in lake.steps):
        steps.add_row(name, seconds_cell([lake.steps[name] for lake in lakes if name in lake.steps]))
    console.print(steps)
    console.print("('refine pending batches' wraps the engine session and every refine step, so it overlaps them.)")

    inserted = lakes[0].sensor_inserted
    for engine, runs in results.items():
        r = runs[0]
        delta = (r.accepted - inserted) / inserted if inserted else float("inf")
        verdict = "[green]OK" if abs(delta) <= 0.005 else "[bold red]MISMATCH (> 0.5%)"
        console.print(
            f"{engine}: read {r.rows_read:,} (lakehouse landed {lakes[0].sensor_rows_landed:,}), accepted {r.accepted:,} vs "
            f"lakehouse silver inserted {inserted:,} ({delta:+.3%}) {verdict}[/]; rejected {r.rejected:,}, "
            f"duplicates {r.duplicates:,}, files skipped {r.files_skipped}"
        )
    return rows


@click.command()
@click.option("--residents", default=1000, show_default=True, type=click.IntRange(1))
@click.option("--days", default=7, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=42, show_default=True, type=click.IntRange(0))
@click.option("--repeat", default=1, show_default=True, type=click.IntRange(1), help="Runs of each measured thing.")
@click.option("--out", "out", default="bench-out", show_default=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--spark/--no-spark", default=True, show_default=True, help="Include the JVM Spark baseline.")
def main(residents: int, days: int, seed: int, repeat: int, out: Path, spark: bool) -> None:
    began, load = time.perf_counter(), os.getloadavg()
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    landing = landing_folder(out, residents, days, seed)
    work = out / f"work-{residents}x{days}"  # lakehouse homes and baseline outputs of the latest run
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    lakes: list[LakeRun] = []
    results: dict[str, list[Result]] = {}
    skipped: dict[str, str] = {} if spark else {"Spark JVM local[2]": "--no-spark"}
    for i in range(1, repeat + 1):
        console.print(f"[bold]run {i}/{repeat}[/]: lakehouse ingest …")
        lakes.append(run_lakehouse(landing, work))
        for engine, (_, run) in BASELINES.items():
            if engine in skipped:
                continue
            console.print(f"  {engine} …")
            target = work / f"{engine.split()[0].lower()}-{i}"
            target.mkdir()
            try:
                cpu = cpu_seconds()
                result = run(landing, lakes[-1].home, target)
                result.extra["cpu_seconds"] = cpu_seconds() - cpu + result.extra.get("jvm_cpu_seconds", 0.0)
                results.setdefault(engine, []).append(result)
            except RuntimeError as exc:  # the Spark child process could not run: skip it, say why
                skipped[engine] = str(exc)
                results.pop(engine, None)
                console.print(f"  [yellow]{engine} skipped: {escape(str(exc))}")

    rows = report(lakes, results, skipped)
    total = time.perf_counter() - began
    console.print(f"bench wall time {total:.1f} s (generation included when it ran)")
    document = {
        "params": {"residents": residents, "days": days, "seed": seed, "repeat": repeat, "start": START.isoformat(),
                   "landing": str(landing)},
        "machine": machine(load),
        "ratio_definition": RATIO,
        "table": rows,
        "lakehouse": [asdict(lake) | {"sensor_seconds": lake.sensor_seconds} for lake in lakes],
        "baselines": {engine: [asdict(r) | {"duplicates": r.duplicates} for r in runs] for engine, runs in results.items()},
        "skipped": skipped,
        "bench_seconds": total,
    }  # fmt: skip
    path = out / f"ingest-{residents}x{days}.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False))
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
