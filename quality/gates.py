"""Quality gates between layers: validate every suite of a layer with Great Expectations on the engine.

`run_gate(settings, "silver", run_date)` validates the silver suites, appends one row per expectation to
`audit.quality_results`, rebuilds the GX data docs under ``<GGLAKE_HOME>/quality/docs`` and raises
`QualityGateFailed` when a critical expectation fails (naming the table, the check, the expectation and
sample failing values). Failed warnings are recorded and returned; the pipeline goes on.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from gglake import delta
from gglake.catalog import Table, table
from gglake.settings import Settings
from quality.checks import GATE_LAYERS, SAMPLE_SIZE, Check, CheckContext, GateLayer, TableSuite, suites_for

QUALITY_RESULTS = table("audit.quality_results")

log = logging.getLogger(__name__)

# To move into gglake/catalog.py (AUDIT tuple) so that `gglake tables` and the engine list it.
DOCS_SITE = "lakehouse"


@dataclass(frozen=True)
class CheckResult:
    table: str
    check: str
    expectation: str
    severity: str
    scope: str
    success: bool
    description: str = ""
    observed_value: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    samples: list = field(default_factory=list)
    error: str | None = None

    def line(self) -> str:
        """One human line: table, check, expectation, what was observed and sample failing values."""
        text = f"{self.table}: {self.check} ({self.expectation}) — {self.description}"
        if self.error:
            return f"{text}; could not be evaluated: {self.error}"
        if self.unexpected_count is not None:
            of = f" of {self.element_count:,}" if self.element_count is not None else ""
            text += f"; {self.unexpected_count:,}{of} rows unexpected"
        elif self.observed_value is not None:
            text += f"; observed {_json(self.observed_value)}"
        if self.samples:
            text += f"; sample: {_json(self.samples)}"
        return text


@dataclass
class GateResult:
    layer: str
    run_id: str
    run_date: date | None
    results: list[CheckResult]
    docs_index: str | None = None
    seconds: float = 0.0

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success and r.severity == "critical"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success and r.severity == "warning"]

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        tables = len({r.table for r in self.results})
        return (
            f"quality gate {self.layer!r}{f' for {self.run_date}' if self.run_date else ''}: "
            f"{len(self.results)} expectations on {tables} tables, {len(self.failures)} critical failures, "
            f"{len(self.warnings)} warnings ({self.seconds:.1f} s)"
        )


class QualityGateFailed(RuntimeError):
    """A critical expectation failed: the message names the table, the expectation and failing samples."""

    def __init__(self, result: GateResult):
        self.result = result
        lines = [
            f"quality gate {result.layer!r} failed{f' for {result.run_date}' if result.run_date else ''}: "
            f"{len(result.failures)} critical expectation(s) failed (run {result.run_id})"
        ]
        lines += [f"  - {r.line()}" for r in result.failures]
        if result.docs_index:
            lines.append(f"  data docs: {result.docs_index}")
        super().__init__("\n".join(lines))


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


# --- GX context ---------------------------------------------------------------------------------------------
def _quality_root(settings: Settings) -> tuple[str, bool]:
    """Where GX writes validation results and data docs: <home>/quality for a local home; for an s3:// home
    a local folder that `_publish_docs` copies to <home>/quality afterwards (GX 1.x has no S3 store backend)."""
    location = settings.path("quality")
    if location.startswith("s3://"):
        import tempfile

        return tempfile.mkdtemp(prefix="gglake-quality-"), True
    if "://" in location:
        raise ValueError(f"quality data docs: unsupported lakehouse root {settings.home!r} (a path or s3:// URL)")
    return location, False


def _publish_docs(settings: Settings, local_root: str) -> None:
    """Copy a run's validation results and data docs from `local_root` to the object store's <home>/quality
    (the store's client from the AWS_* variables, as for landing and staging files)."""
    import pyarrow.fs as pafs

    fs, root = pafs.FileSystem.from_uri(settings.path("quality"))
    pafs.copy_files(local_root, root, destination_filesystem=fs)


def _context(quality_root: str, docs: bool):
    """An ephemeral GX context (suites are code) whose validation results and data docs live under
    `quality_root` (<GGLAKE_HOME>/quality/ on a local home, so the docs index lists every gate run; on an
    object store only the run's own)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False),
    )
    if docs:
        config.stores["quality_validation_results"] = {
            "class_name": "ValidationResultsStore",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": f"{quality_root}/validations"},
        }
        config.validation_results_store_name = "quality_validation_results"
        config.data_docs_sites = {
            DOCS_SITE: {
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": f"{quality_root}/docs"},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        }
    ctx = gx.get_context(mode="ephemeral", project_config=config)
    return ctx


# --- one table ----------------------------------------------------------------------------------------------
def _catalog_table(name: str) -> Table | None:
    from gglake.catalog import TABLES

    return next((t for t in TABLES if t.name == name), None)


def _location(settings: Settings, suite: TableSuite) -> str:
    if suite.location:
        return settings.path(suite.location)
    t = _catalog_table(suite.table)
    return delta.location(settings, t) if t else settings.path(*suite.table.split(".", 1))


def _exists(settings: Settings, location: str) -> bool:
    from deltalake import DeltaTable

    return DeltaTable.is_deltatable(location, storage_options=settings.storage_options or None)


def _batch_column(suite: TableSuite) -> str | None:
    if suite.batch_column:
        return suite.batch_column
    t = _catalog_table(suite.table)
    if t is None:
        return None
    kinds = dict(t.columns)
    return next((c for c in t.partition_by if kinds.get(c) == "date"), None)


def _batch(spark, suite: TableSuite, whole, column: str | None, run_date: date | None):
    """The run's slice of the table: its run-date partition (bronze: the latest ingest date)."""
    from pyspark.sql import functions as F

    if column is None:
        return whole, None
    if suite.layer == "bronze":
        latest = whole.agg(F.max(column).alias("d")).collect()[0]["d"]
        return (whole.where(F.col(column) == F.lit(latest)), latest) if latest is not None else (whole, None)
    if run_date is None:
        return whole, None
    return whole.where(F.col(column) == F.lit(run_date)), run_date


def _samples(values) -> list:
    seen, out = set(), []
    for v in values or []:
        key = _json(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
        if len(out) >= SAMPLE_SIZE:
            break
    return out


def _error(info: dict) -> str | None:
    """The message of an expectation that could not be evaluated (GX nests it per metric on metric errors)."""
    if not info:
        return None
    if "raised_exception" in info:
        return (info.get("exception_message") or "raised an exception") if info.get("raised_exception") else None
    for nested in info.values():
        if isinstance(nested, dict) and nested.get("raised_exception"):
            return nested.get("exception_message") or "raised an exception"
    return None


def _row_samples(spark, check: Check, view: str) -> list:
    if not check.sample_query:
        return []
    rows = spark.sql(check.sample_query.format(batch=view)).limit(SAMPLE_SIZE).collect()
    return _samples([r.asDict() if len(r) > 1 else r[0] for r in rows])


def _validate_table(gx_ctx, spark, settings: Settings, suite: TableSuite, run_date: date | None, run_name) -> list[CheckResult]:
    import great_expectations as gx

    location = _location(settings, suite)
    if not _exists(settings, location):
        severity = "critical" if suite.required else "warning"
        return [
            CheckResult(
                suite.table,
                "table_exists",
                "expect_table_to_exist",
                severity,
                "table",
                False,
                f"the table exists at {location}",
                observed_value="missing",
            )
        ]
    layer = suite.table.split(".", 1)[0]
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer}")
    spark.sql(f"CREATE TABLE IF NOT EXISTS {suite.table} USING delta LOCATION '{location}'")
    whole = spark.table(suite.table)
    column = _batch_column(suite)
    batch_df, batch_value = _batch(spark, suite, whole, column, run_date)
    ctx = CheckContext(spark, suite.table, run_date, column, whole)

    by_scope: dict[str, list[tuple[Check, Any]]] = {"table": [], "batch": []}
    results: list[CheckResult] = []
    for check in suite.checks:
        try:
            expectation = check.build(ctx)
        except Exception as exc:  # a baseline query that fails is a failed check, not a crashed gate
            results.append(
                CheckResult(
                    suite.table,
                    check.name,
                    "?",
                    check.severity,
                    check.scope,
                    False,
                    check.description,
                    error=f"{type(exc).__name__}: {exc}",
                )
            )
            continue
        if expectation is None:
            log.info("quality: %s %s skipped (no run date or no history)", suite.table, check.name)
            continue
        meta = {**(expectation.meta or {}), "check": check.name, "severity": check.severity}
        by_scope[check.scope].append((check, expectation.copy(update={"meta": meta, "id": None}, deep=True)))

    ds = gx_ctx.data_sources.get("lakehouse")
    for scope, items in by_scope.items():
        if not items:
            continue
        df = whole if scope == "table" else batch_df
        label = suite.table if scope == "table" else f"{suite.table} [{column}={batch_value}]" if batch_value else suite.table
        asset_name = f"{suite.table}:{scope}"
        asset = ds.add_dataframe_asset(name=asset_name)
        batch_definition = asset.add_batch_definition_whole_dataframe(label)
        gx_suite = gx_ctx.suites.add(gx.ExpectationSuite(name=f"{suite.table}.{scope}", expectations=[e for _, e in items]))
        vd = gx_ctx.validation_definitions.add(
            gx.ValidationDefinition(name=f"{suite.table}.{scope}", data=batch_definition, suite=gx_suite)
        )
        # One GX checkpoint per table and scope: each validates its own engine dataframe.
        checkpoint = gx_ctx.checkpoints.add(
            gx.Checkpoint(
                name=f"{suite.layer}:{suite.table}.{scope}",
                validation_definitions=[vd],
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE},
            )
        )
        outcome = checkpoint.run(batch_parameters={"dataframe": df}, run_id=run_name)
        (run,) = outcome.run_results.values()
        checks = {c.name: c for c, _ in items}
        view = None
        for er in run.results:
            config = er.expectation_config
            check = checks[config.meta["check"]]
            info = er.exception_info or {}
            result = er.result or {}
            error = _error(info)
            samples = _samples(result.get("partial_unexpected_list"))
            observed = result.get("observed_value")
            if not er.success and not error and check.sample_query:
                if view is None:
                    view = f"quality_batch_{uuid.uuid4().hex[:8]}"
                    df.createOrReplaceTempView(view)
                samples = _row_samples(spark, check, view)
            description = check.description
            if "baseline" in (config.meta or {}):
                kw = config.kwargs
                description += (
                    f" (expected {kw.get('min_value')}–{kw.get('max_value') or '∞'} rows; baseline "
                    f"{config.meta['baseline']}/day, {config.meta['basis']})"
                )
            if config.type == "unexpected_rows_expectation":
                unexpected = observed
            else:
                unexpected = result.get("unexpected_count")
            results.append(
                CheckResult(
                    suite.table,
                    check.name,
                    config.type,
                    check.severity,
                    scope,
                    bool(er.success) and not error,
                    description,
                    observed,
                    result.get("element_count"),
                    unexpected,
                    samples,
                    error,
                )
            )
        if view is not None:
            spark.catalog.dropTempView(view)
    order = {c.name: i for i, c in enumerate(suite.checks)}
    return sorted(results, key=lambda r: order.get(r.check, -1))


# --- the gate -----------------------------------------------------------------------------------------------
def _rows(result: GateResult, checked_at: datetime) -> pa.Table:
    rows = [
        {
            "run_id": result.run_id,
            "run_date": result.run_date,
            "layer": result.layer,
            "table_name": r.table,
            "check_name": r.check,
            "expectation": r.expectation,
            "severity": r.severity,
            "scope": r.scope,
            "success": r.success,
            "observed_value": None if r.observed_value is None else _json(r.observed_value),
            "element_count": r.element_count,
            "unexpected_count": r.unexpected_count,
            "sample_values": _json(r.samples) if r.samples else None,
            "description": r.description,
            "error": r.error,
            "checked_at": checked_at,
        }
        for r in result.results
    ]
    return pa.Table.from_pylist(rows, schema=QUALITY_RESULTS.arrow_schema())


def run_gate(
    settings: Settings,
    layer: GateLayer,
    run_date: date | None = None,
    spark=None,
    *,
    tables: list[str] | None = None,
    record: bool = True,
    docs: bool = True,
    raise_on_failure: bool = True,
) -> GateResult:
    """Validate every suite of `layer` (or only `tables`), record the results, build the data docs and
    raise `QualityGateFailed` if a critical expectation failed.

    `run_date`: the pipeline's run date; freshness (latest partition == run date) and volume (the day's
    rows against the trailing average) need it, and row-level checks of date-partitioned tables then
    look at that day's partition only (bronze: the latest ingest date). Without it they cover the whole table.
    `spark`: an open engine session; one is started (and stopped) when not given.
    """
    if layer not in GATE_LAYERS:
        raise ValueError(f"unknown quality gate {layer!r}; one of {', '.join(GATE_LAYERS)}")
    if spark is None:
        from gglake.engine import spark_session

        with spark_session(settings) as session:
            return run_gate(
                settings, layer, run_date, session, tables=tables, record=record, docs=docs, raise_on_failure=raise_on_failure
            )

    from great_expectations.core.run_identifier import RunIdentifier

    began = time.perf_counter()
    checked_at = datetime.now(UTC)
    run_id = f"{layer}-{run_date or 'latest'}-{checked_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    quality_root, on_object_store = _quality_root(settings) if docs else ("", False)
    gx_ctx = _context(quality_root, docs)
    gx_ctx.data_sources.add_spark(name="lakehouse", persist=False)
    run_name = RunIdentifier(run_name=run_id, run_time=checked_at)

    suites = suites_for(layer)
    if tables is not None:
        unknown = sorted(set(tables) - {s.table for s in suites})
        if unknown:
            raise ValueError(f"no {layer} suite for {', '.join(unknown)}")
        suites = [s for s in suites if s.table in tables]
    results: list[CheckResult] = []
    for suite in suites:
        t0 = time.perf_counter()
        results += _validate_table(gx_ctx, spark, settings, suite, run_date, run_name)
        log.info("quality: %s validated in %.2f s", suite.table, time.perf_counter() - t0)

    result = GateResult(layer, run_id, run_date, results)
    if record and results:
        delta.append(settings, QUALITY_RESULTS, _rows(result, checked_at))
    if docs:
        try:
            gx_ctx.build_data_docs(site_names=[DOCS_SITE])
            if on_object_store:
                _publish_docs(settings, quality_root)
            result.docs_index = settings.path("quality", "docs", "index.html")
        except Exception as exc:  # docs are a report, not a gate: never hide the gate's outcome behind them
            log.warning("quality: data docs not built: %s", exc)
        finally:
            if on_object_store:  # the local copy, published or not
                shutil.rmtree(quality_root, ignore_errors=True)
    result.seconds = time.perf_counter() - began
    for w in result.warnings:
        log.info("quality warning (recorded, the run goes on): %s", w.line())
    if result.failures and raise_on_failure:
        raise QualityGateFailed(result)
    return result
