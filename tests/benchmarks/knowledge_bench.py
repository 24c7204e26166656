"""Knowledge benchmark: index build time per 1,000 policies, and the read API's latency and throughput.

Needs a lakehouse with silver.welfare_services and gold.mart_policy_popularity (`make run`); works on a copy of
those two tables, never on the lakehouse itself.
  1. Build: `gglake knowledge build` from scratch (facets, chunks, Kiwi tokens, tables, BM25 index) on the
     policies as they are, and on the same policies replicated `--scale` times under new ids (same texts, new
     chunks: every chunk is tokenised again), reported per 1,000 policies; then a rebuild with nothing changed.
  2. API: `--clients` concurrent clients, each asking every question of knowledge/questions.yaml (with its
     profile) `--rounds` times over HTTP on 127.0.0.1; baseline in the same run: the same searches in process
     (no HTTP, no JSON). The ratio is API p50 / in-process p50 (and p99 / p99).

    python -m tests.benchmarks.knowledge_bench --clients 4 --rounds 5
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import click
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table

from gglake import delta
from gglake.catalog import table
from gglake.knowledge.build import build
from gglake.knowledge.evaluate import load_questions
from gglake.knowledge.index import index_dir, load_index, tokenize
from gglake.knowledge.search import search
from gglake.knowledge.service import KnowledgeApi
from gglake.settings import Settings
from tests.benchmarks.dashboards_bench import _load, latency_report
from tests.benchmarks.ingest_bench import machine
from tests.ports import free_port

console = Console()
INPUTS = ("silver/welfare_services", "gold/mart_policy_popularity")


def _copy_inputs(source: Settings, home: Path) -> Settings:
    for relative in INPUTS:
        if not Path(source.path(relative), "_delta_log").exists():
            raise click.ClickException(f"{source.path(relative)} does not exist: run `make run` first")
        shutil.copytree(source.path(relative), home / relative)
    return Settings(home=str(home))


def _replicate(settings: Settings, times: int) -> int:
    """Append `times - 1` copies of every policy under new ids; returns the policy count."""
    services = table("silver.welfare_services")
    rows = delta.read(settings, services)
    for k in range(2, times + 1):
        copy = rows.set_column(rows.schema.get_field_index("service_key"), "service_key",
                               pc.binary_join_element_wise(rows.column("service_key"), pa.scalar(f"-r{k}"), ""))
        copy = copy.set_column(copy.schema.get_field_index("service_id"), "service_id",
                               pc.binary_join_element_wise(copy.column("service_id"), pa.scalar(f"-r{k}"), ""))
        delta.append(settings, services, copy)
    return delta.read(settings, services, columns=["service_key"]).num_rows


def _timed_build(settings: Settings, run_id: str) -> tuple[float, object]:
    began = time.perf_counter()
    summary = build(settings, run_id)
    return time.perf_counter() - began, summary


class InProcess:
    def __init__(self, index, questions) -> None:
        self.index, self.items = index, questions

    def setup(self, n: int):
        return None

    def run(self, _, q) -> None:
        search(self.index, q.question, q.profile, limit=10)


class OverHttp:
    def __init__(self, api: KnowledgeApi, questions) -> None:
        self.api, self.items = api, questions

    def setup(self, n: int):
        return None

    def run(self, _, q) -> None:
        params = {"q": q.question, "limit": 10}
        params |= {k: v for k, v in (("age", q.profile.age), ("district", q.profile.district)) if v is not None}
        if q.profile.groups:
            params["groups"] = ",".join(q.profile.groups)
        with urllib.request.urlopen(f"{self.api.url}/v1/policies/search?{urllib.parse.urlencode(params)}", timeout=30) as reply:
            json.loads(reply.read())


@click.command()
@click.option("--clients", default=4, show_default=True, type=click.IntRange(1), help="Concurrent API clients.")
@click.option("--rounds", default=5, show_default=True, type=click.IntRange(1), help="Passes over the question set per client.")
@click.option("--scale", default=4, show_default=True, type=click.IntRange(2), help="Replication factor for the larger build.")
@click.option("--out", "out", default="bench-out", show_default=True, type=click.Path(file_okay=False, path_type=Path))
def main(clients: int, rounds: int, scale: int, out: Path) -> None:
    load = os.getloadavg()
    questions = load_questions()
    builds = {}
    with tempfile.TemporaryDirectory(prefix="knowledge-bench-") as tmp:
        os.environ.pop("GGLAKE_KNOWLEDGE_INDEX", None)  # the index lives in the copies
        base = _copy_inputs(Settings.from_env(), Path(tmp) / "base")
        tokenize("형태소 분석기 준비")  # Kiwi's model loads once per process (~1.5 s): outside the timings
        seconds, summary = _timed_build(base, "bench-build-1")
        builds["as generated"] = (summary.policies, summary.chunks, seconds)
        rebuild_seconds, again = _timed_build(base, "bench-build-2")
        assert again.new_versions == 0 and not again.index_rebuilt
        big = _copy_inputs(Settings.from_env(), Path(tmp) / "big")
        _replicate(big, scale)
        seconds, summary = _timed_build(big, "bench-build-big")
        builds[f"replicated ×{scale}"] = (summary.policies, summary.chunks, seconds)

        index = load_index(index_dir(base))
        api = KnowledgeApi(index_dir(base), port=free_port(), var=Path(tmp) / "var")
        api.start()
        try:
            OverHttp(api, questions).run(None, questions[0])  # warm up
            http, http_wall, http_errors = _load(clients, rounds, OverHttp(api, questions))
        finally:
            api.stop()
        local, local_wall, local_errors = _load(clients, rounds, InProcess(index, questions))

    shown = Table(title="knowledge build (facets, chunks, Kiwi tokens, Delta tables, BM25 index)")
    for column in ("", "policies", "chunks", "seconds", "s per 1,000 policies"):
        shown.add_column(column, justify="right" if column else "left")
    for name, (policies, chunks, seconds) in builds.items():
        shown.add_row(name, f"{policies:,}", f"{chunks:,}", f"{seconds:.1f}", f"{1000 * seconds / policies:.1f}")
    shown.add_row("rebuild, nothing changed", f"{builds['as generated'][0]:,}", "", f"{rebuild_seconds:.2f}", "")
    console.print(shown)
    (p1, _, s1), (p2, _, s2) = builds.values()
    marginal = 1000 * (s2 - s1) / (p2 - p1)
    console.print(f"marginal build cost: {marginal:.1f} s per 1,000 more policies")
    title = f"policy search: {len(questions)} questions × {rounds} rounds × {clients} concurrent clients"
    rows, ratios = latency_report(title, {"API over HTTP": (http, http_wall, http_errors),
                                          "search in process": (local, local_wall, local_errors)}, 0.99)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "knowledge.json"
    path.write_text(json.dumps({
        "params": {"clients": clients, "rounds": rounds, "scale": scale, "questions": len(questions)},
        "machine": machine(load),
        "builds": {name: {"policies": p, "chunks": c, "seconds": s, "seconds_per_1000_policies": 1000 * s / p}
                   for name, (p, c, s) in builds.items()} | {"rebuild_unchanged_seconds": rebuild_seconds,
                                                              "marginal_seconds_per_1000_policies": marginal},
        "search": rows, "ratio_api_over_in_process": ratios,
    }, indent=2, ensure_ascii=False))  # fmt: skip
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
