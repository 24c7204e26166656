"""Superset's secrets and configuration, without a running Superset (fast)."""

from __future__ import annotations

import os
import subprocess

import pytest

from gglake.settings import ConfigError
from gglake.superset import CONFIG_FILE, SECRETS, SUPERSET_VENV, Superset


def test_prod_refuses_to_start_without_secrets(tmp_path, monkeypatch):
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="GGLAKE_SUPERSET_SECRET_KEY"):
        Superset(var=tmp_path, env_overrides={"GGLAKE_ENV": "prod"}).secrets()
    assert not (tmp_path / "superset" / "secrets.json").exists()


def test_dev_generates_each_secret_once_readable_by_the_owner_only(tmp_path, monkeypatch):
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    first = Superset(var=tmp_path).secrets()
    assert Superset(var=tmp_path).secrets() == first
    assert len(first["GGLAKE_SUPERSET_SECRET_KEY"]) >= 32
    assert (tmp_path / "superset" / "secrets.json").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("GGLAKE_SUPERSET_ADMIN_PASSWORD", "from-the-environment")
    assert Superset(var=tmp_path).secrets()["GGLAKE_SUPERSET_ADMIN_PASSWORD"] == "from-the-environment"


def test_the_serving_connection_is_read_only_without_file_access(tmp_path):
    uri = Superset(var=tmp_path, serving_file=tmp_path / "gglake.duckdb").serving_uri
    assert uri.startswith(f"duckdb:///{tmp_path}/gglake.duckdb?")
    options = set(uri.split("?")[1].split("&"))
    assert {"access_mode=read_only", "enable_external_access=false", "lock_configuration=true"} <= options


@pytest.mark.skipif(not (SUPERSET_VENV / "bin" / "python").exists(), reason="run `make superset-install`")
@pytest.mark.parametrize("key", ["", "short", "CHANGE_ME_TO_A_COMPLEX_RANDOM_SECRET"])
def test_superset_config_refuses_a_missing_short_or_default_key(key):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GGLAKE_SUPERSET")}
    env.update(GGLAKE_ENV="prod", GGLAKE_SUPERSET_SECRET_KEY=key)
    result = subprocess.run([str(SUPERSET_VENV / "bin" / "python"), "-c", f"import runpy; runpy.run_path({str(CONFIG_FILE)!r})"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "GGLAKE_SUPERSET_SECRET_KEY" in result.stderr
