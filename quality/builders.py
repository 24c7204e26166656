"""Reusable check builders: schema, keys, ranges, sets, freshness, volume, referential integrity.

Everything here returns `Check`s backed by Great Expectations expectations computed on the engine.
Freshness and volume parameters come from Spark SQL aggregates at run time (the latest partition,
the trailing average of daily row counts); the expectation itself is then evaluated by GX.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

import great_expectations.expectations as gxe
from great_expectations.expectations.row_conditions import Column

from gglake.catalog import Table
from quality.checks import Check, CheckContext, Scope, Severity, TableSuite


def _sql_value(value) -> str:
    if isinstance(value, date):
        return f"DATE'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


# --- schema and keys ----------------------------------------------------------------------------------------
def columns_match(table: Table, severity: Severity = "critical") -> Check:
    """The table has exactly the declared columns (a missing or an unexpected column is schema drift)."""
    return Check(
        "schema",
        severity,
        gxe.ExpectTableColumnsToMatchSet(column_set=table.column_names, exact_match=True),
        scope="table",
        description=f"columns are exactly {', '.join(table.column_names)}",
    )


def keys_not_null(keys: Sequence[str], severity: Severity = "critical", scope: Scope = "table") -> list[Check]:
    return [
        Check(
            f"not_null:{key}",
            severity,
            gxe.ExpectColumnValuesToNotBeNull(column=key),
            scope=scope,
            description=f"{key} is never null",
        )
        for key in keys
    ]


def keys_unique(keys: Sequence[str], severity: Severity = "critical", scope: Scope = "table") -> Check:
    """The key (one or several columns) identifies one row of the whole table; the failing rows are those
    whose key another row shares (rows without a key are the not-null checks' concern).

    A grouping query on the engine rather than GX's uniqueness metric: the same answer about 4x faster
    (11 million sensor readings: 20 s → 5 s), where the whole-table check was most of the silver gate.
    """
    columns = ", ".join(keys)
    query = (
        f"SELECT {', '.join(f'b.{k}' for k in keys)} FROM {{batch}} b LEFT SEMI JOIN ("
        f"SELECT {columns} FROM {{batch}} WHERE {' OR '.join(f'{k} IS NOT NULL' for k in keys)} "
        f"GROUP BY {columns} HAVING COUNT(*) > 1) d ON {' AND '.join(f'b.{k} = d.{k}' for k in keys)}"
    )
    return unexpected_rows("keys_unique", query, severity, scope=scope, description=f"({columns}) is unique")


def key_checks(keys: Sequence[str], severity: Severity = "critical") -> list[Check]:
    return [*keys_not_null(keys, severity), keys_unique(keys, severity)]


def keys_suite(
    table: str,
    keys: Sequence[str],
    layer="gold",
    *,
    columns: Sequence[str] | None = None,
    severity: Severity = "critical",
    required: bool = False,
    location: str | None = None,
    extra: Iterable[Check] = (),
) -> TableSuite:
    """The generic suite of any table from its declared keys: keys not null and unique (+ schema if given).

    Used for tables outside the catalog such as dbt marts: ``register(keys_suite("gold.mart_x", ("id",)))``.
    """
    checks = [*key_checks(keys, severity), *extra]
    if columns is not None:
        checks.insert(
            0,
            Check(
                "schema",
                severity,
                gxe.ExpectTableColumnsToMatchSet(column_set=list(columns), exact_match=False),
                scope="table",
                description=f"columns include {', '.join(columns)}",
            ),
        )
    return TableSuite(table, layer, tuple(checks), required=required, location=location)


# --- values -------------------------------------------------------------------------------------------------
def between(
    column: str,
    low: float | None,
    high: float | None,
    severity: Severity = "critical",
    *,
    when: tuple[str, object] | None = None,
    label: str | None = None,
    mostly: float | None = None,
    scope: Scope = "batch",
) -> Check:
    """Non-null values of `column` lie in [low, high]; with `when=(col, value)` only in rows where col == value."""
    kwargs: dict = {"column": column, "min_value": low, "max_value": high}
    if when:
        kwargs["row_condition"] = Column(when[0]) == when[1]
    if mostly is not None:
        kwargs["mostly"] = mostly
    name = f"range:{column}" + (f"[{label or when[1]}]" if when or label else "")
    text = f"{column} within [{low}, {high}]" + (f" where {when[0]} = {when[1]!r}" if when else "")
    return Check(name, severity, gxe.ExpectColumnValuesToBeBetween(**kwargs), scope=scope, description=text)


def rates(columns: Iterable[str], severity: Severity = "critical") -> list[Check]:
    return [between(c, 0, 1, severity) for c in columns]


def in_set(column: str, values: Iterable, severity: Severity = "critical", *, scope: Scope = "batch") -> Check:
    values = list(values)
    return Check(
        f"in_set:{column}",
        severity,
        gxe.ExpectColumnValuesToBeInSet(column=column, value_set=values),
        scope=scope,
        description=f"{column} in {values}",
    )


def not_null(columns: Iterable[str], severity: Severity = "critical", scope: Scope = "batch") -> list[Check]:
    return keys_not_null(list(columns), severity, scope)


def unexpected_rows(
    name: str, query: str, severity: Severity = "critical", *, scope: Scope = "batch", description: str = ""
) -> Check:
    """A rule that no row satisfies: `query` selects the offending rows from ``{batch}`` (Spark SQL)."""
    return Check(
        name,
        severity,
        gxe.UnexpectedRowsExpectation(unexpected_rows_query=query, description=description or name),
        scope=scope,
        description=description or name,
        sample_query=query,
    )


def references(column: str, parent: str, parent_column: str | None = None, severity: Severity = "critical") -> Check:
    """Every non-null `column` of the batch exists in `parent` (a registered table)."""
    parent_column = parent_column or column
    query = (
        f"SELECT DISTINCT b.{column} FROM {{batch}} b LEFT ANTI JOIN {parent} p ON b.{column} = p.{parent_column} "
        f"WHERE b.{column} IS NOT NULL"
    )
    return unexpected_rows(
        f"references:{column}->{parent}.{parent_column}",
        query,
        severity,
        description=f"every {column} exists in {parent}.{parent_column}",
    )


def one_current_version(key: str, severity: Severity = "critical") -> Check:
    """SCD2: exactly one current row per entity key."""
    query = (
        f"SELECT {key}, SUM(CASE WHEN is_current THEN 1 ELSE 0 END) AS current_rows FROM {{batch}} "
        f"GROUP BY {key} HAVING SUM(CASE WHEN is_current THEN 1 ELSE 0 END) <> 1"
    )
    return unexpected_rows(
        "scd2_one_current", query, severity, scope="table", description=f"exactly one is_current row per {key}"
    )


# --- freshness and volume -------------------------------------------------------------------------------------
def freshness(severity: Severity = "warning") -> Check:
    """The table's latest date partition is the run's date."""

    def build(ctx: CheckContext):
        if ctx.run_date is None or ctx.batch_column is None:
            return None
        day = ctx.run_date.isoformat()
        return gxe.ExpectColumnMaxToBeBetween(column=ctx.batch_column, min_value=day, max_value=day)

    return Check("freshness", severity, build, scope="table", description="latest partition is the run date")


PARTIAL_DAY_SHARE = 0.1


def daily_baseline(ctx: CheckContext, days: int = 7, same_weekday_weeks: int = 0) -> tuple[float | None, str]:
    """Average daily row count before the run date, computed on the engine (one aggregate query).

    With `same_weekday_weeks` > 0 the baseline is the same weekday over that many weeks (for feeds with a
    weekly rhythm, such as AI calls made on weekdays), falling back to the trailing `days` days of the same
    kind (weekdays or weekend days) when those weeks have no data yet. Only days with rows count (the
    table's first days have no history), and days with under 10 % of the busiest comparable day's rows are
    left out as partial.
    """
    col, run = ctx.batch_column, ctx.run_date
    assert col is not None and run is not None
    start = run - timedelta(days=max(days, 7 * same_weekday_weeks))
    rows = ctx.spark.sql(
        f"SELECT {col} AS day, COUNT(*) AS n FROM {ctx.table} "
        f"WHERE {col} >= {_sql_value(start)} AND {col} < {_sql_value(run)} GROUP BY {col}"
    ).collect()
    counts = {r["day"]: r["n"] for r in rows}

    def full_days(days_counts: list[int]) -> list[int]:
        # Days with under 10 % of the busiest comparable day's rows are partial (late stragglers before
        # go-live, a feed's first hours): they would drag the baseline down, so they do not count.
        busiest = max(days_counts, default=0)
        return [n for n in days_counts if n >= PARTIAL_DAY_SHARE * busiest]

    if same_weekday_weeks:
        since = run - timedelta(weeks=same_weekday_weeks)
        same = full_days([n for d, n in counts.items() if d.weekday() == run.weekday() and d >= since])
        if same:
            return sum(same) / len(same), f"same weekday over {same_weekday_weeks} weeks ({len(same)} days)"
        # no such weekday yet: the trailing days of the same kind (weekdays, or weekend days)
        weekend = run.weekday() >= 5
        kind = full_days([n for d, n in counts.items() if d >= run - timedelta(days=days) and (d.weekday() >= 5) == weekend])
        if kind:
            return sum(kind) / len(kind), f"trailing {days} days, {'weekend' if weekend else 'weekdays'} only ({len(kind)} days)"
        return None, "no comparable day yet"
    trailing = full_days([n for d, n in counts.items() if d >= run - timedelta(days=days)])
    if trailing:
        return sum(trailing) / len(trailing), f"trailing {days} days ({len(trailing)} full days)"
    return None, "no history"


def volume(
    not_empty: Severity = "critical",
    band: Severity = "warning",
    low: float = 0.5,
    high: float = 2.0,
    days: int = 7,
    same_weekday_weeks: int = 0,
) -> list[Check]:
    """The run date's partition is not empty while history says it should not be (`not_empty`), and its
    row count lies within [low, high] × the baseline daily count (`band`)."""

    def baseline(ctx: CheckContext):
        key = ("volume_baseline", days, same_weekday_weeks)
        if key not in ctx.memo:
            ctx.memo[key] = daily_baseline(ctx, days, same_weekday_weeks)
        return ctx.memo[key]

    def build_not_empty(ctx: CheckContext):
        if ctx.run_date is None or ctx.batch_column is None:
            return None
        avg, basis = baseline(ctx)
        if not avg:
            return None
        return gxe.ExpectTableRowCountToBeBetween(min_value=1, max_value=None, meta={"baseline": round(avg, 2), "basis": basis})

    def build_band(ctx: CheckContext):
        if ctx.run_date is None or ctx.batch_column is None:
            return None
        avg, basis = baseline(ctx)
        if not avg:
            return None
        return gxe.ExpectTableRowCountToBeBetween(
            min_value=int(avg * low), max_value=int(avg * high + 0.999999), meta={"baseline": round(avg, 2), "basis": basis}
        )

    return [
        Check("volume_not_empty", not_empty, build_not_empty, description="rows on the run date when history has rows"),
        Check(
            "volume_within_band",
            band,
            build_band,
            description=f"rows on the run date within {low:.0%}–{high:.0%} of the baseline",
        ),
    ]
