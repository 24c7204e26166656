"""Environment names, pseudonym-key strength, and the key fingerprint every ingest verifies."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from click.testing import CliRunner
from conftest import count, read_rows, write_rows

from gglake import delta, pseudonym
from gglake.catalog import table
from gglake.cli import main
from gglake.pseudonym import DEV_FINGERPRINT, fingerprint, resident_key, retire_fingerprint, verify_key
from gglake.settings import DEV_PSEUDONYM_KEY, ConfigError, Settings
from sources.generate import generate

KEY_A = "Zq8v3LmN0pR7sT2wX5yB9cD4fG6hJ1kQ"  # 32 characters, all distinct
KEY_B = "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xYz"
KEYS = table("audit.pseudonym_keys")


@pytest.fixture(autouse=True)
def _no_key_in_env(monkeypatch):
    for name in ("GGLAKE_PSEUDONYM_KEY", "GGLAKE_PSEUDONYM_KEY_FILE", "GGLAKE_ENV"):
        monkeypatch.delenv(name, raising=False)


# --- environment names ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, env",
    [("dev", "dev"), ("DEV", "dev"), ("development", "dev"), ("Test", "test"), ("prod", "prod"), ("PROD", "prod"),
     ("production", "prod"), ("Production", "prod"), (" prod ", "prod")],
)  # fmt: skip
def test_environment_names_are_normalised(value, env, monkeypatch):
    monkeypatch.setenv("GGLAKE_ENV", value)
    settings = Settings.from_env()
    assert settings.env == env
    assert settings.is_prod == (env == "prod")
    assert Settings(home="x", env=value).is_prod == (env == "prod")


@pytest.mark.parametrize("value", ["staging", "prd", "", "live"])
def test_unknown_environment_is_refused(value, monkeypatch):
    with pytest.raises(ConfigError, match=r"dev \(or development\), test, prod \(or production\)"):
        Settings(home="x", env=value)
    monkeypatch.setenv("GGLAKE_ENV", value)
    with pytest.raises(ConfigError, match="is not an environment"):
        Settings.from_env()


def test_uppercase_prod_needs_a_key_through_the_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("GGLAKE_HOME", str(tmp_path / "lake"))
    monkeypatch.setenv("GGLAKE_ENV", "PROD")
    result = CliRunner().invoke(main, ["ingest", "--landing", str(tmp_path)])
    assert result.exit_code == 1
    assert "GGLAKE_PSEUDONYM_KEY" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "lake").exists()
    monkeypatch.setenv("GGLAKE_ENV", "staging")
    result = CliRunner().invoke(main, ["ingest", "--landing", str(tmp_path)])
    assert result.exit_code == 1 and "GGLAKE_ENV='staging' is not an environment" in result.output
    assert "Traceback" not in result.output


# --- key strength --------------------------------------------------------------------------------------------
WEAK = {
    "32 spaces": " " * 32,
    "tabs": "\t" * 40,
    "short": "Zq8v3LmN0pR7sT2w",
    "one character": "k" * 40,
    "seven distinct": "abcdefg" * 6,
    "leading space": " " + KEY_A,
    "trailing space": KEY_A + " ",
    "trailing newline": KEY_A + "\n",
}


@pytest.mark.parametrize("env", ["dev", "test", "prod"])
@pytest.mark.parametrize("name", list(WEAK))
def test_weak_keys_from_the_variable_are_refused_in_every_env(env, name, monkeypatch):
    monkeypatch.setenv("GGLAKE_PSEUDONYM_KEY", WEAK[name])
    with pytest.raises(ConfigError, match="the pseudonym key from GGLAKE_PSEUDONYM_KEY ") as err:
        Settings(home="x", env=env).pseudonym_key()
    secret = WEAK[name].strip()
    assert not secret or secret not in str(err.value)  # never print the key (nor a recognisable part of it)


@pytest.mark.parametrize(
    "content",
    ["", "\n", " " * 32 + "\n", " " + KEY_A + "\n", KEY_A + " \n", "\t" + KEY_A, "k" * 40 + "\n", "short\n"],
)
@pytest.mark.parametrize("env", ["dev", "prod"])
def test_weak_key_files_are_refused(content, env, tmp_path, monkeypatch):
    secret = tmp_path / "key"
    secret.write_text(content)
    monkeypatch.setenv("GGLAKE_PSEUDONYM_KEY_FILE", str(secret))
    with pytest.raises(ConfigError, match=f"GGLAKE_PSEUDONYM_KEY_FILE={secret}") as err:
        Settings(home="x", env=env).pseudonym_key()
    assert not content.strip() or content.strip() not in str(err.value)


@pytest.mark.parametrize("content", [KEY_A, KEY_A + "\n", KEY_A + "\r\n", KEY_A + "\n\n"])
def test_key_file_line_end_is_not_part_of_the_key(content, tmp_path, monkeypatch):
    secret = tmp_path / "key"
    secret.write_bytes(content.encode())
    monkeypatch.setenv("GGLAKE_PSEUDONYM_KEY_FILE", str(secret))
    assert Settings(home="x", env="prod").pseudonym_key() == KEY_A.encode()


def test_the_dev_key_only_without_a_key_in_dev_and_test(monkeypatch):
    for env in ("dev", "test"):
        assert Settings(home="x", env=env).pseudonym_key() == DEV_PSEUDONYM_KEY.encode()
    with pytest.raises(ConfigError, match="set GGLAKE_PSEUDONYM_KEY or GGLAKE_PSEUDONYM_KEY_FILE"):
        Settings(home="x", env="PRODUCTION").pseudonym_key()
    monkeypatch.setenv("GGLAKE_PSEUDONYM_KEY", DEV_PSEUDONYM_KEY)
    assert Settings(home="x", env="dev").pseudonym_key() == DEV_PSEUDONYM_KEY.encode()
    with pytest.raises(ConfigError, match="built-in development key") as err:
        Settings(home="x", env="prod").pseudonym_key()
    assert DEV_PSEUDONYM_KEY not in str(err.value)
    monkeypatch.setenv("GGLAKE_PSEUDONYM_KEY", KEY_A)
    assert Settings(home="x", env="prod").pseudonym_key() == KEY_A.encode()


# --- fingerprints --------------------------------------------------------------------------------------------
def test_fingerprint_identifies_the_key_without_revealing_it():
    fp = fingerprint(KEY_A.encode())
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert fp == fingerprint(KEY_A.encode()) != fingerprint(KEY_B.encode())
    assert fp not in resident_key(KEY_A.encode(), "pseudonym key fingerprint")
    assert DEV_FINGERPRINT == fingerprint(DEV_PSEUDONYM_KEY.encode())


def test_first_use_records_the_fingerprint_and_later_runs_verify_it(tmp_path):
    settings = Settings(home=str(tmp_path), env="prod")
    before = datetime.now(UTC)
    assert verify_key(settings, KEY_A.encode()) == fingerprint(KEY_A.encode())
    rows = read_rows(settings, KEYS.name)
    assert len(rows) == 1
    row = rows[0]
    assert row["fingerprint"] == fingerprint(KEY_A.encode()) and row["env"] == "prod" and row["retired_at"] is None
    assert before <= row["first_used_at"] <= datetime.now(UTC)
    version = delta.stats(settings, KEYS)[1]
    verify_key(settings, KEY_A.encode())
    assert delta.stats(settings, KEYS)[1] == version, "a verified key writes nothing"
    stored = (tmp_path / "audit" / "pseudonym_keys").rglob("*")
    assert not any(KEY_A.encode() in f.read_bytes() for f in stored if f.is_file())


def test_another_key_is_refused_naming_both_fingerprints(tmp_path):
    settings = Settings(home=str(tmp_path))
    verify_key(settings, KEY_A.encode())
    version = delta.stats(settings, KEYS)[1]
    with pytest.raises(ConfigError) as err:
        verify_key(settings, KEY_B.encode())
    message = str(err.value)
    assert (
        f"this lakehouse's resident keys were made with key fingerprint {fingerprint(KEY_A.encode())}; "
        f"the current key's fingerprint is {fingerprint(KEY_B.encode())} — refusing to mix pseudonyms"
    ) in message
    assert "README 'Re-keying'" in message and KEY_A not in message and KEY_B not in message
    assert delta.stats(settings, KEYS)[1] == version


@pytest.fixture(scope="module")
def tiny_landing(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny_landing")
    generate(out, 5, 1, date(2026, 11, 1), 3, defect_rate=0.0)
    return out


def test_dev_lakehouse_switched_to_prod_is_refused_before_any_work(tiny_landing, tmp_path, monkeypatch):
    monkeypatch.setenv("GGLAKE_HOME", str(tmp_path / "lake"))
    result = CliRunner().invoke(main, ["ingest", "--landing", str(tiny_landing)])
    assert result.exit_code == 0, result.output
    settings = Settings(home=str(tmp_path / "lake"))
    assert [r["fingerprint"] for r in read_rows(settings, KEYS.name)] == [DEV_FINGERPRINT]
    manifest = count(settings, "audit.ingest_manifest")

    monkeypatch.setenv("GGLAKE_ENV", "production")
    monkeypatch.setenv("GGLAKE_PSEUDONYM_KEY", KEY_A)
    (tiny_landing / "calls" / "date=2026-11-02").mkdir()  # would be new work, if the run got that far
    try:
        result = CliRunner().invoke(main, ["ingest", "--landing", str(tiny_landing)])
    finally:
        (tiny_landing / "calls" / "date=2026-11-02").rmdir()
    assert result.exit_code == 1
    assert f"made with key fingerprint {DEV_FINGERPRINT} (the built-in development key)" in result.output
    assert f"current key's fingerprint is {fingerprint(KEY_A.encode())}" in result.output
    assert "Traceback" not in result.output and KEY_A not in result.output
    assert count(settings, "audit.ingest_manifest") == manifest
    assert len(read_rows(settings, KEYS.name)) == 1


def _registry_rows(key: bytes, ids: list[str]) -> list[dict]:
    at = datetime(2026, 1, 5, 9, tzinfo=UTC)
    return [{"resident_id": i, "resident_key": resident_key(key, i), "_ingested_at": at} for i in ids]


def test_a_lakehouse_keyed_before_fingerprints_is_checked_against_its_registry(tmp_path):
    settings = Settings(home=str(tmp_path), env="prod")
    write_rows(settings, "restricted.resident_registry", _registry_rows(DEV_PSEUDONYM_KEY.encode(), ["R1", "R2", "R3"]))
    with pytest.raises(ConfigError, match=f"made with key fingerprint {DEV_FINGERPRINT} \\(the built-in development key\\)"):
        verify_key(settings, KEY_A.encode())
    assert delta.open_table(settings, KEYS) is None, "a refused key records nothing"

    other = Settings(home=str(tmp_path / "other"), env="prod")
    write_rows(other, "restricted.resident_registry", _registry_rows(KEY_B.encode(), ["R1", "R2"]))
    with pytest.raises(ConfigError, match="made with another key"):
        verify_key(other, KEY_A.encode())
    verify_key(other, KEY_B.encode())  # the right key: its fingerprint is backfilled
    (row,) = read_rows(other, KEYS.name)
    assert row["fingerprint"] == fingerprint(KEY_B.encode())
    assert row["first_used_at"] == datetime(2026, 1, 5, 9, tzinfo=UTC)


def test_a_racing_first_use_with_another_key_loses(tmp_path, monkeypatch):
    """Process A reads the empty table, process B records its key, then A commits on its stale read."""
    settings = Settings(home=str(tmp_path))
    real_open = delta.open_table
    interleaved = []

    def open_then_b_commits(s, t):
        dt = real_open(s, t)
        if t is KEYS and dt is not None and not interleaved:
            interleaved.append(True)
            monkeypatch.setattr(pseudonym.delta, "open_table", real_open)
            verify_key(settings, KEY_B.encode())  # commits right after A's read
        return dt

    delta.ensure_table(settings, KEYS)
    monkeypatch.setattr(pseudonym.delta, "open_table", open_then_b_commits)
    with pytest.raises(ConfigError, match=f"made with key fingerprint {fingerprint(KEY_B.encode())}"):
        verify_key(settings, KEY_A.encode())
    assert interleaved
    assert [r["fingerprint"] for r in read_rows(settings, KEYS.name)] == [fingerprint(KEY_B.encode())]


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_first_uses_leave_exactly_one_key_in_use(round_, tmp_path):
    settings = Settings(home=str(tmp_path))
    keys = [KEY_A, KEY_B] * 3
    start = threading.Barrier(len(keys))
    outcome: list[tuple[str, str]] = [("", "")] * len(keys)

    def run(i: int) -> None:
        start.wait()
        try:
            verify_key(settings, keys[i].encode())
            outcome[i] = (keys[i], "ok")
        except ConfigError:
            outcome[i] = (keys[i], "refused")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(keys))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (row,) = read_rows(settings, KEYS.name)
    winner = KEY_A if row["fingerprint"] == fingerprint(KEY_A.encode()) else KEY_B
    assert row["retired_at"] is None
    assert all(result == ("ok" if key == winner else "refused") for key, result in outcome), outcome


# --- re-keying -----------------------------------------------------------------------------------------------
def test_retiring_a_fingerprint_freezes_the_old_lakehouse_and_marks_the_new_one(tmp_path):
    old = Settings(home=str(tmp_path / "old"), env="prod")
    write_rows(old, "restricted.resident_registry", _registry_rows(KEY_A.encode(), ["R1", "R2"]))
    old_fp = verify_key(old, KEY_A.encode())
    new = Settings(home=str(tmp_path / "new"), env="prod")
    new_fp = verify_key(new, KEY_B.encode())  # the rebuilt lakehouse, made with the new key

    retire_fingerprint(old, old_fp)
    retire_fingerprint(old, old_fp)  # idempotent
    retire_fingerprint(new, old_fp)  # the new lakehouse refuses the old key by name too
    (row,) = read_rows(old, KEYS.name)
    assert row["fingerprint"] == old_fp and row["retired_at"] is not None
    with pytest.raises(ConfigError, match=f"fingerprint {old_fp} was retired from this lakehouse on"):
        verify_key(old, KEY_A.encode())
    with pytest.raises(ConfigError, match="made with another key"):  # no key in use, registry made with the old one
        verify_key(old, KEY_B.encode())
    with pytest.raises(ConfigError, match=f"made with key fingerprint {new_fp}"):
        verify_key(new, KEY_A.encode())
    assert verify_key(new, KEY_B.encode()) == new_fp
    rows = {r["fingerprint"]: r for r in read_rows(new, KEYS.name)}
    assert rows[new_fp]["retired_at"] is None and rows[old_fp]["retired_at"] is not None
    with pytest.raises(ValueError, match="not a key fingerprint"):
        retire_fingerprint(new, KEY_A)


def test_two_keys_in_use_are_refused(tmp_path):
    settings = Settings(home=str(tmp_path))
    now = datetime.now(UTC)
    write_rows(
        settings,
        KEYS.name,
        [{"fingerprint": fingerprint(k.encode()), "env": "dev", "first_used_at": now} for k in (KEY_A, KEY_B)],
    )
    with pytest.raises(ConfigError, match="lists 2 keys in use"):
        verify_key(settings, KEY_A.encode())
