"""One ingest run: recover, land new files into bronze, refine every pending batch into silver.

A batch is done for a bronze table once its reconciliation row is in audit.ingest_batches, so a
run that died half-way is finished by the next one (refining is idempotent per batch).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from gglake import delta, lease
from gglake.catalog import table
from gglake.domain import DELIVERED_ON_CHANGE_ONLY, FEEDS
from gglake.engine import spark_session
from gglake.pseudonym import verify_key
from gglake.settings import Settings
from spark_jobs import bronze
from spark_jobs.entities import entities
from spark_jobs.landing import SOURCES, Source, interval_folders
from spark_jobs.silver import Counts, Refiner, timed

log = logging.getLogger(__name__)

AUDIT = table("audit.ingest_batches")
MANIFEST = table("audit.ingest_manifest")


@dataclass
class TableRun:
    batch_id: str
    bronze_table: str
    silver_table: str
    files: int
    failed_files: int
    rows_landed: int
    counts: Counts

    @property
    def balanced(self) -> bool:
        c = self.counts
        return self.rows_landed == c.bronze and c.bronze == c.silver + c.quarantined + c.duplicates


@dataclass
class IngestSummary:
    batch_id: str
    new_files: int
    failed_files: list[tuple[str, str]] = field(default_factory=list)
    runs: list[TableRun] = field(default_factory=list)
    discarded_orphans: list[str] = field(default_factory=list)
    seconds: float = 0.0


def feed_sources(feeds: Sequence[str] | None) -> tuple[Source, ...]:
    """The sources of the named feeds (all feeds when none are named), in landing order."""
    unknown = sorted(set(feeds or ()) - set(FEEDS))
    if unknown:
        raise ValueError(f"unknown feed {', '.join(unknown)}; feeds: {', '.join(FEEDS)}")
    names = {n for f in (feeds or FEEDS) for n in FEEDS[f]}
    return tuple(s for s in SOURCES if s.name in names)


@dataclass(frozen=True)
class LandingStatus:
    """What a data interval's landing folders hold, against the manifest."""

    missing_folders: tuple[str, ...]  # folders of feeds delivered every interval that hold no file yet
    unrecorded_files: tuple[str, ...]  # files in the interval's folders that no ingest has landed yet

    @property
    def arrived(self) -> bool:
        return not self.missing_folders

    @property
    def ingested(self) -> bool:
        return not self.missing_folders and not self.unrecorded_files


def landing_status(settings: Settings, landing: str, feeds: Sequence[str], start: datetime, end: datetime) -> LandingStatus:
    """Whether the interval's deliveries of `feeds` have arrived and been landed (lists only those folders).

    A feed delivered only when something changed (DELIVERED_ON_CHANGE_ONLY) never counts as missing.
    """
    sources = feed_sources(feeds)
    expected = {s.name: interval_folders(s.pattern, start, end) for s in sources}
    entries = bronze.scan(landing, [f for folders in expected.values() for f in folders])
    on_change = {n for f in feeds if f in DELIVERED_ON_CHANGE_ONLY for n in FEEDS[f]}
    missing = [
        folder
        for name, folders in expected.items()
        if name not in on_change
        for folder in folders
        if not any(e.path.startswith(folder) for e in entries)
    ]
    sizes = bronze.known_files(settings, by_size=True).sizes
    unrecorded = [e.path for e in entries if (e.path, e.size) not in sizes]
    return LandingStatus(tuple(missing), tuple(unrecorded))


def _pending(settings: Settings, sources: Sequence[Source]) -> dict[str, dict[str, list[dict]]]:
    """batch id → bronze table → manifest rows, for this run's (batch, table) pairs not yet reconciled."""
    manifest = delta.read(settings, MANIFEST).to_pylist()
    done = delta.read(settings, AUDIT, columns=["_batch_id", "bronze_table"]).to_pylist()
    finished = {(r["_batch_id"], r["bronze_table"]) for r in done}
    bronze_of = {s.name: s.bronze for s in sources}
    pending: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for row in manifest:
        target = bronze_of.get(row["source"])
        if target and (row["_batch_id"], target) not in finished:
            pending[row["_batch_id"]][target].append(row)
    return pending


def ingest(
    settings: Settings,
    landing: str,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    feeds: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    run_id: str | None = None,
    verify_checksums: bool = False,
    wait_seconds: float = 0.0,
) -> IngestSummary:
    """Land and refine the named feeds (default: all), holding their write leases for the whole run.

    With `start`/`end` (a data interval; naive = KST) only that interval's landing folders are listed
    and read, so a run costs what its interval holds; without them every folder is (a catch-up).
    Batches left pending by an earlier run of the same feeds are refined too. A run on feeds another
    run holds waits up to `wait_seconds`, then raises LeaseHeld; runs on different feeds proceed in
    parallel (the audit tables they share take conflict-free appends). Raises ReconciliationError,
    after recording every batch, when one does not balance. `run_id` (e.g. the Airflow run's) names
    the run in its lease.
    """
    verify_key(settings)  # before any work: the key must be the one this lakehouse's resident keys were made with
    sources = feed_sources(feeds)
    if (start is None) != (end is None):
        raise ValueError("an interval needs both its start and its end")
    folders = None if start is None else [f for s in sources for f in interval_folders(s.pattern, start, end)]
    started = datetime.now(UTC)
    summary = IngestSummary(batch_id=bronze.new_batch_id(started), new_files=0)
    resources = [f"feed:{f}" for f in (feeds or FEEDS)]
    with lease.hold(settings, resources, run_id or summary.batch_id, "ingest", wait_seconds) as held:
        _run(settings, landing, sources, folders, verify_checksums, summary, started, held, progress)
    summary.seconds = (datetime.now(UTC) - started).total_seconds()
    unbalanced = [r for r in summary.runs if not r.balanced]
    if unbalanced:
        names = ", ".join(f"{r.bronze_table} ({r.batch_id})" for r in unbalanced)
        raise ReconciliationError(f"reconciliation failed for {names}: see `gglake audit`", summary)
    return summary


class ReconciliationError(RuntimeError):
    """A batch's counts do not balance (landed = bronze = silver + quarantined + duplicates); every batch
    was recorded in audit.ingest_batches, and `summary` holds the run."""

    def __init__(self, message: str, summary: IngestSummary):
        super().__init__(message)
        self.summary = summary


def _run(
    settings: Settings,
    landing: str,
    sources: Sequence[Source],
    folders: Sequence[str] | None,
    verify_checksums: bool,
    summary: IngestSummary,
    started: datetime,
    held: lease.Lease,
    progress: Callable[[str, int, int], None] | None,
) -> None:
    bronze_tables = {s.bronze for s in sources}
    with timed("recover: discard unrecorded bronze batches"):
        summary.discarded_orphans = bronze.discard_orphans(settings, bronze_tables)
    with timed("land new files into bronze"):
        landed = bronze.land(
            settings,
            landing,
            summary.batch_id,
            started,
            progress,
            sources=sources,
            folders=folders,
            verify_checksums=verify_checksums,
            lease=held,
        )
    summary.new_files = len(landed.results)
    summary.failed_files = [(r.file.path, r.reason or "") for r in landed.results if r.status == "failed"]
    pending = _pending(settings, sources)
    if not pending:
        return
    with timed("refine pending batches (engine session, all tables)"), spark_session(settings) as spark:
        plan = [(b, e) for b in sorted(pending) for e in entities(settings) if e.bronze in pending[b]]
        for done, (batch_id, entity) in enumerate(plan, start=1):
            files = pending[batch_id][entity.bronze]
            ingest_date = files[0]["recorded_at"].date().isoformat()
            refiner = Refiner(spark, settings, batch_id, ingest_date, summary.batch_id)
            loaded = [f for f in files if f["status"] == "loaded"]
            held.ensure_held()
            with timed(f"refine {entity.bronze} ({batch_id})"):
                counts = refiner.refine(entity) if any(f["rows"] for f in loaded) else Counts()
            run = TableRun(
                batch_id=batch_id,
                bronze_table=entity.bronze,
                silver_table=entity.silver,
                files=len(files),
                failed_files=len(files) - len(loaded),
                rows_landed=sum(f["rows"] for f in loaded),
                counts=counts,
            )
            _record(settings, run, started)
            summary.runs.append(run)
            if not run.balanced:
                log.error("batch %s %s does not reconcile: %s", batch_id, entity.bronze, run)
            if progress:
                progress("refine", done, len(plan))
        for batch_id in pending:
            Refiner(spark, settings, batch_id, "", summary.batch_id).cleanup()


def _record(settings: Settings, run: TableRun, started: datetime) -> None:
    c = run.counts
    row = {
        "_batch_id": run.batch_id,
        "bronze_table": run.bronze_table,
        "silver_table": run.silver_table,
        "files": run.files,
        "failed_files": run.failed_files,
        "rows_landed": run.rows_landed,
        "rows_bronze": c.bronze,
        "rows_silver": c.silver,
        "rows_inserted": c.inserted,
        "rows_updated": c.updated,
        "rows_unchanged": c.unchanged,
        "rows_quarantined": c.quarantined,
        "duplicates_merged": c.duplicates,
        "started_at": started,
        "finished_at": datetime.now(UTC),
    }
    delta.append(settings, AUDIT, pa.Table.from_pylist([row], schema=AUDIT.arrow_schema()))
