"""Direct Delta Lake access through delta-rs, for work that needs no engine.

Creating empty tables, appending Arrow batches (bronze, audit) and reading table metadata do not
need a Spark session; going through delta-rs keeps them fast and lets any process inspect tables.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from gglake.catalog import Table
from gglake.settings import Settings


def location(settings: Settings, table: Table) -> str:
    return settings.path(table.relative_path)


def open_table(settings: Settings, table: Table) -> DeltaTable | None:
    try:
        return DeltaTable(location(settings, table), storage_options=settings.storage_options or None)
    except TableNotFoundError:
        return None


def ensure_table(settings: Settings, table: Table) -> DeltaTable:
    """Create the table empty, with its declared schema and partitioning, if it does not exist yet."""
    existing = open_table(settings, table)
    if existing is not None:
        return existing
    try:
        return DeltaTable.create(
            location(settings, table),
            schema=table.arrow_schema(),
            partition_by=list(table.partition_by) or None,
            mode="ignore",
            name=table.short_name,
            description=table.description,
            storage_options=settings.storage_options or None,
        )
    except CommitFailedError:  # another process created it at the same moment ("protocol changed")
        created = open_table(settings, table)
        if created is None:
            raise
        return created


# Row groups of ~64k rows let the engine scan one file with all its cores (one huge row group
# is read by a single thread).
WRITER = WriterProperties(max_row_group_size=65_536)


def _write(settings: Settings, table: Table, data: pa.Table, mode: str, predicate: str | None = None) -> None:
    """Write rows cast to the declared schema, so a drifting producer cannot change the table."""
    ensure_table(settings, table)
    write_deltalake(
        location(settings, table),
        data.select(table.column_names).cast(table.arrow_schema()),
        mode=mode,
        predicate=predicate,
        partition_by=list(table.partition_by) or None,
        storage_options=settings.storage_options or None,
        writer_properties=WRITER,
    )


def append(settings: Settings, table: Table, data: pa.Table) -> None:
    _write(settings, table, data, "append")


def replace_where(settings: Settings, table: Table, data: pa.Table, predicate: str) -> None:
    """Atomically replace the rows matching `predicate` (e.g. one date's partition) with `data`:
    what makes partition-scoped jobs idempotent."""
    _write(settings, table, data, "overwrite", predicate)


def overwrite(settings: Settings, table: Table, data: pa.Table) -> None:
    """Replace the whole table with `data` in one commit (readers see the old rows or the new, never a mix)."""
    _write(settings, table, data, "overwrite")


def read(settings: Settings, table: Table, columns: list[str] | None = None, filters=None) -> pa.Table:
    """The table as Arrow (optionally pruned by delta-rs `filters`), or empty with the declared schema."""
    dt = open_table(settings, table)
    if dt is None:
        return table.arrow_schema().empty_table() if columns is None else table.arrow_schema().empty_table().select(columns)
    return to_arrow(dt, columns=columns, filters=filters)


def to_arrow(dt: DeltaTable, columns: list[str] | None = None, filters=None) -> pa.Table:
    """Read a loaded table as Arrow; a local table through pyarrow's native filesystem.

    delta-rs's default is a Python-backed pyarrow filesystem whose file objects Arrow's worker threads
    release after the read returned; racing with interpreter exit that aborts the process ("terminate
    called without an active exception", delta-io/delta-rs#2184). A native filesystem has no such objects.
    """
    uri = dt.table_uri
    native = (
        pafs.SubTreeFileSystem(uri.removeprefix("file://"), pafs.LocalFileSystem())
        if "://" not in uri.removeprefix("file://")
        else None
    )
    return dt.to_pyarrow_table(columns=columns, filters=filters, filesystem=native)


def stats(settings: Settings, table: Table) -> tuple[int, int] | None:
    """(row count, Delta version) from the transaction log alone, or None if the table does not exist."""
    dt = open_table(settings, table)
    if dt is None:
        return None
    actions = dt.get_add_actions(flatten=True)
    rows = pc.sum(pa.table(actions).column("num_records")).as_py() if len(actions) else 0
    return int(rows or 0), dt.version()


def insert_new(settings: Settings, table: Table, data: pa.Table, attempts: int = 50) -> int:
    """Insert the rows whose keys (the catalog's) the table does not hold yet, in one conflict-checked
    commit; returns how many were inserted. Concurrent writers conflict and retry, so a key can never
    land twice."""
    ensure_table(settings, table)
    data = data.select(table.column_names).cast(table.arrow_schema())
    predicate = " and ".join(f"t.{k} = s.{k}" for k in table.keys)
    for attempt in range(attempts):
        dt = open_table(settings, table)
        try:
            metrics = (
                dt.merge(data, predicate, source_alias="s", target_alias="t", writer_properties=WRITER)
                .when_not_matched_insert_all()
                .execute()
            )
            return int(metrics["num_target_rows_inserted"])
        except CommitFailedError:
            time.sleep(random.uniform(0.02, 0.2) * (1 + attempt / 10))  # another run committed first
    raise RuntimeError(f"{table.name}: gave up after {attempts} conflicting commits")


_CAS = CommitProperties(max_commit_retries=0)  # a commit lands on exactly the version read, or fails


def swap_rows(settings: Settings, table: Table, decide: Callable[[list[dict]], list[dict] | None], attempts: int = 200) -> bool:
    """Compare-and-swap for a small state table: read its rows, let `decide(rows)` return the new rows (None:
    leave it), and commit them as a rewrite exactly on top of the version read. Delta puts every log entry
    with put-if-absent, so of two processes that decided on the same version one commit lands and the other
    re-reads and decides again on its result. Returns whether this call wrote."""
    for attempt in range(attempts):
        dt = open_table(settings, table)
        new_rows = decide(to_arrow(dt).to_pylist() if dt is not None else [])
        if new_rows is None:
            return False
        if dt is None:  # create it (empty) only when there is something to write, then decide again on it
            ensure_table(settings, table)
            continue
        try:
            write_deltalake(
                dt, pa.Table.from_pylist(new_rows, schema=table.arrow_schema()), mode="overwrite", commit_properties=_CAS
            )
        except CommitFailedError:
            time.sleep(random.uniform(0.01, 0.1) * (1 + attempt / 20))  # another process committed first
            continue
        if dt.version() % 100 == 0:
            dt.create_checkpoint()  # frequent small commits: keep loading the log cheap
        return True
    raise RuntimeError(f"could not update {table.name} after {attempts} attempts (too much contention)")
