"""Dashboard-query benchmark: Superset's chart-data API against the same SQL run directly on the serving file.

Needs a published serving store (`make run`, or `gglake publish`) and Superset (`make superset-install`); starts
the local Superset when it is not running and loads the bundle. For every chart of the five dashboards it asks
Superset once for the SQL the chart runs (result_type "query"), then times in one run, with the same number of
concurrent users each walking every chart:
  1. the chart-data API (GET /api/v1/chart/<id>/data/: login token, permission and RLS checks, SQL generation,
     a fresh read-only DuckDB connection per query as Superset opens it, JSON) as the provincial user;
  2. the same SQL on the serving DuckDB file directly, a fresh read-only connection per query.
The ratio is API p50 / direct p50 (and p95 / p95).

    python -m tests.benchmarks.dashboards_bench --users 4 --rounds 5
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from gglake.superset import Superset
from tests.benchmarks.ingest_bench import machine

console = Console()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _load(users: int, rounds: int, work) -> tuple[list[float], float, list[str]]:
    """Run `work(user, item)` for users × rounds × items in `users` threads; latencies (s), wall time, errors."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def user(n: int) -> None:
        mine, failed = [], []
        try:
            state = work.setup(n)
        except Exception as exc:  # noqa: BLE001 - a user that cannot start counts all its queries as failed
            with lock:
                errors.extend([f"setup: {exc}"[:200]] * rounds * len(work.items))
            return
        for _ in range(rounds):
            for item in work.items:
                began = time.perf_counter()
                try:
                    work.run(state, item)
                    mine.append(time.perf_counter() - began)
                except Exception as exc:  # noqa: BLE001 - counted and shown
                    failed.append(str(exc)[:200])
        with lock:
            latencies.extend(mine)
            errors.extend(failed)

    threads = [threading.Thread(target=user, args=(n,)) for n in range(users)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - began, errors


def latency_report(title: str, runs: dict[str, tuple[list[float], float, list[str]]], tail: float) -> tuple[dict, dict]:
    """Rows (queries, errors, p50, the `tail` percentile, queries/s) for each of `runs` (the first is measured, the
    second its baseline), printed as a table with the ratio of the two; returns (rows, ratios)."""
    tail_key = f"p{round(tail * 100)}"
    rows = {}
    for name, (latencies, wall, errors) in runs.items():
        rows[name] = {"queries": len(latencies), "errors": len(errors), "p50_ms": 1000 * statistics.median(latencies),
                      f"{tail_key}_ms": 1000 * _percentile(latencies, tail), "queries_per_s": len(latencies) / wall,
                      "error_samples": errors[:3]}  # fmt: skip
    measured, baseline = rows.values()
    ratios = {q: measured[f"{q}_ms"] / baseline[f"{q}_ms"] for q in ("p50", tail_key)}
    shown = Table(title=title)
    for column in ("", "queries", "errors", "p50 ms", f"{tail_key} ms", "queries/s"):
        shown.add_column(column, justify="right" if column else "left")
    for name, row in rows.items():
        shown.add_row(name, str(row["queries"]), str(row["errors"]), f"{row['p50_ms']:.1f}", f"{row[f'{tail_key}_ms']:.1f}",
                      f"{row['queries_per_s']:.1f}")
    console.print(shown)
    first, second = runs
    console.print(f"ratio {first} / {second}: p50 {ratios['p50']:.1f}×, {tail_key} {ratios[tail_key]:.1f}×")
    return rows, ratios


class ChartApi:
    def __init__(self, superset: Superset, charts: list[int]) -> None:
        self.superset, self.items = superset, charts

    def setup(self, n: int):
        client = self.superset.client("provincial")
        client.chart_data(self.items[0])  # log in outside the timing
        return client

    def run(self, client, chart: int) -> None:
        client.chart_data(chart)


class DirectDuckDB:
    def __init__(self, path: Path, statements: list[str]) -> None:
        self.path, self.items = path, statements

    def setup(self, n: int):
        return None

    def run(self, _, sql: str) -> None:
        import duckdb

        with duckdb.connect(str(self.path), read_only=True) as con:
            con.execute(sql).fetchall()


def chart_sql(client, chart: int) -> str:
    context = json.loads(client.request("GET", f"/api/v1/chart/{chart}")["result"]["query_context"])
    context["result_type"] = "query"
    reply = client.request("POST", "/api/v1/chart/data", context)
    return reply["result"][0]["query"]


@click.command()
@click.option("--users", default=4, show_default=True, type=click.IntRange(1), help="Concurrent dashboard users.")
@click.option("--rounds", default=5, show_default=True, type=click.IntRange(1), help="Walks over every chart per user.")
@click.option("--out", "out", default="bench-out", show_default=True, type=click.Path(file_okay=False, path_type=Path))
def main(users: int, rounds: int, out: Path) -> None:
    load = os.getloadavg()
    superset = Superset()
    if not superset.serving_path.exists():
        raise click.ClickException(f"no serving store at {superset.serving_path}: run `make run` (or gglake publish)")
    started_here = superset.pid() is None
    superset.start()
    try:
        superset.load_dashboards()
        superset.create_roles()
        admin = superset.client()
        charts = sorted(c["id"] for c in admin.list("chart", ["id"]))
        # The provincial role's SQL has no RLS clause, so the same statements are a like-for-like baseline.
        provincial = superset.client("provincial")
        statements = [chart_sql(provincial, c) for c in charts]
        provincial.chart_data(charts[0])  # warm the workers' imports
        api, api_wall, api_errors = _load(users, rounds, ChartApi(superset, charts))
        direct, direct_wall, direct_errors = _load(users, rounds, DirectDuckDB(superset.serving_path, statements))
    finally:
        if started_here:
            superset.stop()

    title = f"dashboard queries: {len(charts)} charts × {rounds} rounds × {users} concurrent users"
    rows, ratios = latency_report(title, {"Superset chart-data API": (api, api_wall, api_errors),
                                          "DuckDB direct (same SQL)": (direct, direct_wall, direct_errors)}, 0.95)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "dashboards.json"
    path.write_text(json.dumps({"params": {"users": users, "rounds": rounds, "charts": len(charts),
                                           "serving_file": str(superset.serving_path),
                                           "superset_workers": superset.workers},
                                "machine": machine(load), "results": rows, "ratio_api_over_direct": ratios},
                               indent=2, ensure_ascii=False))
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
