"""Resident pseudonyms: a keyed HMAC of the registry's resident id.

Without the key nobody can recompute or reverse a resident_key, yet the same resident always gets
the same key, so silver, gold and features join on it. The mapping id → key is kept only in the
restricted registry table; the key material never leaves this process (it is not sent to the
engine in SQL).

Every resident_key in a lakehouse must come from one key: a run with another key would give the
same resident a second pseudonym. The key's fingerprint (an HMAC of a fixed label under the key:
it identifies the key and reveals nothing about it) is recorded in audit.pseudonym_keys on first
use, and `verify_key` refuses any run whose key has another fingerprint than the one in use.
Re-keying is rebuilding: see README "Re-keying" and `retire_fingerprint`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import pyarrow.compute as pc

from gglake import delta
from gglake.catalog import table
from gglake.settings import DEV_PSEUDONYM_KEY, ConfigError, Settings

log = logging.getLogger(__name__)

KEYS = table("audit.pseudonym_keys")
REGISTRY = table("restricted.resident_registry")
FINGERPRINT_LABEL = b"gglake pseudonym key fingerprint v1"
REKEYING = "see README 'Re-keying'"
_REGISTRY_SAMPLE = 16  # registry rows checked against the key when no fingerprint was recorded yet


def resident_key(key: bytes, resident_id: str) -> str:
    """128-bit HMAC-SHA256 pseudonym, hex encoded."""
    return hmac.new(key, resident_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def fingerprint(key: bytes) -> str:
    """16 hex characters that identify a key without revealing it (safe to log and store)."""
    return hmac.new(key, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


DEV_FINGERPRINT = fingerprint(DEV_PSEUDONYM_KEY.encode())


def _describe(fp: str) -> str:
    return f"{fp} (the built-in development key)" if fp == DEV_FINGERPRINT else fp


def verify_key(settings: Settings, key: bytes | None = None) -> str:
    """Check that `key` (default: the settings' key) is the key this lakehouse's resident keys were made with;
    record its fingerprint on first use. Returns the fingerprint; raises ConfigError before anything is written
    when the key differs.

    Safe against concurrent first runs: the record is committed exactly on top of the table version it was
    decided on, so two different keys racing cannot both become current.
    """
    key = settings.pseudonym_key() if key is None else key
    fp = fingerprint(key)

    def decide(rows: list[dict], now: datetime) -> list[dict] | None:
        current = [r for r in rows if r["retired_at"] is None]
        if len(current) > 1:
            raise ConfigError(
                f"{KEYS.name} lists {len(current)} keys in use ({', '.join(r['fingerprint'] for r in current)}); "
                f"exactly one may be: retire the wrong one with gglake.pseudonym.retire_fingerprint ({REKEYING})"
            )
        if current and current[0]["fingerprint"] == fp:
            _warn_if_env_changed(settings, current[0])
            return None  # verified: nothing to write
        if current:
            raise ConfigError(_mismatch(current[0]["fingerprint"], fp))
        retired = next((r for r in rows if r["fingerprint"] == fp), None)
        if retired is not None:
            raise ConfigError(
                f"the current key's fingerprint {_describe(fp)} was retired from this lakehouse on "
                f"{retired['retired_at']:%Y-%m-%d} (it was re-keyed): use the new key or the new lakehouse ({REKEYING})"
            )
        first_used = _registry_first_use(settings, key, fp)  # a lakehouse keyed before fingerprints were recorded
        return [*rows, {"fingerprint": fp, "env": settings.env, "first_used_at": first_used or now, "retired_at": None}]

    if _change(settings, decide):
        log.info("pseudonym key fingerprint %s recorded in %s", fp, KEYS.name)
    return fp


def retire_fingerprint(settings: Settings, fp: str) -> None:
    """Mark the key with fingerprint `fp` retired in this lakehouse: from then on every run with that key is
    refused here. Idempotent. A fingerprint the table does not list yet is added as retired (e.g. the old
    key's, in the lakehouse rebuilt with the new key), so the old key is refused by name there too."""
    if len(fp) != 16 or any(c not in "0123456789abcdef" for c in fp):
        raise ValueError(f"{fp!r} is not a key fingerprint (16 lowercase hex characters)")

    def decide(rows: list[dict], now: datetime) -> list[dict] | None:
        row = next((r for r in rows if r["fingerprint"] == fp), None)
        if row is not None and row["retired_at"] is not None:
            return None
        if row is None:
            return [*rows, {"fingerprint": fp, "env": settings.env, "first_used_at": None, "retired_at": now}]
        return [{**r, "retired_at": now} if r is row else r for r in rows]

    if _change(settings, decide):
        log.info("pseudonym key fingerprint %s retired in %s", fp, KEYS.name)


def _mismatch(recorded: str, fp: str) -> str:
    return (
        f"this lakehouse's resident keys were made with key fingerprint {_describe(recorded)}; the current key's "
        f"fingerprint is {_describe(fp)} — refusing to mix pseudonyms ({REKEYING})"
    )


def _warn_if_env_changed(settings: Settings, row: dict) -> None:
    if settings.is_prod and row["env"] != "prod":
        log.warning(
            "the pseudonym key (fingerprint %s) was first used in env %s and now serves prod; "
            "if it was ever handled as a development secret, re-key (%s)",
            row["fingerprint"],
            row["env"],
            REKEYING,
        )


def _registry_first_use(settings: Settings, key: bytes, fp: str) -> datetime | None:
    """When no key is recorded but the registry holds resident keys (a lakehouse from before fingerprints),
    prove the key against them: returns when the registry was first written, or raises ConfigError."""
    dt = delta.open_table(settings, REGISTRY)
    if dt is None:
        return None
    sample = dt.to_pyarrow_dataset().head(_REGISTRY_SAMPLE, columns=["resident_id", "resident_key"]).to_pylist()
    if not sample:
        return None
    if any(resident_key(key, r["resident_id"]) != r["resident_key"] for r in sample):
        dev = DEV_PSEUDONYM_KEY.encode()
        if all(resident_key(dev, r["resident_id"]) == r["resident_key"] for r in sample):
            raise ConfigError(_mismatch(DEV_FINGERPRINT, fp))
        raise ConfigError(
            f"this lakehouse's resident keys were made with another key (its resident registry does not match the "
            f"current key, and {KEYS.name} records no key in use); the current key's fingerprint is {_describe(fp)} — "
            f"refusing to mix pseudonyms ({REKEYING})"
        )
    return pc.min(delta.to_arrow(dt, columns=["_ingested_at"]).column("_ingested_at")).as_py()


def _change(settings: Settings, decide: Callable[[list[dict], datetime], list[dict] | None]) -> bool:
    """Apply `decide(rows, now)` to the fingerprint table as one compare-and-swap commit (see delta.swap_rows):
    two different keys racing to be first cannot both become current."""
    return delta.swap_rows(settings, KEYS, lambda rows: decide(rows, datetime.now(UTC)))
