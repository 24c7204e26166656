"""`gglake`: the user's handle on the lakehouse. Every subcommand has --help."""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from gglake.domain import FEEDS
from gglake.process import leave
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


MOMENT_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
WAIT_HELP = "Seconds to wait while another run holds the tables this one writes; then refuse with who holds them."


class _Group(click.Group):
    """Expected failures become one clear line on stderr and exit code 1, not a traceback.

    Run as a program (the `gglake` script, `python -m gglake.cli`), the process leaves through `gglake.process.leave`.
    """

    def invoke(self, ctx: click.Context):
        from deltalake.exceptions import DeltaError

        from spark_jobs.landing import FileRejected

        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException):  # --help and usage errors (Exit is a RuntimeError)
            raise
        except Exception as exc:
            message = _engine_error(exc)  # first: some of pyspark's errors are ValueErrors with a stack trace
            if message is not None:
                logging.getLogger(__name__).info("engine error", exc_info=exc)  # the whole story with --verbose
            elif isinstance(exc, ConfigError | FileNotFoundError | FileRejected | DeltaError | ValueError | RuntimeError):
                message = str(exc)
            else:
                raise
            raise click.ClickException(message) from None

    def __call__(self, *args, **kwargs):
        """The program's entry and exit (CliRunner calls `main` directly and never gets here)."""
        try:
            self.main(*args, **kwargs)  # standalone mode: always ends in SystemExit
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc.code)
        except BaseException:  # an unexpected error: the traceback, as the interpreter would print it
            traceback.print_exc()
            code = 1
        leave(code)


def _engine_error(exc: BaseException) -> str | None:
    """One line for an error raised by the engine (pyspark: analysis, parse, Spark Connect), else None."""
    if "pyspark" not in sys.modules:  # no engine was used, so this cannot be one of its errors
        return None
    from pyspark.errors import PySparkException

    if not isinstance(exc, PySparkException):
        return None
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return f"SQL failed: {first[:1000]}"


def _exit_code(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # sys.exit("message"): the interpreter prints it and exits 1
    return 1


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
@click.option(
    "--feed",
    "feeds",
    multiple=True,
    type=click.Choice(list(FEEDS)),
    help="Only this feed (repeatable); default: every feed. Runs on different feeds may run at once.",
)
@click.option("--start", type=click.DateTime(MOMENT_FORMATS), help="Interval start (KST), inclusive.")
@click.option("--end", type=click.DateTime(MOMENT_FORMATS), help="Interval end (KST), exclusive.")
@click.option(
    "--verify-checksums",
    is_flag=True,
    help="Read and hash every file, even those the manifest holds with the same path and size.",
)
@click.option("--wait", "wait_seconds", default=0.0, show_default=True, type=click.FloatRange(0), help=WAIT_HELP)
def ingest(landing: str, feeds: tuple[str, ...], start, end, verify_checksums: bool, wait_seconds: float) -> None:
    """Land new files into bronze (exactly once per file) and refine them into silver.

    With --start/--end only that data interval's landing folders are read (e.g. one hour of sensors);
    without them every folder is (a catch-up).
    """
    from spark_jobs.ingest import ReconciliationError
    from spark_jobs.ingest import ingest as run

    settings = Settings.from_env()
    settings.pseudonym_key()  # fail before any work if the key is unsafe
    try:
        with _progress() as progress:
            summary = run(
                settings,
                landing,
                progress,
                feeds=feeds or None,
                start=start,
                end=end,
                verify_checksums=verify_checksums,
                wait_seconds=wait_seconds,
            )
    except ReconciliationError as exc:
        _print_ingest(exc.summary)
        raise click.ClickException(f"{exc} (tables marked ✗)") from None
    _print_ingest(summary)


def _print_ingest(summary) -> None:
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
    """Reconciliation per batch and table: landed = bronze = silver + quarantined + duplicates.

    Exits 1 when any batch does not reconcile, with or without --json (the JSON is still printed).
    """
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
    else:
        _print_audit(rows)
    if not all(r["balanced"] for r in rows):  # the same exit code for both forms
        raise click.ClickException("some batches do not reconcile")


def _print_audit(rows: list[dict]) -> None:
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
@click.option("--wait", "wait_seconds", default=0.0, show_default=True, type=click.FloatRange(0), help=WAIT_HELP)
def features(start, end, device: str, wait_seconds: float) -> None:
    """Compute features.resident_daily for a date range (replaces exactly those dates)."""
    from models.features import build_features

    began = time.perf_counter()
    run = build_features(Settings.from_env(), start.date(), end.date(), device, wait_seconds=wait_seconds)
    out.print(
        f"features {run.start} … {run.end}: {run.rows:,} rows for {run.residents:,} residents "
        f"on the {run.device.upper()} in {time.perf_counter() - began:.1f} s"
    )


@main.command()
@click.option(
    "--horizon-days",
    default=7,
    show_default=True,
    type=click.IntRange(1),
    help="Predict an adverse visit outcome within this many days.",
)
@click.option(
    "--capacity-share",
    default=0.02,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="Daily alert capacity as a share of residents (for precision@capacity and grade thresholds).",
)
@click.option("--if-missing", is_flag=True, help="Do nothing when a current model exists.")
def train(horizon_days: int, capacity_share: float, if_missing: bool) -> None:
    """Train the risk model on features.resident_daily and visit outcomes; write versioned artifacts and a card."""
    from gglake.pipeline import new_run_id, train_if_needed

    model = train_if_needed(
        Settings.from_env(),
        new_run_id("train"),
        retrain=not if_missing,
        horizon_days=horizon_days,
        capacity_share=capacity_share,
    )
    if not model.trained:
        out.print(f"model {model.model_version} exists; not retraining (--if-missing)")
        return
    _print_metrics(model.card)


def _print_metrics(card: dict) -> None:
    window = card["validation_window"]
    for split, title in (("validation", "held-out period"), ("validation_unseen_residents", "unseen residents")):
        info = card["splits"][split]
        grid = RichTable(
            "scorer",
            "ROC-AUC",
            "PR-AUC",
            "precision@capacity",
            "calibration error (ECE)",
            title=f"Model {card['model_version']}: {title} {window['start']} … {window['end']} "
            f"({info['rows']:,} rows, {info['positives']:,} positive)",
        )
        for name, m in card["metrics"][split].items():
            grid.add_row(name, *(_fmt(m.get(k)) for k in ("roc_auc", "pr_auc", "precision_at_capacity", "ece")))
        out.print(grid)


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"  # a metric is undefined when a split has no positives


@main.command("model-card")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def model_card(as_json: bool) -> None:
    """The current model's card: training window, features, metrics for the model and for rules alone."""
    from models.card import NO_MODEL, current_card

    card = current_card(Settings.from_env())
    if card is None:
        raise click.ClickException(NO_MODEL)
    if as_json:
        click.echo(json.dumps(card, indent=2, ensure_ascii=False, default=str))
    else:
        _print_metrics(card)


@main.command()
@click.option("--date", "score_date", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Day to score (KST).")
@click.option("--end", "end_date", type=click.DateTime(["%Y-%m-%d"]), help="Score every day from --date to this one.")
@click.option("--wait", "wait_seconds", default=0.0, show_default=True, type=click.FloatRange(0), help=WAIT_HELP)
def score(score_date, end_date, wait_seconds: float) -> None:
    """Score every resident for a day (or a range) into gold.risk_scores; 주의 and above into gold.risk_alerts."""
    from gglake.pipeline import new_run_id, score_day

    settings = Settings.from_env()
    day, last = score_date.date(), (end_date or score_date).date()
    if last < day:
        raise click.BadParameter(f"--end {last} is before --date {day}")
    run_id = new_run_id("score")
    while day <= last:
        _print_score(score_day(settings, day, run_id, wait_seconds))
        day += timedelta(days=1)


def _print_score(r) -> None:
    grades = ", ".join(f"{grade} {n:,}" for grade, n in r.grades.items())
    steps = ", ".join(f"{step} {n:,}" for step, n in r.next_steps.items()) or "none"
    out.print(
        f"{r.score_date}: {r.rows:,} residents scored with model {r.model_version}: {grades}; "
        f"{r.alerts:,} alerts (next steps: {steps})"
    )


@main.command("pipeline")
@click.option("--landing", required=True, help="Landing folder (or object-store URL) to ingest from.")
@click.option("--start", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day of features (KST).")
@click.option("--days", required=True, type=click.IntRange(1), help="Days in the range, from --start.")
@click.option(
    "--score-days",
    default=7,
    show_default=True,
    type=click.IntRange(1),
    help="Score the last this many days of the range.",
)
@click.option(
    "--chunk-days",
    type=click.IntRange(1),
    help="Land, gate and feature the range this many days at a time (a long backfill: memory of one chunk).",
)
def pipeline_command(landing: str, start, days: int, score_days: int, chunk_days: int | None) -> None:
    """Catch up a date range: ingest, gates, features, model (if none), scores, dbt, gold gate."""
    from gglake.pipeline import catch_up

    began = time.perf_counter()
    first = start.date()
    result = catch_up(Settings.from_env(), landing, first, first + timedelta(days=days - 1), score_days_back=score_days,
                      chunk_days=chunk_days)  # fmt: skip
    for i in result.ingests:
        out.print(f"ingest {i.batch_id}: {i.new_files:,} new files ({i.failed_files:,} rejected), {i.rows_landed:,} rows")
    for f in result.features:
        out.print(f"features {f.start} … {f.end}: {f.rows:,} rows for {f.residents:,} residents on the {f.device.upper()}")
    m = result.model
    out.print(f"model {m.model_version} ({'trained' if m.trained else 'existing'})")
    for r in result.scores:
        _print_score(r)
    if result.dbt:
        out.print(f"dbt {result.dbt.command}: " + ", ".join(f"{n} {s}" for s, n in sorted(result.dbt.counts.items())))
    for g in result.gates:
        out.print(f"gate {g.layer}: passed ({g.checks} checks, {g.warnings} warnings)")
    out.print(f"done in {time.perf_counter() - began:.1f} s")


@main.command("dbt")
@click.argument("command", type=click.Choice(["build", "run", "test", "seed", "docs", "generate"]), default="build")
@click.option("-s", "--select", "select", help="dbt node selection, e.g. 'kpi_care_monthly+'.")
@click.option("--full-refresh", is_flag=True, help="Drop the gold marts first and rebuild them (after column changes).")
def dbt_command(command: str, select: str | None, full_refresh: bool) -> None:
    """Build the dbt gold marts on the engine (dbt-spark); `docs` generates dbt/target/index.html;
    `generate` rewrites the dbt sources and district seed from the table catalog (commit the change)."""
    from gglake.dbt_runner import run_dbt, write_sources

    if command == "generate":
        changed = write_sources()
        out.print("\n".join(f"rewrote {p}" for p in changed) or "generated dbt files are up to date")
        return

    args = [*(["--select", select] if select else []), *(["--full-refresh"] if full_refresh else [])]
    result = run_dbt("docs generate" if command == "docs" else command, Settings.from_env(), args)
    out.print(result.summary())


@main.command("maintain")
@click.option(
    "--retention-days",
    default=30,
    show_default=True,
    type=click.IntRange(0),
    help="Keep time travel (files of older versions) for this many days; vacuum deletes what is older.",
)
@click.option("--table", "tables", multiple=True, help="Only this catalog table (repeatable), e.g. silver.care_calls.")
@click.option("--wait", "wait_seconds", default=0.0, show_default=True, type=click.FloatRange(0), help=WAIT_HELP)
@click.option("--engine", "backend", type=click.Choice(["delta-rs", "delta-spark"]), default="delta-rs", show_default=True,
              help="delta-rs in this process, or classic PySpark with delta-spark's DeltaTable API.")
def maintain_command(retention_days: int, tables: tuple[str, ...], wait_seconds: float, backend: str) -> None:
    """Compact small files, vacuum unreferenced ones past the retention and checkpoint every table (or --table);
    one row per table in audit.maintenance_runs."""
    from gglake.catalog import table
    from gglake.pipeline import maintain, new_run_id

    for name in tables:
        try:
            table(name)
        except KeyError as exc:
            raise click.BadParameter(str(exc.args[0]), param_hint="--table") from None
    result = maintain(
        Settings.from_env(),
        new_run_id("maintain"),
        retention_days=retention_days,
        tables=tables or None,
        wait_seconds=wait_seconds,
        backend=backend,
    )
    grid = RichTable(
        "table", "files", "MB", "vacuumed files", title=f"Maintenance {result.run_id} (retention {retention_days} days)"
    )
    for t in result.tables:
        grid.add_row(
            t.table_name,
            f"{t.files_before:,} → {t.files_after:,}",
            f"{t.bytes_before / 1e6:,.2f} → {t.bytes_after / 1e6:,.2f}",
            f"{t.files_vacuumed:,}",
        )
    out.print(grid)
    out.print(f"{len(result.tables)} tables in {result.seconds:.1f} s")


@main.command("publish")
@click.option(
    "--target",
    help="A DuckDB file path or a postgresql:// URL (default: GGLAKE_SERVING_URL, else $GGLAKE_HOME/serving/gglake.duckdb).",
)
@click.option("--run-id", help="The publishing run's id (default: a new one).")
def publish_command(target: str | None, run_id: str | None) -> None:
    """Release the gold marts (audit.publications) and publish the serving store from them: every public
    dataset, small cells suppressed, swapped in at once."""
    from gglake.pipeline import new_run_id, publish

    result = publish(Settings.from_env(), "marts", run_id or new_run_id("publish"), target)
    served = result.serving
    grid = RichTable("dataset", "rows", "suppressed cells", title=f"Serving store {served.target}")
    for name, rows in served.rows.items():
        grid.add_row(name, f"{rows:,}", f"{served.suppressed_cells[name]:,}")
    out.print(grid)
    out.print(f"{result.run_id}: {len(served.rows)} datasets published in {served.seconds:.1f} s")


@main.command()
@click.argument("query")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(0), help="Rows to show.")
def sql(query: str, limit: int) -> None:
    """Run one read-only query on the engine (e.g. select * from silver.care_calls).

    Writes, DDL and session commands are refused; the restricted zone (restricted, bronze, quarantine)
    needs GGLAKE_SQL_PRIVILEGED=1 (not in production), and every such query is logged. See gglake/sql_access.py.
    """
    from gglake.sql_access import run_query

    result = run_query(Settings.from_env(), query, limit)
    click.echo(result.to_string(index=False))


@main.command("report")
@click.option("--month", required=True, help="The month to report, YYYY-MM (e.g. 2026-10).")
@click.option("--district", help="A district code (e.g. 41110 for 수원시): its KPIs and charts, its row highlighted.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into (default: $GGLAKE_HOME/reports).",
)
def report_command(month: str, district: str | None, out_dir: Path | None) -> None:
    """Build the policymakers' monthly KPI report (HTML and PDF) from the public serving store only:
    counts below the small-cell threshold show as <5. Files: kpi-YYYY-MM[-district].html/.pdf."""
    from gglake.report import build_report

    result = build_report(Settings.from_env(), month, district, out_dir)
    out.print(f"wrote {result.html}", soft_wrap=True)
    out.print(f"wrote {result.pdf} ({result.pages} pages) in {result.seconds:.1f} s", soft_wrap=True)


def _register_plugins() -> None:
    from gglake.knowledge.cli import knowledge_cli
    from gglake.superset import dashboards_cli
    from quality.cli import quality  # the gate runner's command lives with the gates

    main.add_command(quality)
    main.add_command(dashboards_cli)
    main.add_command(knowledge_cli)


_register_plugins()


@main.group()
def airflow() -> None:
    """The local Airflow deployment (Sail + Airflow on 127.0.0.1): start, stop, run days, any Airflow command."""


@airflow.command("start")
def airflow_start() -> None:
    """Start the Sail engine and Airflow (api-server, scheduler, dag-processor); they keep running."""
    from gglake.deployment import Deployment

    deployment = Deployment()
    deployment.start()
    out.print(f"Airflow UI: {deployment.url}  user admin, password: $GGLAKE_AIRFLOW_ADMIN_PASSWORD "
              f"(or {deployment.airflow_home / 'secrets.json'}); engine {deployment.spark_remote}; stop with `make stop`")


@airflow.command("stop")
def airflow_stop() -> None:
    """Stop every service `gglake airflow start` started (by PID)."""
    from gglake.deployment import Deployment

    out.print("stopped: " + (", ".join(Deployment().stop()) or "nothing was running"))


@airflow.command("run")
@click.option("--start", "first", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day (KST).")
@click.option("--days", default=2, show_default=True, type=click.IntRange(1), help="Days to run.")
@click.option("--stop/--keep-running", default=True, show_default=True, help="Stop the services afterwards.")
def airflow_run(first, days: int, stop: bool) -> None:
    """Run days through Airflow: every ingest DAG run of their intervals, care_risk_daily per day, then
    gold_marts; print the DAG runs, tables and quality results. Exits 1 if a run failed."""
    from gglake.deployment import Deployment, run_days
    from gglake.orchestration import INGEST_DAGS

    began = time.perf_counter()
    deployment = Deployment()
    checked_from = datetime.now(UTC)
    try:
        deployment.start(wait_for_dags=[*INGEST_DAGS.values(), "care_risk_daily", "gold_marts"], scheduler=False)
        states = run_days(deployment, first.date(), days)
    finally:
        if stop:
            deployment.stop()
    grid = RichTable("DAG", "runs", "success", "failed", title=f"Airflow runs for {days} day(s) from {first:%Y-%m-%d}")
    for dag_id, counts in states.items():
        grid.add_row(dag_id, str(sum(counts.values())), str(counts.get("success", 0)), str(counts.get("failed", 0)))
    out.print(grid)
    _print_quality_since(checked_from)
    out.print(f"Airflow part done in {time.perf_counter() - began:.0f} s; task logs under "
              f"{deployment.airflow_home / 'logs'}; `make airflow` shows them in the UI")
    if any(counts.get("failed") for counts in states.values()):
        raise click.ClickException("some DAG runs failed: see the task logs (and `make airflow`)")


def _print_quality_since(since) -> None:
    from gglake import delta
    from gglake.catalog import table

    rows = delta.read(Settings.from_env(), table("audit.quality_results"), columns=["layer", "severity", "success", "checked_at"])
    by_layer: Counter = Counter()
    failed: Counter = Counter()
    for r in rows.to_pylist():
        if r["checked_at"] and r["checked_at"] >= since:
            by_layer[r["layer"]] += 1
            failed[(r["layer"], r["severity"])] += not r["success"]
    grid = RichTable("gate", "expectations", "critical failed", "warnings", title="Quality gates run by these DAGs")
    for layer, n in sorted(by_layer.items()):
        grid.add_row(layer, str(n), str(failed[(layer, "critical")]), str(failed[(layer, "warning")]))
    out.print(grid)


@airflow.command("cli", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def airflow_cli(args: tuple[str, ...]) -> None:
    """Any Airflow CLI command against this deployment, e.g. `gglake airflow cli dags list`."""
    from gglake.deployment import Deployment

    code = Deployment().airflow(*args, check=False, capture=False).returncode
    if code:
        raise click.exceptions.Exit(code)


@main.group("spark")
def spark_cli() -> None:
    """The `spark` engine profile: a Spark 4 standalone cluster (master, workers, Delta Connect server) on 127.0.0.1."""


@spark_cli.command("start")
def spark_start() -> None:
    """Start the cluster and its Connect server (jars from `make spark-jars`); they keep running.

    With the AWS_* variables of an s3:// home set (e.g. from `gglake s3 env`), the cluster gets them for S3A."""
    from gglake.spark_cluster import SparkCluster

    began = time.perf_counter()
    cluster = SparkCluster()
    cluster.start()
    out.print(f"Spark cluster up in {time.perf_counter() - began:.0f} s: master UI http://127.0.0.1:{cluster.master_ui_port}, "
              f"application UI http://127.0.0.1:{cluster.driver_ui_port}; use it with\n  export SPARK_REMOTE={cluster.remote}",
              soft_wrap=True)


@spark_cli.command("stop")
def spark_stop() -> None:
    """Stop the Connect server, the workers and the master (by PID)."""
    from gglake.spark_cluster import SparkCluster

    out.print("stopped: " + (", ".join(SparkCluster().stop()) or "nothing was running"))


@spark_cli.command("status")
def spark_status() -> None:
    """Which cluster processes run, and the workers the master sees."""
    from gglake.spark_cluster import SparkCluster

    cluster = SparkCluster()
    for name, pid in cluster.status().items():
        out.print(f"{name:16} {'pid ' + str(pid) if pid else 'not running'}")
    if cluster.pid("spark-master"):
        for worker in cluster.master_state()["workers"]:
            out.print(f"  {worker['id']}: {worker['state']}, {worker['coresused']}/{worker['cores']} cores used")


@main.group("s3")
def s3_cli() -> None:
    """A local S3 API (SeaweedFS) on 127.0.0.1 for an s3:// GGLAKE_HOME."""


@s3_cli.command("start")
def s3_start() -> None:
    """Start SeaweedFS with its bucket; print the variables of an s3:// home on it."""
    from gglake.object_store import ObjectStore

    store = ObjectStore()
    store.start()
    out.print(f"S3 API at {store.endpoint}, bucket {store.bucket}; use it with\n  eval \"$(gglake s3 env)\"", soft_wrap=True)


@s3_cli.command("env")
def s3_env() -> None:
    """Shell `export` lines for an s3:// home on the local server (GGLAKE_HOME and the AWS_* variables)."""
    import shlex

    from gglake.object_store import ObjectStore

    store = ObjectStore()
    for name, value in {"GGLAKE_HOME": f"s3://{store.bucket}/gglake", **store.env()}.items():
        click.echo(f"export {name}={shlex.quote(value)}")


@s3_cli.command("stop")
def s3_stop() -> None:
    """Stop SeaweedFS (by PID); its data stays under var/s3."""
    from gglake.object_store import ObjectStore

    out.print("stopped: " + ("seaweedfs" if ObjectStore().stop() else "nothing was running"))


if __name__ == "__main__":
    main()
