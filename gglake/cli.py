"""`gglake`: the user's handle on the lakehouse. Every subcommand has --help."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from gglake.settings import ConfigError, Settings

err = Console(stderr=True)
out = Console()


@contextmanager
def _progress():
    """A progress reporter `(stage, done, total)`; silent when stderr is not a terminal."""
    if not err.is_terminal:
        yield lambda stage, done, total: None
        return
    with Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield report


class _Group(click.Group):
    """Expected failures become one clear line and exit code 2, not a traceback."""

    def invoke(self, ctx: click.Context):
        from deltalake.exceptions import DeltaError

        from spark_jobs.landing import FileRejected

        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException):  # --help and usage errors (Exit is a RuntimeError)
            raise
        except (ConfigError, FileNotFoundError, FileRejected, DeltaError, ValueError, RuntimeError) as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group)
@click.option("-v", "--verbose", is_flag=True, help="Log what each step does.")
def main(verbose: bool) -> None:
    """Gyeonggi AI Care & Industry Lakehouse: landing → bronze → silver on Delta Lake.

    The lakehouse root is GGLAKE_HOME (default ./lakehouse); SPARK_REMOTE=sc://host:port selects a
    Spark Connect server instead of the embedded Sail engine.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@main.command()
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Landing folder to write into (created if missing).",
)
@click.option("--residents", default=200, show_default=True, type=click.IntRange(1), help="Enrolled residents.")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1), help="Days of data to write.")
@click.option("--start", default="2026-11-01", show_default=True, type=click.DateTime(["%Y-%m-%d"]), help="First day (KST).")
@click.option("--seed", default=42, show_default=True, type=int, help="Same seed, same files.")
@click.option(
    "--defect-rate",
    default=0.01,
    show_default=True,
    type=click.FloatRange(0, 0.5),
    help="Share of records/files with planted defects (0 = clean data).",
)
def generate(out_dir: Path, residents: int, days: int, start, seed: int, defect_rate: float) -> None:
    """Write realistic landing files for all feeds (sensors, calls, policies, industry, registry, visits)."""
    from sources.generate import generate as run

    began = time.perf_counter()
    with _progress() as progress:
        result = run(out_dir, residents, days, start.date(), seed, defect_rate, progress)
    grid = RichTable("source", "files", "rows", title=f"Generated into {out_dir}")
    for name, stats in result.items():
        grid.add_row(name, f"{stats['files']:,}", f"{stats['rows']:,}")
    out.print(grid)
    out.print(f"done in {time.perf_counter() - began:.1f} s")


@main.command()
@click.option("--landing", required=True, help="Landing folder (or object-store URL) to ingest from.")
def ingest(landing: str) -> None:
    """Land new files into bronze (exactly once per file) and refine them into silver."""
    from spark_jobs.ingest import ingest as run

    settings = Settings.from_env()
    settings.pseudonym_key()  # fail before any work if the key is unsafe
    with _progress() as progress:
        summary = run(settings, landing, progress)
    grid = RichTable(
        "bronze table",
        "silver table",
        "files",
        "landed",
        "silver",
        "quarantined",
        "duplicates",
        "ok",
        title=f"Ingest {summary.batch_id}: {summary.new_files} new files",
    )
    for r in summary.runs:
        c = r.counts
        grid.add_row(
            r.bronze_table,
            r.silver_table,
            str(r.files),
            f"{r.rows_landed:,}",
            f"{c.silver:,}",
            f"{c.quarantined:,}",
            f"{c.duplicates:,}",
            "✓" if r.balanced else "✗",
        )
    out.print(grid)
    if summary.failed_files:
        reasons = Counter(reason for _, reason in summary.failed_files)
        out.print(
            f"[yellow]{len(summary.failed_files)} files rejected[/] ("
            + ", ".join(f"{reason} {n}" for reason, n in reasons.most_common())
            + "); listed in audit.ingest_manifest with status 'failed', e.g.:"
        )
        for path, reason in summary.failed_files[:3]:
            out.print(f"  {path}: {reason}")
    for orphan in summary.discarded_orphans:
        out.print(f"[yellow]discarded unrecorded bronze batch[/] {orphan}")
    rows = sum(r.rows_landed for r in summary.runs)
    rate = rows / summary.seconds if summary.seconds else 0
    out.print(f"{rows:,} rows in {summary.seconds:.1f} s ({rate:,.0f} rows/s)")
    if not all(r.balanced for r in summary.runs):
        raise click.ClickException("reconciliation failed for the tables marked ✗ (see `gglake audit`)")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tables(as_json: bool) -> None:
    """Every catalog table: layer, location, row count and Delta version."""
    from gglake import delta
    from gglake.catalog import TABLES

    settings = Settings.from_env()
    rows = []
    for t in TABLES:
        stats = delta.stats(settings, t)
        rows.append(
            {
                "name": t.name,
                "layer": t.layer,
                "path": delta.location(settings, t),
                "pii": t.pii,
                "rows": stats[0] if stats else None,
                "version": stats[1] if stats else None,
                "exists": stats is not None,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    grid = RichTable("table", "pii", "rows", "version", title=f"Lakehouse {settings.home}")
    for r in rows:
        grid.add_row(
            r["name"],
            r["pii"],
            "—" if r["rows"] is None else f"{r['rows']:,}",
            "—" if r["version"] is None else str(r["version"]),
        )
    out.print(grid)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--batch", help="Only this batch id.")
def audit(as_json: bool, batch: str | None) -> None:
    """Reconciliation per batch and table: landed = bronze = silver + quarantined + duplicates."""
    from gglake import delta
    from gglake.catalog import table

    settings = Settings.from_env()
    rows = delta.read(settings, table("audit.ingest_batches")).to_pylist()
    rows = sorted((r for r in rows if batch in (None, r["_batch_id"])), key=lambda r: (r["_batch_id"], r["bronze_table"]))
    for r in rows:
        r["balanced"] = (
            r["rows_landed"] == r["rows_bronze"] == (r["rows_silver"] + r["rows_quarantined"] + r["duplicates_merged"])
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    grid = RichTable("batch", "bronze table", "landed", "bronze", "silver", "quarantined", "duplicates", "ok")
    for r in rows:
        grid.add_row(
            r["_batch_id"],
            r["bronze_table"],
            f"{r['rows_landed']:,}",
            f"{r['rows_bronze']:,}",
            f"{r['rows_silver']:,}",
            f"{r['rows_quarantined']:,}",
            f"{r['duplicates_merged']:,}",
            "✓" if r["balanced"] else "✗",
        )
    out.print(grid)
    if not all(r["balanced"] for r in rows):
        raise click.ClickException("some batches do not reconcile")


@main.command()
@click.option("--start", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First feature date (KST).")
@click.option("--end", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last feature date, inclusive.")
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "gpu"]),
    default="auto",
    show_default=True,
    help="auto: the GPU (RAPIDS cuDF through cudf-polars) when usable, else the CPU.",
)
def features(start, end, device: str) -> None:
    """Compute features.resident_daily for a date range (replaces exactly those dates)."""
    from models.features import build_features

    began = time.perf_counter()
    run = build_features(Settings.from_env(), start.date(), end.date(), device)
    out.print(
        f"features {run.start} … {run.end}: {run.rows:,} rows for {run.residents:,} residents "
        f"on the {run.device.upper()} in {time.perf_counter() - began:.1f} s"
    )


@main.command()
@click.argument("query")
@click.option("--limit", default=50, show_default=True, help="Rows to show.")
def sql(query: str, limit: int) -> None:
    """Run a SQL query on the engine, with every lakehouse table registered (e.g. silver.care_calls)."""
    from gglake.engine import spark_session

    with spark_session() as spark:
        result = spark.sql(query).limit(limit).toPandas()
    out.print(result.to_string(index=False))


if __name__ == "__main__":
    main()
