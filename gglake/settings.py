"""One settings object, read from the environment, switches local ↔ cluster without code changes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEV_PSEUDONYM_KEY = "dev-only-pseudonym-key-NOT-FOR-PRODUCTION"


class ConfigError(RuntimeError):
    """A setting is missing or unsafe; the message says which and how to fix it."""


def _is_url(location: str) -> bool:
    return "://" in location


@dataclass(frozen=True)
class Settings:
    home: str
    env: str = "dev"
    spark_remote: str | None = None
    late_window_days: int = 14
    future_tolerance_hours: int = 24
    storage_options: dict[str, str] = field(default_factory=dict)
    # Input limits: a landing file or line past these is refused or quarantined, never loaded whole.
    max_file_bytes: int = 512 * 1024**2  # a landing file as delivered (compressed)
    max_decompressed_bytes: int = 2 * 1024**3  # what one gzip file may expand to (decompression bombs)
    max_line_bytes: int = 1024**2  # one record; longer lines are quarantined as oversized_line

    @classmethod
    def from_env(cls) -> Settings:
        home = os.environ.get("GGLAKE_HOME", "./lakehouse")
        if not _is_url(home):
            home = str(Path(home).resolve())
        return cls(
            home=home.rstrip("/"),
            env=os.environ.get("GGLAKE_ENV", "dev"),
            spark_remote=os.environ.get("SPARK_REMOTE") or None,
            late_window_days=int(os.environ.get("GGLAKE_LATE_WINDOW_DAYS", "14")),
            future_tolerance_hours=int(os.environ.get("GGLAKE_FUTURE_TOLERANCE_HOURS", "24")),
            storage_options=_object_store_options(),
            max_file_bytes=int(os.environ.get("GGLAKE_MAX_FILE_BYTES", Settings.max_file_bytes)),
            max_decompressed_bytes=int(os.environ.get("GGLAKE_MAX_DECOMPRESSED_BYTES", Settings.max_decompressed_bytes)),
            max_line_bytes=int(os.environ.get("GGLAKE_MAX_LINE_BYTES", Settings.max_line_bytes)),
        )

    @property
    def is_prod(self) -> bool:
        return self.env == "prod"

    def path(self, *parts: str) -> str:
        """A location under the lakehouse root, as a URL-or-path string (never assume a local disk)."""
        return "/".join([self.home, *parts])

    def pseudonym_key(self) -> bytes:
        """The HMAC key for resident pseudonyms: env var, then secret file, then (dev only) a marked default."""
        key = os.environ.get("GGLAKE_PSEUDONYM_KEY")
        key_file = os.environ.get("GGLAKE_PSEUDONYM_KEY_FILE")
        if not key and key_file:
            try:
                key = Path(key_file).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"GGLAKE_PSEUDONYM_KEY_FILE={key_file}: cannot read ({exc.strerror})") from exc
        if key:
            if self.is_prod and (key == DEV_PSEUDONYM_KEY or len(key) < 32):
                raise ConfigError("GGLAKE_ENV=prod needs a pseudonym key of at least 32 characters, not the dev key")
            return key.encode()
        if self.is_prod:
            raise ConfigError(
                "GGLAKE_ENV=prod: set GGLAKE_PSEUDONYM_KEY or GGLAKE_PSEUDONYM_KEY_FILE "
                "(the built-in development key is refused in production)"
            )
        return DEV_PSEUDONYM_KEY.encode()


def _object_store_options() -> dict[str, str]:
    """S3-compatible storage settings for delta-rs, taken from the standard AWS_* variables."""
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ALLOW_HTTP")
    options = {name: os.environ[name] for name in names if os.environ.get(name)}
    if options:
        options.setdefault("AWS_S3_ALLOW_UNSAFE_RENAME", "true")
    return options
