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
    spark.sql(f"CREATE TABLE IF NOT EXISTS {table.name} USING delta LOCATION '{delta.location(settings, table)}'")
