"""Scale-out benchmark: the same pipeline on embedded Sail and on the Spark 4 standalone cluster, one run.

Generates one landing folder, then per engine on a fresh local home: `gglake ingest` (landing → bronze →
silver), the rest of `gglake pipeline` (gates, features, model, scores, dbt, gold gate; its ingest finds every
file known), and a second `gglake dbt build` over the same tables (the marts alone). The cluster (master + 2
workers + Delta Connect server, `gglake.spark_cluster`) runs on free ports under a temporary folder; its
start-up is timed apart. Prints seconds per step and the Spark/Sail ratio.

    python -m tests.benchmarks.scaleout_bench --residents 150 --days 36
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from gglake.spark_cluster import SparkCluster
from sources.generate import generate

GGLAKE = str(Path(sys.executable).parent / "gglake")
START = date(2026, 9, 1)


def _timed(command: list[str], env: dict[str, str], log: Path) -> float:
    began = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    if code:
        raise SystemExit(f"{' '.join(command[1:3])} failed ({code}); see {log}")
    return time.perf_counter() - began


def run_engine(name: str, landing: Path, days: int, work: Path, remote: str | None) -> dict[str, float]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GGLAKE_", "SPARK_REMOTE"))}
    env = {**kept, "GGLAKE_ENV": "test", "GGLAKE_HOME": str(work / f"home-{name}")}
    if remote:
        env["SPARK_REMOTE"] = remote
    pipeline = [GGLAKE, "pipeline", "--landing", str(landing), "--start", START.isoformat(), "--days", str(days),
                "--score-days", "1"]  # fmt: skip
    return {
        "ingest": _timed([GGLAKE, "ingest", "--landing", str(landing)], env, work / f"{name}-ingest.log"),
        "gates, features, model, scores, dbt": _timed(pipeline, env, work / f"{name}-pipeline.log"),
        "dbt build (marts again)": _timed([GGLAKE, "dbt", "build"], env, work / f"{name}-dbt.log"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=150)
    parser.add_argument("--days", type=int, default=36)
    args = parser.parse_args()
    from ports import free_port_run, free_ports  # tests/ports.py

    work = Path(tempfile.mkdtemp(prefix="gglake-scaleout-bench-"))
    landing = work / "landing"
    generate(landing, args.residents, args.days, START, 42, defect_rate=0.01)
    sail = run_engine("sail", landing, args.days, work, None)
    master, connect, driver_ui = free_ports(3)
    ui = free_port_run(3, taken=(master, connect, driver_ui))  # the workers' UIs sit after the master's
    cluster = SparkCluster(var=work / "spark-var", master_port=master, master_ui_port=ui, connect_port=connect,
                           driver_ui_port=driver_ui)  # fmt: skip
    began = time.perf_counter()
    try:
        cluster.start()
        startup = time.perf_counter() - began
        spark = run_engine("spark", landing, args.days, work, cluster.remote)
    finally:
        cluster.stop()
    print(f"\n{args.residents} residents x {args.days} days; Spark cluster start-up {startup:.1f} s (not counted below)")
    print(f"{'step':40} {'Sail s':>8} {'Spark s':>8} {'Spark/Sail':>10}")
    for step in sail:
        print(f"{step:40} {sail[step]:8.1f} {spark[step]:8.1f} {spark[step] / sail[step]:10.1f}")
    total_sail, total_spark = sum(sail.values()), sum(spark.values())
    print(f"{'total':40} {total_sail:8.1f} {total_spark:8.1f} {total_spark / total_sail:10.1f}\nlogs: {work}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
