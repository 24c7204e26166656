"""The vocabulary of quality suites: checks with a severity, per-table suites and their registry.

A suite is code: a `TableSuite` names a table, the gate (layer) that validates it and its checks. Each
`Check` yields one Great Expectations expectation, either fixed or built at run time from the run's
context (run date, baselines computed on the engine). Checks run on one of two batches of the table:

- ``table``: the whole table (schema, key uniqueness, freshness);
- ``batch``: the run's slice, i.e. the run date's partition of a date-partitioned table (the latest
  ``_ingest_date`` for bronze), or the whole table when it has no date partition or no run date is given.

Every metric is computed by the engine (Spark Connect / Sail), never by pulling a table into pandas; only
samples of failing values (5 at most) and aggregates come back to Python.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

Severity = Literal["critical", "warning"]
Scope = Literal["table", "batch"]
GateLayer = Literal["bronze", "silver", "features", "gold"]
GATE_LAYERS: tuple[GateLayer, ...] = ("bronze", "silver", "features", "gold")

SAMPLE_SIZE = 5  # failing values shown in messages and stored in audit.quality_results


@dataclass(frozen=True)
class CheckContext:
    """What a run-time check may use to build its expectation."""

    spark: SparkSession
    table: str
    run_date: date | None
    batch_column: str | None  # the date column that defines the run's batch, if any
    whole: DataFrame  # the whole table (lazy: nothing is collected)
    memo: dict = field(default_factory=dict, compare=False)  # per-run cache shared by the table's checks


@dataclass(frozen=True)
class Check:
    """One expectation with a severity.

    `expectation` is a GX expectation object, or a function of the `CheckContext` returning one (or None
    to skip the check for this run, e.g. freshness when no run date is given). `name` is the stable id
    used in messages and in audit.quality_results (e.g. ``keys_unique``, ``range:value[heart_rate]``).
    """

    name: str
    severity: Severity
    expectation: Any  # great_expectations Expectation | Callable[[CheckContext], Expectation | None]
    scope: Scope = "batch"
    description: str = ""
    sample_query: str | None = None  # for UnexpectedRowsExpectation: the query that gives sample rows ({batch} = the batch)

    def build(self, ctx: CheckContext):
        return self.expectation(ctx) if callable(self.expectation) else self.expectation


@dataclass(frozen=True)
class TableSuite:
    """The checks of one table, validated by the gate of `layer`.

    `location` defaults to the catalog's path for catalog tables; a table outside the catalog (a dbt
    mart) gives its storage path relative to the lakehouse root, e.g. ``gold/mart_x``.
    `required`: a missing table is a critical failure (else a warning: a mart not built yet).
    `batch_column`: the date column that defines the run's batch (default: the catalog's date partition).
    """

    table: str
    layer: GateLayer
    checks: tuple[Check, ...]
    required: bool = True
    batch_column: str | None = None
    location: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


SUITES: dict[str, TableSuite] = {}


def register(*suites: TableSuite) -> None:
    """Add (or replace) suites in the registry, keyed by table name."""
    for suite in suites:
        if suite.layer not in GATE_LAYERS:
            raise ValueError(f"{suite.table}: unknown gate layer {suite.layer!r}; one of {', '.join(GATE_LAYERS)}")
        names = [c.name for c in suite.checks]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"{suite.table}: duplicated check names {duplicated}")
        SUITES[suite.table] = suite


def suites_for(layer: GateLayer) -> list[TableSuite]:
    import quality.suites  # noqa: F401  (registers the built-in suites)

    return [s for s in SUITES.values() if s.layer == layer]


ContextFn = Callable[[CheckContext], Any]
