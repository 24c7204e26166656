"""`gglake sql` is read-only and zone-aware; `gglake audit` exit codes are the same in every form and every run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_settings, read_rows, write_rows

from gglake import delta
from gglake.catalog import TABLES, table
from gglake.cli import main
from gglake.settings import Settings
from gglake.sql_access import (
    PRIVILEGED_ENV,
    RESTRICTED_LAYERS,
    QueryRefused,
    access_log_path,
    check_query,
    readable_tables,
)


@pytest.fixture(scope="module")
def lake(ingested, tmp_path_factory) -> Settings:
    """A private copy of the ingested lakehouse: a broken guard must not damage the shared one."""
    settings, _ = ingested
    home = tmp_path_factory.mktemp("sql_lake") / "lake"
    shutil.copytree(settings.home, home)
    return make_settings(home)


def _sql(monkeypatch, lake: Settings, query: str, *args: str, **env: str):
    monkeypatch.setenv("GGLAKE_HOME", lake.home)
    for name in (PRIVILEGED_ENV, "GGLAKE_ENV", "SPARK_REMOTE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(main, ["sql", query, *args])


def _one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


WRITES = [
    "delete from silver.residents",
    "DELETE FROM silver.residents WHERE true",
    "insert into silver.residents select * from silver.residents",
    "insert overwrite table silver.residents select * from silver.residents where false",
    "insert overwrite silver.residents select * from silver.residents where false",
    "with x as (select * from silver.residents) insert into silver.residents select * from x",
    "update silver.residents set status = 'gone'",
    "merge into silver.residents t using silver.residents s on t.resident_key = s.resident_key when matched then delete",
    "create table silver.copy as select * from silver.residents",
    "create or replace temporary view v as select * from silver.residents",
    "drop table silver.residents",
    "alter table silver.residents add columns (x int)",
    "truncate table silver.residents",
    "select * into silver.copy from silver.residents",
    "insert overwrite directory '/tmp/out' select * from silver.residents",
    "load data inpath '/tmp/x' into table silver.residents",
    "set spark.sql.ansi.enabled = false",
    "reset",
    "use restricted",
    "cache table silver.residents",
    "uncache table silver.residents",
    "refresh table silver.residents",
    "add jar /tmp/evil.jar",
    "execute immediate 'delete from silver.residents'",
    "explain select * from silver.residents",
    "show tables in restricted",
    "describe silver.residents",
    "select 1; delete from silver.residents",
    "select 1 /* a comment */ ; delete from silver.residents",
    "table silver.residents",  # not parseable as a query by sqlglot: refused, never passed through
    "   ",
]


@pytest.mark.parametrize("statement", WRITES)
def test_statements_that_are_not_one_query_are_refused_and_nothing_changes(lake, monkeypatch, statement):
    before = delta.stats(lake, table("silver.residents"))
    line = _one_error_line(_sql(monkeypatch, lake, statement))
    assert any(word in line for word in ("read-only", "one statement", "not a query", "no SQL")), line
    assert delta.stats(lake, table("silver.residents")) == before, "rows and Delta version unchanged"


REGISTRY = "restricted.resident_registry"
ZONE_QUERIES = [
    f"select * from {REGISTRY}",
    f"select name, phone from {REGISTRY}",
    "select * from bronze.registry_residents",
    "select payload from bronze.sensor_readings",
    "select payload from quarantine.residents",
    "select * from bronze.welfare_national",  # public rows, but the raw zone as a whole is restricted
    f"with x as (select * from {REGISTRY}) select name from x",
    f"with a as (select 1 as k), b as (select * from {REGISTRY}) select * from a cross join b",
    f"select r.name from silver.residents s join {REGISTRY} r on r.resident_key = s.resident_key",
    f"select resident_key from silver.residents union all select name from {REGISTRY}",
    f"select resident_key from silver.residents except select resident_key from {REGISTRY}",
    f"select * from silver.residents where resident_key in (select resident_key from {REGISTRY} where name like '김%')",
    f"select (select max(phone) from {REGISTRY}) as p",
    f"select * from (select * from (select name from {REGISTRY}) a) b",
    f"select * from silver.residents where exists (select 1 from {REGISTRY})",
    "select * from RESTRICTED.Resident_Registry",
    "select * from `restricted`.`resident_registry`",
    "select * from spark_catalog.restricted.resident_registry",
    "select * from `restricted.resident_registry`",
    "select * from identifier('restricted.resident_registry')",
    "select * from delta.`{home}/restricted/resident_registry`",
    "select * from `delta`.`{home}/bronze/registry_residents`",
    "select * from parquet.`{home}/restricted/resident_registry`",
    "select * from json.`{home}/quarantine`",
    "select * from csv.`{home}`",
    "select * from text.`/etc/passwd`",
    "select * from read_files('{home}/restricted/resident_registry')",
    "select * from read_parquet('{home}/restricted/resident_registry')",
    "select * from silver.residents s join parquet.`{home}/restricted/resident_registry` r using (resident_key)",
    "select java_method('java.lang.System', 'getenv', 'AWS_SECRET_ACCESS_KEY')",
    "select '${env:AWS_SECRET_ACCESS_KEY}'",
]


@pytest.mark.parametrize("query", ZONE_QUERIES)
def test_restricted_zone_and_bypasses_are_refused_without_privilege(lake, monkeypatch, query):
    names = [r["name"] for r in read_rows(lake, REGISTRY, ["name"])]
    assert names
    line = _one_error_line(_sql(monkeypatch, lake, query.replace("{home}", lake.home)))
    assert "not allowed" in line or "not readable" in line, line
    assert not any(name in line for name in names)


def test_the_restricted_zone_is_derived_from_the_catalog():
    assert RESTRICTED_LAYERS == {t.layer for t in TABLES if t.pii == "restricted"} == {"restricted", "bronze", "quarantine"}
    readable = {t.name for t in readable_tables(privileged=False)}
    assert REGISTRY not in readable and "silver.residents" in readable and "audit.ingest_batches" in readable
    assert not any(t.layer in RESTRICTED_LAYERS for t in readable_tables(privileged=False))
    assert set(readable_tables(privileged=True)) == set(TABLES)


def test_queries_are_checked_on_the_whole_tree_and_rerun_as_regenerated_sql():
    checked = check_query(
        "with r as (select resident_key from silver.residents where is_current) "
        "select c.outcome, count(*) from r join silver.care_calls c using (resident_key) group by 1 "
        "union all select 'x', count(*) from (select * from silver.sensor_readings) s -- trailing comment"
    )
    assert checked.tables == ("silver.care_calls", "silver.residents", "silver.sensor_readings")
    assert checked.restricted == () and "comment" not in checked.sql
    assert check_query("values (1, 'a'), (2, 'b')").tables == ()
    assert check_query("select * from range(3) cross join explode(array(1, 2))").tables == ()
    privileged = check_query(f"select count(*) from {REGISTRY} join bronze.sensor_readings using (_batch_id)", privileged=True)
    assert privileged.restricted == ("bronze.sensor_readings", REGISTRY)
    for bad in ("select * from no_such_layer.t", "select * from silver.no_such_table", "select * from residents"):
        with pytest.raises(QueryRefused):
            check_query(bad, privileged=True)


def test_a_normal_select_prints_rows(lake, monkeypatch):
    keys = sorted(r["resident_key"] for r in read_rows(lake, "silver.residents", ["resident_key"]))
    result = _sql(monkeypatch, lake, "select resident_key, district from silver.residents order by resident_key", "--limit", "3")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["resident_key", "district"] and len(lines) == 4
    assert keys[0] in lines[1] and keys[2] in lines[3]


def test_an_engine_error_is_one_line_and_exit_1(lake, monkeypatch):
    line = _one_error_line(_sql(monkeypatch, lake, "select no_such_column from silver.residents"))
    assert "SQL failed" in line and "no_such_column" in line


def test_the_unprivileged_session_cannot_even_name_restricted_tables(lake):
    from pyspark.errors import PySparkException

    from gglake.engine import spark_session

    with spark_session(lake, tables=readable_tables(privileged=False)) as spark:
        assert spark.sql("select count(*) as n from silver.residents").collect()[0].n > 0
        for name in (REGISTRY, "bronze.registry_residents", "quarantine.residents"):
            with pytest.raises(PySparkException):
                spark.sql(f"select * from {name}").collect()


def test_privileged_mode_reads_the_zone_and_records_every_query(lake, monkeypatch):
    log = Path(access_log_path(lake))
    before = log.read_text().splitlines() if log.exists() else []
    name = sorted(r["name"] for r in read_rows(lake, REGISTRY, ["name"]))[0]
    query = f"select name from {REGISTRY} where name = '{name}'"
    result = _sql(monkeypatch, lake, query, **{PRIVILEGED_ENV: "1"})
    assert result.exit_code == 0, result.output
    assert name in result.stdout
    assert "privileged" in result.stderr and str(log) in result.stderr
    records = log.read_text().splitlines()
    assert len(records) == len(before) + 1
    record = json.loads(records[-1])
    assert record["tables"] == record["restricted_tables"] == [REGISTRY]
    assert record["query_sha256"] == hashlib.sha256(query.encode()).hexdigest()
    assert record["user"] and record["time"] and record["env"] == "dev"
    assert name not in records[-1] and "where" not in records[-1], "never the query text or the names in it"


@pytest.mark.parametrize("env", [{"GGLAKE_ENV": "prod"}, {}])
def test_privileged_mode_is_refused_in_production_and_writes_are_refused_even_when_privileged(lake, monkeypatch, env):
    log = Path(access_log_path(lake))
    size = log.stat().st_size if log.exists() else 0
    if env:  # production: refused outright, even for a harmless query
        line = _one_error_line(_sql(monkeypatch, lake, "select 1", **{PRIVILEGED_ENV: "1"}, **env))
        assert "GGLAKE_ENV=prod" in line
    else:
        before = delta.stats(lake, table(REGISTRY))
        _one_error_line(_sql(monkeypatch, lake, f"delete from {REGISTRY}", **{PRIVILEGED_ENV: "1"}))
        assert delta.stats(lake, table(REGISTRY)) == before
    assert (log.stat().st_size if log.exists() else 0) == size, "nothing recorded for a refused query"


# --- `gglake audit`: the exit code says whether the batches reconcile, in both forms, on every run ----------

BATCH = {
    "_batch_id": "b1",
    "bronze_table": "bronze.care_calls",
    "silver_table": "silver.care_calls",
    "files": 1,
    "failed_files": 0,
    "rows_landed": 10,
    "rows_bronze": 10,
    "rows_silver": 8,
    "rows_quarantined": 1,
    "duplicates_merged": 1,
}


@pytest.fixture(scope="module")
def audit_lakes(tmp_path_factory) -> dict[str, Settings]:
    """Two lakehouses holding only audit.ingest_batches: one balanced, one with a row that does not reconcile."""
    balanced = make_settings(tmp_path_factory.mktemp("balanced"))
    write_rows(balanced, "audit.ingest_batches", [BATCH])
    unbalanced = make_settings(tmp_path_factory.mktemp("unbalanced"))
    write_rows(unbalanced, "audit.ingest_batches", [BATCH, {**BATCH, "_batch_id": "b2", "rows_silver": 7}])
    return {"balanced": balanced, "unbalanced": unbalanced}


def test_audit_json_exits_1_on_an_unbalanced_batch_and_still_prints_json(audit_lakes, monkeypatch):
    monkeypatch.setenv("GGLAKE_HOME", audit_lakes["unbalanced"].home)
    result = CliRunner().invoke(main, ["audit", "--json"])
    assert result.exit_code == 1, result.output
    rows = json.loads(result.stdout)
    assert [r["balanced"] for r in rows] == [True, False]
    assert "do not reconcile" in result.stderr


RUNS_PER_CASE = 5  # 4 cases (balanced or not, --json or table): 20 processes, ~13 s on 2 idle cores


def _gglake() -> list[str]:
    script = Path(sys.executable).with_name("gglake")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gglake.cli"]


def test_audit_exit_codes_are_reliable_over_repeated_real_runs(audit_lakes):
    """20 real processes. Before the fix, 6-14 of 20 `audit --json` runs aborted with 134 after printing
    ("terminate called without an active exception": delta-rs's PyFileSystem reads racing interpreter exit)."""
    cases = [(lake, form, 0 if lake == "balanced" else 1) for lake in audit_lakes for form in ("--json", "table")] * RUNS_PER_CASE
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_REMOTE", "GGLAKE_ENV")}

    def run(case):
        lake, form, _ = case
        args = [*_gglake(), "audit", *(["--json"] if form == "--json" else [])]
        return subprocess.run(args, env={**env, "GGLAKE_HOME": audit_lakes[lake].home}, capture_output=True, text=True)

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(run, cases))
    seconds = time.perf_counter() - began
    got = [(lake, form, proc.returncode) for (lake, form, _), proc in zip(cases, done)]
    assert got == [(lake, form, code) for lake, form, code in cases], [p.stderr[-300:] for p in done if p.returncode > 1]
    for (lake, form, _), proc in zip(cases, done):
        assert "terminate called" not in proc.stderr
        if form == "--json":
            assert len(json.loads(proc.stdout)) == (1 if lake == "balanced" else 2)
    print(f"{len(cases)} runs in {seconds:.1f} s")
