"""The Spark Connect engine: embedded Sail by default, any Spark Connect server via SPARK_REMOTE."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from gglake import delta
from gglake.catalog import TABLES, Table
from gglake.settings import Settings

log = logging.getLogger(__name__)

# Sail logs every session at INFO on stderr; users only need warnings.
os.environ.setdefault("RUST_LOG", "warn,sail_common::actor=error")

SESSION_TIME_ZONE = "Asia/Seoul"  # dates and hours in every table are Korean local time


@contextmanager
def endpoint(settings: Settings) -> Iterator[str]:
    """The Spark Connect URL every caller (sessions, dbt, gates) uses for the block.

    SPARK_REMOTE=sc://host:port selects an external server (a Spark 4 cluster with delta-spark, or a
    Sail server shared by a deployment); otherwise an embedded Sail server is started on 127.0.0.1 and
    stopped when the block ends, after every client session on it.
    """
    if settings.spark_remote:
        log.info("engine: Spark Connect server %s", settings.spark_remote)
        try:
            yield settings.spark_remote
        finally:
            stop_sessions()
        return
    from pysail.spark import SparkConnectServer

    server = SparkConnectServer(ip="127.0.0.1", port=0)
    server.start(background=True)
    host, port = server.listening_address
    remote = f"sc://{host}:{port}"
    log.info("engine: embedded Sail at %s", remote)
    try:
        yield remote
    finally:
        stop_sessions()  # stop the clients first: stopping Sail under a live session can hang
        server.stop()


def stop_sessions() -> None:
    """Stop pyspark's process-wide active and default sessions (dbt-spark creates one of its own), so the
    next block starts clean. pyspark 4.0.1: a stopped session's client collected in the middle of a later
    session's query fails that query ("cannot schedule new futures after shutdown"): collect it now."""
    from pyspark.sql.connect.session import SparkSession

    for session in (SparkSession.getActiveSession(), getattr(SparkSession, "_default_session", None)):
        if session is not None:
            session.stop()
    gc.collect()


@contextmanager
def spark_session(settings: Settings | None = None, tables: Iterable[Table] | None = None) -> Iterator[SparkSession]:  # noqa: F821
    """Yield a Spark Connect session on `endpoint(settings)` with every existing lakehouse table (or only
    `tables`) registered."""
    from pyspark.sql import SparkSession

    settings = settings or Settings.from_env()
    gc.collect()  # finalise stale clients now, not in the middle of this session's queries (see stop_sessions)
    with endpoint(settings) as remote:
        spark = SparkSession.builder.remote(remote).getOrCreate()
        try:
            spark.conf.set("spark.sql.session.timeZone", SESSION_TIME_ZONE)
            register_tables(spark, settings, TABLES if tables is None else tables)
            yield spark
        finally:
            spark.stop()


def register_tables(spark, settings: Settings, tables: Iterable[Table] = TABLES) -> None:
    """Declare the catalog tables (default: all) that exist in storage (Sail's catalog lives in memory).

    Only the layers of `tables` become databases: a session opened for a subset cannot even name the others.
    """
    tables = tuple(tables)
    layers = sorted({t.layer for t in tables})
    for layer in layers:
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer}")
    for table in tables:
        if delta.open_table(settings, table) is not None:
            register_table(spark, settings, table)


def register_table(spark, settings: Settings, table) -> None:
    """Name `table` in this session's catalog, at this lakehouse's location.

    Sail's catalog lives and dies with the session. Spark's is the server's, shared by every session: a name
    may still point at another lakehouse's location (an earlier GGLAKE_HOME on the same cluster), which would
    silently read and write the wrong table. Such a stale entry is dropped first; the table is external, so
    dropping its name leaves its files alone.
    """
    location = delta.location(settings, table)
    if spark.catalog.tableExists(table.name):
        if _same_location(_catalog_location(spark, table.name), location):
            return
        log.info("engine: %s was registered at another location; re-registering it at %s", table.name, location)
        spark.sql(f"DROP TABLE {table.name}")
    spark.sql(f"CREATE TABLE IF NOT EXISTS {table.name} USING delta LOCATION '{location}'")


def _catalog_location(spark, name: str) -> str | None:
    rows = spark.sql(f"DESCRIBE TABLE EXTENDED {name}").collect()
    return next((row.data_type for row in rows if row.col_name == "Location"), None)


def _same_location(registered: str | None, location: str) -> bool:
    """Spark reports local paths as file:/…, and S3A's s3:// URLs unchanged."""
    if registered is None:
        return False
    registered = registered.removeprefix("file://").removeprefix("file:")
    return registered.rstrip("/") == location.rstrip("/")
