"""The command-line contract: --help everywhere, JSON outputs, clear errors without tracebacks."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import count

from gglake.cli import main
from gglake.settings import DEV_PSEUDONYM_KEY, ConfigError, Settings

COMMANDS = ["generate", "ingest", "tables", "audit", "sql"]


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_tables_json_lists_every_table_with_rows_and_version(ingested, monkeypatch):
    settings, _ = ingested
    monkeypatch.setenv("GGLAKE_HOME", settings.home)
    result = CliRunner().invoke(main, ["tables", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["silver.sensor_readings"]["rows"] == count(settings, "silver.sensor_readings") > 0
    assert rows["silver.sensor_readings"]["layer"] == "silver"
    assert rows["silver.sensor_readings"]["version"] >= 1
    assert rows["restricted.resident_registry"]["pii"] == "restricted"


def test_audit_json_reports_balanced_batches(ingested, monkeypatch):
    settings, summary = ingested
    monkeypatch.setenv("GGLAKE_HOME", settings.home)
    result = CliRunner().invoke(main, ["audit", "--json", "--batch", summary.batch_id])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 8 and all(r["balanced"] for r in rows)
    assert sum(r["rows_landed"] for r in rows) == sum(run.rows_landed for run in summary.runs)


def test_missing_landing_folder_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("GGLAKE_HOME", str(tmp_path / "lake"))
    result = CliRunner().invoke(main, ["ingest", "--landing", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "landing folder" in result.output and "does not exist" in result.output
    assert "Traceback" not in result.output


def test_production_refuses_the_dev_pseudonym_key(tmp_path, monkeypatch):
    monkeypatch.setenv("GGLAKE_HOME", str(tmp_path / "lake"))
    monkeypatch.setenv("GGLAKE_ENV", "prod")
    monkeypatch.delenv("GGLAKE_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("GGLAKE_PSEUDONYM_KEY_FILE", raising=False)
    result = CliRunner().invoke(main, ["ingest", "--landing", str(tmp_path)])
    assert result.exit_code == 1 and "GGLAKE_PSEUDONYM_KEY" in result.output
    assert not (tmp_path / "lake").exists(), "nothing is written before the key is checked"


def test_pseudonym_key_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("GGLAKE_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("GGLAKE_PSEUDONYM_KEY_FILE", raising=False)
    dev, prod = Settings(home="x"), Settings(home="x", env="prod")
    assert dev.pseudonym_key() == DEV_PSEUDONYM_KEY.encode()
    monkeypatch.setenv("GGLAKE_PSEUDONYM_KEY", DEV_PSEUDONYM_KEY)
    with pytest.raises(ConfigError):
        prod.pseudonym_key()
    monkeypatch.setenv("GGLAKE_PSEUDONYM_KEY", "too-short")
    with pytest.raises(ConfigError):
        prod.pseudonym_key()
    secret = tmp_path / "key"
    secret.write_text("0123456789abcdef" * 3 + "\n")
    monkeypatch.delenv("GGLAKE_PSEUDONYM_KEY")
    monkeypatch.setenv("GGLAKE_PSEUDONYM_KEY_FILE", str(secret))
    assert prod.pseudonym_key() == ("0123456789abcdef" * 3).encode()


def test_generate_writes_the_landing_folder(tmp_path):
    out = tmp_path / "landing"
    result = CliRunner().invoke(main, ["generate", "--out", str(out), "--residents", "5", "--days", "1", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert list(out.glob("sensors/date=2026-11-01/hour=*/*.jsonl.gz"))
    assert list(out.glob("calls/date=2026-11-01/*.csv"))
