"""Direct Delta Lake access through delta-rs, for work that needs no engine.

Creating empty tables, appending Arrow batches (bronze, audit) and reading table metadata do not
need a Spark session; going through delta-rs keeps them fast and lets any process inspect tables.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import TableNotFoundError

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
    return DeltaTable.create(
        location(settings, table),
        schema=table.arrow_schema(),
        partition_by=list(table.partition_by) or None,
        mode="ignore",
        name=table.short_name,
        description=table.description,
        storage_options=settings.storage_options or None,
    )


# Row groups of ~64k rows let the engine scan one file with all its cores (one huge row group
# is read by a single thread).
WRITER = WriterProperties(max_row_group_size=65_536)


def append(settings: Settings, table: Table, data: pa.Table) -> None:
    """Append rows, cast to the declared schema so a drifting producer cannot change the table."""
    ensure_table(settings, table)
    write_deltalake(
        location(settings, table),
        data.select(table.column_names).cast(table.arrow_schema()),
        mode="append",
        partition_by=list(table.partition_by) or None,
        storage_options=settings.storage_options or None,
        writer_properties=WRITER,
    )


def replace_where(settings: Settings, table: Table, data: pa.Table, predicate: str) -> None:
    """Atomically replace the rows matching `predicate` (e.g. one date's partition) with `data`:
    what makes partition-scoped jobs idempotent."""
    ensure_table(settings, table)
    write_deltalake(
        location(settings, table),
        data.select(table.column_names).cast(table.arrow_schema()),
        mode="overwrite",
        predicate=predicate,
        partition_by=list(table.partition_by) or None,
        storage_options=settings.storage_options or None,
        writer_properties=WRITER,
    )


def read(settings: Settings, table: Table, columns: list[str] | None = None, filters=None) -> pa.Table:
    """The table as Arrow (optionally pruned by delta-rs `filters`), or empty with the declared schema."""
    dt = open_table(settings, table)
    if dt is None:
        return table.arrow_schema().empty_table() if columns is None else table.arrow_schema().empty_table().select(columns)
    return dt.to_pyarrow_table(columns=columns, filters=filters)


def stats(settings: Settings, table: Table) -> tuple[int, int] | None:
    """(row count, Delta version) from the transaction log alone, or None if the table does not exist."""
    dt = open_table(settings, table)
    if dt is None:
        return None
    actions = dt.get_add_actions(flatten=True)
    rows = pc.sum(pa.table(actions).column("num_records")).as_py() if len(actions) else 0
    return int(rows or 0), dt.version()
