"""Weekly Delta maintenance of every lakehouse table: compaction, vacuum, checkpoint, log clean-up.

Sail parses neither OPTIMIZE nor VACUUM, so the work goes through delta-rs, which handles the tables Sail
writes (and Sail reads and MERGEs them afterwards). Per table, holding its write lease:

1. files and bytes of the current version;
2. `optimize.compact()`: small files are rewritten into files of about TARGET_FILE_BYTES, within each
   partition (compaction never mixes partitions), as one commit with dataChange=false;
3. `vacuum(retention)`: data files no version younger than the retention references are deleted, so time
   travel keeps working over the audit window (default 30 days);
4. `create_checkpoint()`, then `cleanup_metadata()` (log entries past the table's log retention) — only
   when the log retention is at least the vacuum retention, so the log never forgets a version whose files
   are kept;
5. files and bytes after; one row in audit.maintenance_runs.

`backend="delta-spark"` (`gglake maintain --engine delta-spark`) does steps 2-3 with classic PySpark and
delta-spark's `DeltaTable` API instead (`optimize().executeCompaction()`, `vacuum()`; delta-spark checkpoints
and cleans the log by itself every 10 commits), for clusters whose operators run Delta maintenance from Spark.
Its session comes from `configure_spark_with_delta_pip` (Ivy finds the jar in the Maven cache `make
spark-jars` filled, or on Maven Central); SPARK_REMOTE is ignored: the `DeltaTable` API needs a classic
session (Delta Connect's server plugin would allow it over Connect, but its jars are not served here).

Leases. A table is compacted only while its writer is excluded, so each table takes `maintain:<table>` plus
the lease its writer holds: a feed's bronze, quarantine, silver (and for the registry, restricted) tables
→ `feed:<feed>`; features.resident_daily → models.features.FEATURES_LEASE; gold.risk_* →
models.scoring.RISK_LEASE. Audit tables and gold marts have no single writer's lease (the audit tables are
written by runs of every feed at once) and take only `maintain:<table>`.

Concurrency with the writers that hold no such lease (checked against delta-rs 1.6 on this repository's
write paths, tests/test_maintenance.py):
- A blind append (`delta.append`: audit.ingest_batches, audit.quality_results) never conflicts with a
  compaction: delta-rs rebases whichever commits second and both land.
- `delta.insert_new` (audit.ingest_manifest) is an insert-only MERGE over the files compaction rewrites. A
  merge that read the table before a compaction committed fails with CommitFailedError ("a concurrent
  transaction added new data") and insert_new retries it on the new version (up to 50 times); a compaction
  that commits after such a merge rebases over the merge's added file and lands. Should a compaction still
  conflict (a writer that removed files), it fails cleanly: recorded as the table's error, and the next run
  compacts the table.
- `delta.swap_rows` (audit.leases, audit.pseudonym_keys) rewrites the whole table (always one file, so
  compaction has nothing to do); a swap that loses a commit race to vacuum's log entries retries. audit.leases, rewritten by
  every lease change, is never vacuumed with less than LEASE_TABLE_MIN_RETENTION, so a reader of the
  version before the last change still finds its file.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import WriterProperties

from gglake import delta, lease
from gglake.catalog import TABLES, Table, table
from gglake.settings import Settings

log = logging.getLogger(__name__)

RUNS = table("audit.maintenance_runs")
TARGET_FILE_BYTES = 128 * 1024**2  # Delta's usual target; the engine splits files by row group
# delta.WRITER's row groups (one file's scan spread over the engine's cores), compressed: delta-rs writes
# uncompressed Parquet unless told, which would make a compacted table larger than the files it replaced.
WRITER = WriterProperties(max_row_group_size=65_536, compression="ZSTD", compression_level=3)
LEASE_TABLE_MIN_RETENTION = timedelta(hours=1)
DEFAULT_LOG_RETENTION = timedelta(days=30)  # Delta's default delta.logRetentionDuration


@dataclass(frozen=True)
class TableMaintenance:
    table_name: str
    files_before: int
    bytes_before: int
    files_after: int
    bytes_after: int
    files_compacted: int
    files_added: int
    files_vacuumed: int
    version_before: int
    version_after: int
    error: str | None = None


class MaintenanceFailed(RuntimeError):
    """Some tables could not be maintained (the others were); `tables` holds every table's outcome."""

    def __init__(self, message: str, tables: list[TableMaintenance]):
        super().__init__(message)
        self.tables = tables


def writer_leases(settings: Settings) -> dict[str, str]:
    """Table name → the lease its writer holds, for the tables written under one (see the module doc)."""
    from gglake.catalog import GOLD_KNOWLEDGE
    from gglake.domain import FEEDS
    from gglake.knowledge.build import KNOWLEDGE_LEASE
    from models.features import FEATURES_LEASE
    from models.scoring import RISK_LEASE
    from spark_jobs.entities import entities
    from spark_jobs.landing import SOURCES

    feed_of_source = {source: feed for feed, sources in FEEDS.items() for source in sources}
    silver_of_bronze = {e.bronze: e.silver for e in entities(settings)}
    leases: dict[str, str] = {}
    for source in SOURCES:
        resource = f"feed:{feed_of_source[source.name]}"
        silver = silver_of_bronze[source.bronze]
        for name in (source.bronze, silver, f"quarantine.{silver.split('.', 1)[1]}"):
            leases[name] = resource
        if silver == "silver.residents":  # the registry feed also writes the identifiers
            leases["restricted.resident_registry"] = resource
    leases["features.resident_daily"] = FEATURES_LEASE
    for t in TABLES:
        if t.name.startswith("gold.risk_"):
            leases[t.name] = RISK_LEASE
    for t in GOLD_KNOWLEDGE:
        leases[t.name] = KNOWLEDGE_LEASE
    return leases


def lease_resources(settings: Settings, name: str) -> list[str]:
    writer = writer_leases(settings).get(name)
    return [f"maintain:{name}", *([writer] if writer else [])]


def _files(dt) -> tuple[int, int]:
    actions = pa.table(dt.get_add_actions(flatten=True))
    if not len(actions):
        return 0, 0
    return len(actions), int(pc.sum(actions.column("size_bytes")).as_py() or 0)


_INTERVAL = re.compile(r"^\s*interval\s+(\d+)\s+(second|minute|hour|day|week)s?\s*$", re.IGNORECASE)


def log_retention(dt) -> timedelta | None:
    """The table's delta.logRetentionDuration (Delta's default 30 days), or None when it cannot be read."""
    value = dt.metadata().configuration.get("delta.logRetentionDuration")
    if value is None:
        return DEFAULT_LOG_RETENTION
    match = _INTERVAL.match(value)
    return timedelta(**{f"{match[2].lower()}s": int(match[1])}) if match else None


def maintain_table(settings: Settings, t: Table, retention: timedelta, cleanup_log: bool = True) -> TableMaintenance:
    """Compact, vacuum and checkpoint one existing table (the caller holds its leases)."""
    dt = delta.open_table(settings, t)
    version_before = dt.version()
    files_before, bytes_before = _files(dt)
    metrics = dt.optimize.compact(target_size=TARGET_FILE_BYTES, writer_properties=WRITER)
    if t.name == "audit.leases":
        retention = max(retention, LEASE_TABLE_MIN_RETENTION)
    dt = delta.open_table(settings, t)  # the version compaction committed
    vacuumed = dt.vacuum(retention_hours=int(retention.total_seconds() // 3600), enforce_retention_duration=False, dry_run=False)
    dt = delta.open_table(settings, t)
    dt.create_checkpoint()
    keep_log = log_retention(dt)
    if cleanup_log and keep_log is not None and keep_log >= retention:
        dt.cleanup_metadata()
    dt = delta.open_table(settings, t)
    files_after, bytes_after = _files(dt)
    return TableMaintenance(
        t.name,
        files_before,
        bytes_before,
        files_after,
        bytes_after,
        int(metrics.get("numFilesRemoved", 0)),
        int(metrics.get("numFilesAdded", 0)),
        len(vacuumed),
        version_before,
        dt.version(),
    )


BACKENDS = ("delta-rs", "delta-spark")


@contextmanager
def classic_delta_session(settings: Settings, master: str = "local[2]"):
    """A classic (py4j) PySpark session with Delta, via delta-spark's configure_spark_with_delta_pip."""
    from delta import configure_spark_with_delta_pip
    from pyspark.sql import SparkSession

    from gglake.spark_cluster import ENGINE_CONF, S3_JARS, SparkCluster, s3a_conf

    hidden = {name: os.environ.pop(name) for name in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED") if name in os.environ}
    builder = SparkSession.builder.master(master).appName("gglake-maintain")
    for key, value in {**ENGINE_CONF, **s3a_conf(settings.storage_options),
                       "spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1",
                       "spark.ui.enabled": "false",
                       "spark.databricks.delta.retentionDurationCheck.enabled": "false"}.items():  # fmt: skip
        builder = builder.config(key, value)
    if settings.storage_options:  # S3A from `make spark-jars` (the AWS bundle is too big for Ivy every time)
        jars = SparkCluster().jars_dir
        builder = builder.config("spark.driver.extraClassPath", os.pathsep.join(str(jars / j) for j in S3_JARS))
    spark = configure_spark_with_delta_pip(builder).getOrCreate()
    try:
        yield spark
    finally:
        spark.stop()
        os.environ.update(hidden)


def maintain_table_classic(spark, settings: Settings, t: Table, retention: timedelta) -> TableMaintenance:
    """Compaction and vacuum of one table with delta-spark's DeltaTable API (the caller holds its leases)."""
    from delta.tables import DeltaTable

    before = delta.open_table(settings, t)
    version_before = before.version()
    files_before, bytes_before = _files(before)
    table_api = DeltaTable.forPath(spark, delta.location(settings, t))
    compacted = table_api.optimize().executeCompaction().collect()[0].metrics
    if t.name == "audit.leases":
        retention = max(retention, LEASE_TABLE_MIN_RETENTION)
    table_api.vacuum(retention.total_seconds() / 3600)
    vacuum_end = table_api.history(1).collect()[0]
    after = delta.open_table(settings, t)
    files_after, bytes_after = _files(after)
    return TableMaintenance(
        t.name, files_before, bytes_before, files_after, bytes_after,
        int(compacted.numFilesRemoved), int(compacted.numFilesAdded),
        int(vacuum_end.operationMetrics.get("numDeletedFiles", 0)) if vacuum_end.operation == "VACUUM END" else 0,
        version_before, after.version(),
    )  # fmt: skip


def maintain(
    settings: Settings,
    run_id: str,
    *,
    retention_days: int = 30,
    tables: Sequence[str] | None = None,
    wait_seconds: float = 0.0,
    cleanup_log: bool = True,
    backend: str = "delta-rs",
) -> list[TableMaintenance]:
    """Maintain every existing catalog table (or only `tables`), each under its write leases, recording one
    audit.maintenance_runs row per table. A table that fails (its lease held past `wait_seconds` — one
    deadline for the whole run — or a conflicting commit) is recorded with its error, the others are still
    maintained, and the run then raises LeaseHeld (every failure a held lease) or MaintenanceFailed, naming
    the failed tables."""
    if retention_days < 0:
        raise ValueError(f"retention_days must be >= 0, not {retention_days}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    with ExitStack() as stack:
        spark = stack.enter_context(classic_delta_session(settings)) if backend == "delta-spark" else None
        return _maintain(settings, run_id, retention_days, tables, wait_seconds, cleanup_log, spark)


def _maintain(settings, run_id, retention_days, tables, wait_seconds, cleanup_log, spark) -> list[TableMaintenance]:
    wanted = [table(name) for name in tables] if tables else list(TABLES)
    retention = timedelta(days=retention_days)
    deadline = time.monotonic() + wait_seconds
    outcomes: list[TableMaintenance] = []
    rows: list[dict] = []
    held_errors: list[lease.LeaseHeld] = []
    for t in wanted:
        if delta.open_table(settings, t) is None:
            continue
        started = datetime.now(UTC)
        try:
            wait = max(0.0, deadline - time.monotonic())
            with lease.hold(settings, lease_resources(settings, t.name), run_id, "maintain", wait) as held:
                held.ensure_held()
                if spark is None:
                    outcome = maintain_table(settings, t, retention, cleanup_log)
                else:
                    outcome = maintain_table_classic(spark, settings, t, retention)
        except Exception as exc:  # recorded; the other tables are still maintained
            log.warning("maintain %s failed: %s", t.name, exc)
            if isinstance(exc, lease.LeaseHeld):
                held_errors.append(exc)
            try:
                dt = delta.open_table(settings, t)
                files, size, version = *_files(dt), dt.version()
            except Exception:  # the table cannot even be read: record the maintenance error alone
                files, size, version = 0, 0, -1
            outcome = TableMaintenance(t.name, files, size, files, size, 0, 0, 0, version, version, str(exc))
        log.info("maintain %s: %s", t.name, outcome)
        outcomes.append(outcome)
        rows.append(
            {
                "run_id": run_id,
                **asdict(outcome),
                "retention_days": retention_days,
                "started_at": started,
                "finished_at": datetime.now(UTC),
            }
        )
    if rows:
        delta.append(settings, RUNS, pa.Table.from_pylist(rows, schema=RUNS.arrow_schema()))
    failed = [o for o in outcomes if o.error]
    if failed:
        names = ", ".join(o.table_name for o in failed)
        if len(held_errors) == len(failed):
            raise lease.LeaseHeld(f"maintain: not maintained: {names}: {held_errors[0]}")
        first = next((line for line in failed[0].error.splitlines() if line.strip()), "")
        raise MaintenanceFailed(f"maintain failed for {names} (see audit.maintenance_runs): {first}", outcomes)
    return outcomes
