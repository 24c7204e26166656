"""Read-only, zone-aware SQL for `gglake sql`.

How access is controlled here, on a local lakehouse:

1. Every statement is parsed with sqlglot (Spark dialect) before an engine starts. Exactly one statement
   is accepted, and it must be a query: SELECT, WITH … SELECT, UNION/INTERSECT/EXCEPT or VALUES. Anything
   else (INSERT/UPDATE/DELETE/MERGE, CREATE/DROP/ALTER/TRUNCATE, INSERT OVERWRITE, SELECT … INTO, SET/RESET,
   USE, CACHE, LOAD, ADD JAR, SHOW/DESCRIBE/EXPLAIN, …) and anything sqlglot cannot parse as a query is refused.
2. The whole parsed tree is walked (CTEs, subqueries, joins, set operations, scalar subqueries): every table
   reference must be a catalog table named `layer.table`, or a CTE of the query. Path-based references
   (delta.`/path`, parquet.`s3://…`, csv/json/text/…), table functions other than value generators (range,
   explode, inline, stack, …) such as read_files, IDENTIFIER(…), JVM reflection (reflect, java_method) and
   `${…}` variable substitution are refused.
3. The restricted zone is every layer that holds a table of PII class 'restricted' in gglake.catalog
   (restricted, bronze, quarantine): raw payloads, names, phones, addresses. Its tables are readable only with
   GGLAKE_SQL_PRIVILEGED=1. That mode is refused unless GGLAKE_ENV is dev or test (in production, identifiers
   are read through the cluster's grants, not an environment variable) and when GGLAKE_HOME is not local.
   Each privileged query warns on stderr and first appends a JSON record (time, OS user, tables, sha256 of the
   query; never its text, which may carry names) to GGLAKE_HOME/audit/_sql_access_log.jsonl; if the record
   cannot be written, the query does not run.
4. Defence in depth: the engine session opened for `gglake sql` registers only the tables the caller may
   read, so an unprivileged session cannot even name a restricted table; and the engine runs the SQL that
   sqlglot regenerates from the checked tree, not the submitted text, so a difference between the two
   parsers cannot smuggle in a second statement or a comment-hidden one.

This is a guard for honest mistakes, not a security boundary. Anyone who can read the lakehouse's storage
(the files under GGLAKE_HOME, or the object-store keys) reads every zone directly with deltalake or any
Parquet reader, and a shared SPARK_REMOTE server may have other tables registered. On a real Spark cluster,
enforce access where the data is: Unity Catalog or Apache Ranger style grants on the restricted, bronze and
quarantine schemas, and separate storage credentials per zone (bucket or prefix policies) so that the
analysts' engine role cannot read the restricted prefixes at all. Keep this check as the early, clear refusal.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gglake.catalog import TABLES, Table
from gglake.settings import ConfigError, Settings

# The restricted zone, derived from the catalog (never listed by hand): every layer holding a table with
# direct identifiers. Today: bronze (raw payloads), quarantine (raw rejected rows) and restricted.
RESTRICTED_LAYERS: frozenset[str] = frozenset(t.layer for t in TABLES if t.pii == "restricted")
PRIVILEGED_ENV = "GGLAKE_SQL_PRIVILEGED"
ACCESS_LOG = ("audit", "_sql_access_log.jsonl")  # under GGLAKE_HOME; the underscore keeps table listings off it

_PRIVILEGED_ENVIRONMENTS = frozenset({"dev", "test"})  # GGLAKE_ENV values where privileged mode may be used
_ON, _OFF = frozenset({"1", "true", "yes"}), frozenset({"", "0", "false", "no"})
_CATALOGS = frozenset({"", "spark_catalog"})
# Table functions allowed in FROM: generators over values given in the query, never files.
_TABLE_FUNCTIONS = frozenset(
    {"range", "explode", "explode_outer", "posexplode", "posexplode_outer", "inline", "inline_outer", "stack", "json_tuple"}
)
# Functions that reach outside the query's data (JVM reflection, secret stores), plus every read_* reader.
_FORBIDDEN_FUNCTIONS = frozenset({"reflect", "try_reflect", "java_method", "secret", "try_secret", "identifier"})


class QueryRefused(ValueError):
    """The statement is not a read-only query over tables the caller may read; the message says why."""


@dataclass(frozen=True)
class CheckedQuery:
    sql: str  # regenerated from the checked tree: what the engine runs
    tables: tuple[str, ...]  # catalog tables it reads, sorted
    restricted: tuple[str, ...]  # those in the restricted zone


def is_restricted(table: Table) -> bool:
    return table.layer in RESTRICTED_LAYERS


def readable_tables(privileged: bool) -> tuple[Table, ...]:
    """The tables a session for this caller registers."""
    return TABLES if privileged else tuple(t for t in TABLES if not is_restricted(t))


def privileged_mode(settings: Settings) -> bool:
    """Whether GGLAKE_SQL_PRIVILEGED is set, and allowed here (ConfigError when it is set but not allowed)."""
    raw = os.environ.get(PRIVILEGED_ENV, "").strip().lower()
    if raw in _OFF:
        return False
    if raw not in _ON:
        raise ConfigError(f"{PRIVILEGED_ENV}={raw!r}: set it to 1 for privileged SQL, or leave it unset")
    if settings.env not in _PRIVILEGED_ENVIRONMENTS:  # fail closed: prod, and any spelling not known to be dev
        raise ConfigError(
            f"{PRIVILEGED_ENV} is refused when GGLAKE_ENV={settings.env} (allowed in dev and test only): "
            "in production read the restricted zone through the cluster's grants (Unity Catalog/Ranger) with your "
            "own credentials, not through `gglake sql`"
        )
    if "://" in settings.home:
        raise ConfigError(f"{PRIVILEGED_ENV} needs a local GGLAKE_HOME for its access log; {settings.home} is not one")
    return True


def _function_name(node) -> str:
    from sqlglot import exp

    return (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()


def _forbidden_node_types() -> tuple[type, ...]:
    """sqlglot node types that write, change the catalog or the session, or are not plain queries."""
    from sqlglot import exp

    names = (
        "DML DDL Insert Update Delete Merge Create Drop Alter TruncateTable Cache Uncache LoadData Refresh Set "
        "SetItem Use Declare Analyze Command Into Describe Show Pragma Transaction Commit Rollback Copy Grant "
        "Revoke Comment Kill Execute ExecuteImmediate Parameter Placeholder"
    )
    return tuple(getattr(exp, name) for name in names.split() if isinstance(getattr(exp, name, None), type))


def check_query(text: str, privileged: bool = False) -> CheckedQuery:
    """Parse `text` and accept it only as one read-only query over readable catalog tables (QueryRefused)."""
    try:
        return _check(text, privileged)
    except RecursionError:
        raise QueryRefused("the query is nested too deeply to check") from None


def _check(text: str, privileged: bool) -> CheckedQuery:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, SqlglotError

    parser_log = logging.getLogger("sqlglot")
    level = parser_log.level
    parser_log.setLevel(logging.ERROR)  # "falling back to parsing as a 'Command'" is our refusal, not a warning
    try:
        statements = [s for s in sqlglot.parse(text, read="spark") if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" at line {first['line']}, column {first['col']}" if first.get("line") else ""
        raise QueryRefused(f"not a query `gglake sql` can check{where}: {first.get('description') or exc}") from None
    except SqlglotError as exc:
        raise QueryRefused(f"not a query `gglake sql` can check: {str(exc).splitlines()[0]}") from None
    finally:
        parser_log.setLevel(level)
    if not statements:
        raise QueryRefused("no SQL statement given")
    if len(statements) > 1:
        raise QueryRefused(f"exactly one statement per call ({len(statements)} given)")
    tree = statements[0]
    if not isinstance(tree, exp.Select | exp.SetOperation | exp.Values | exp.Subquery):
        if isinstance(tree, exp.Command):
            kind = str(tree.this).upper()
        elif isinstance(tree, _forbidden_node_types()):
            kind = tree.key.upper()
        else:  # e.g. RESET parses as a bare column name
            kind = text.split(None, 1)[0].upper()
        raise QueryRefused(f"`gglake sql` is read-only: only queries (SELECT, WITH … SELECT, UNION, VALUES), not {kind}")
    forbidden = _forbidden_node_types()
    for node in tree.walk():
        if isinstance(node, forbidden):
            raise QueryRefused(f"`gglake sql` is read-only: {node.key.upper()} is not allowed in a query")
        if isinstance(node, exp.Func):
            name = _function_name(node)
            if name in _FORBIDDEN_FUNCTIONS or name.startswith("read_"):
                raise QueryRefused(f"function {name}() is not allowed in `gglake sql`")
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    tables: set[str] = set()
    for ref in tree.find_all(exp.Table):
        tables.update(_check_table(ref, ctes))
    restricted = sorted(name for name in tables if name.split(".", 1)[0] in RESTRICTED_LAYERS)
    if restricted and not privileged:
        layers = ", ".join(sorted(RESTRICTED_LAYERS))
        raise QueryRefused(
            f"{', '.join(restricted)}: the restricted zone ({layers}) is not readable through `gglake sql` "
            f"(set {PRIVILEGED_ENV}=1 outside production for a logged, privileged query)"
        )
    sql = tree.sql(dialect="spark", comments=False)
    if "${" in sql:  # Spark substitutes ${var}, ${env:…}, ${system:…} anywhere in the text, literals included
        raise QueryRefused("`${…}` variable substitution is not allowed in `gglake sql`")
    return CheckedQuery(sql=sql, tables=tuple(sorted(tables)), restricted=tuple(restricted))


def _check_table(ref, ctes: set[str]) -> set[str]:
    """The catalog table a FROM/JOIN reference names ({} for a CTE or a value generator), or QueryRefused."""
    from sqlglot import exp

    from gglake.catalog import table

    source = ref.this
    if isinstance(source, exp.Func):
        name = _function_name(source)
        if name in _TABLE_FUNCTIONS:
            return set()
        raise QueryRefused(f"table function {name}() is not allowed in `gglake sql` (only value generators such as range)")
    if not isinstance(source, exp.Identifier):
        raise QueryRefused(f"table reference {ref.sql(dialect='spark')} is not allowed: name tables as layer.table")
    catalog, db, name = ref.catalog.lower(), ref.db.lower(), ref.name.lower()
    shown = ".".join(part for part in (ref.catalog, ref.db, ref.name) if part)
    if catalog not in _CATALOGS or any(c in name for c in "/\\:.") or db and db not in {t.layer for t in TABLES}:
        raise QueryRefused(
            f"{shown}: path-based or foreign table references (delta.`/path`, parquet.`…`) are not allowed; "
            "name catalog tables as layer.table"
        )
    if not db:
        if name in ctes:
            return set()
        raise QueryRefused(f"{shown}: unqualified table name; name catalog tables as layer.table (see `gglake tables`)")
    try:
        return {table(f"{db}.{name}").name}
    except KeyError:
        raise QueryRefused(f"{db}.{name}: no such catalog table (see `gglake tables`)") from None


def _os_user() -> dict[str, object]:
    """The effective OS account (not spoofable through $USER) and the login name the environment claims."""
    who: dict[str, object] = {}
    try:
        import pwd

        who["uid"] = os.geteuid()
        who["user"] = pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError, AttributeError):
        who.setdefault("user", None)
    try:
        who["login"] = getpass.getuser()
    except (OSError, KeyError):
        who["login"] = None
    if os.environ.get("SUDO_USER"):
        who["sudo_user"] = os.environ["SUDO_USER"]
    return who


def access_log_path(settings: Settings) -> Path:
    return Path(settings.path(*ACCESS_LOG))


def record_privileged_query(settings: Settings, text: str, checked: CheckedQuery) -> Path:
    """Append the durable record of a privileged query before it runs; ConfigError when it cannot be written."""
    path = access_log_path(settings)
    record = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        **_os_user(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "env": settings.env,
        "engine": settings.spark_remote or "embedded",
        "tables": list(checked.tables),
        "restricted_tables": list(checked.restricted),
        "query_sha256": hashlib.sha256(text.encode()).hexdigest(),
    }
    line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)  # one write of one line: concurrent appenders do not interleave
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ConfigError(f"privileged query refused: cannot write the access log {path} ({exc.strerror})") from exc
    return path


def run_query(settings: Settings, text: str, limit: int):
    """Check `text`, log it if privileged, and run it on a session holding only the readable tables (pandas)."""
    import click

    privileged = privileged_mode(settings)
    checked = check_query(text, privileged=privileged)
    if privileged:
        path = record_privileged_query(settings, text, checked)
        click.echo(
            f"warning: privileged SQL ({PRIVILEGED_ENV}=1) reading {', '.join(checked.tables) or 'no tables'}; "
            f"recorded in {path}",
            err=True,
        )
    from gglake.engine import spark_session

    with spark_session(settings, tables=readable_tables(privileged)) as spark:
        return spark.sql(checked.sql).limit(limit).toPandas()
