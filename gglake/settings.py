"""One settings object, read from the environment, switches local ↔ cluster without code changes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEV_PSEUDONYM_KEY = "dev-only-pseudonym-key-NOT-FOR-PRODUCTION"

# GGLAKE_ENV: accepted spellings (case-insensitive) → canonical name. Anything else is refused, so a
# typo such as PROD/Production can no longer run as dev with the built-in key.
ENVIRONMENTS: dict[str, str] = {
    "dev": "dev",
    "development": "dev",
    "test": "test",
    "prod": "prod",
    "production": "prod",
}
DEV_KEY_ENVIRONMENTS = frozenset({"dev", "test"})  # where the built-in key is used when no key is set

MIN_KEY_CHARS = 32
MIN_KEY_DISTINCT_CHARS = 8


class ConfigError(RuntimeError):
    """A setting is missing or unsafe; the message says which and how to fix it."""


def normalise_env(value: str) -> str:
    """The canonical environment name for a GGLAKE_ENV value, or ConfigError naming the allowed values."""
    canonical = ENVIRONMENTS.get(value.strip().lower()) if isinstance(value, str) else None
    if canonical is None:
        spellings = {name: [a for a, c in ENVIRONMENTS.items() if c == name and a != name] for name in ENVIRONMENTS.values()}
        allowed = ", ".join(f"{name} (or {', '.join(aliases)})" if aliases else name for name, aliases in spellings.items())
        raise ConfigError(f"GGLAKE_ENV={value!r} is not an environment: use one of {allowed} (case-insensitive)")
    return canonical


def check_key(key: str, source: str, env: str) -> None:
    """Refuse a weak explicitly given pseudonym key. Messages name the source, never the key."""
    problem = None
    if not key.strip():
        problem = "is empty or only whitespace"
    elif key != key.strip():
        problem = "has leading or trailing whitespace (a copy-paste slip? the key must be exactly the secret)"
    elif len(key) < MIN_KEY_CHARS:
        problem = f"is {len(key)} characters long; at least {MIN_KEY_CHARS} are needed"
    elif len(set(key)) < MIN_KEY_DISTINCT_CHARS:
        distinct = len(set(key))
        plural = "" if distinct == 1 else "s"
        problem = f"has only {distinct} distinct character{plural}; at least {MIN_KEY_DISTINCT_CHARS} are needed"
    elif key == DEV_PSEUDONYM_KEY and env == "prod":
        problem = "is the built-in development key, which is refused in production"
    if problem:
        raise ConfigError(
            f"the pseudonym key from {source} {problem}: use a random secret of at least {MIN_KEY_CHARS} characters "
            "(e.g. 48 random bytes, base64-encoded)"
        )


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
    # Legit files are ~1 MB (an hourly sensor gzip, ~8 MB unpacked) to a few MB (a CSV day); lines stay
    # under a few KiB. The defaults leave ~100x headroom while one file's worst case stays a few GB of memory.
    max_file_bytes: int = 256 * 1024**2  # a landing file as delivered (compressed); larger is never read
    max_decompressed_bytes: int = 1024**3  # what one gzip file may expand to (decompression bombs)
    max_line_bytes: int = 1024**2  # one record; longer lines are quarantined as oversized_line

    def __post_init__(self) -> None:
        object.__setattr__(self, "env", normalise_env(self.env))

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
        """The HMAC key for resident pseudonyms: env var, then secret file, then (dev/test only) a marked default.

        An explicitly given key is checked in every environment (see `check_key`); the built-in key is used
        only when neither variable is set and the environment is dev or test.
        """
        key = os.environ.get("GGLAKE_PSEUDONYM_KEY")
        key_file = os.environ.get("GGLAKE_PSEUDONYM_KEY_FILE")
        if key:  # an empty variable counts as unset
            check_key(key, "GGLAKE_PSEUDONYM_KEY", self.env)
            return key.encode()
        if key_file:
            source = f"GGLAKE_PSEUDONYM_KEY_FILE={key_file}"
            try:
                text = Path(key_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"{source}: cannot read ({exc.strerror})") from exc
            except UnicodeDecodeError:
                raise ConfigError(f"{source}: the key file is not UTF-8 text") from None
            key = text.rstrip("\r\n")  # the line end(s) an editor or `echo` adds are not part of the key
            check_key(key, source, self.env)
            return key.encode()
        if self.env not in DEV_KEY_ENVIRONMENTS:
            raise ConfigError(
                f"GGLAKE_ENV={self.env}: set GGLAKE_PSEUDONYM_KEY or GGLAKE_PSEUDONYM_KEY_FILE "
                "(the built-in development key is refused in production)"
            )
        return DEV_PSEUDONYM_KEY.encode()


def _object_store_options() -> dict[str, str]:
    """S3-compatible storage settings for delta-rs, taken from the standard AWS_* variables.

    Leases, `delta.insert_new` and the key fingerprint are compare-and-swap commits: they exclude each other
    only if the store refuses a second `_delta_log/N.json`. Object-store homes therefore commit with conditional
    put (`AWS_CONDITIONAL_PUT=etag`: each log entry is a PUT with `If-None-Match: *`; AWS S3 and SeaweedFS honour
    it, tests/test_object_store.py races real writers on SeaweedFS), set explicitly so a library default cannot
    change it. It replaces the old `AWS_S3_ALLOW_UNSAFE_RENAME=true` default: delta-rs 1.6 ignores that flag for
    commits, but older delta-rs committed by copy + delete under it, overwriting a concurrent commit.
    A commit mechanism the user sets is passed through instead of the default: `AWS_CONDITIONAL_PUT` (e.g.
    `dynamo:<table>` for a store without conditional writes), `AWS_S3_LOCKING_PROVIDER=dynamodb`,
    `AWS_COPY_IF_NOT_EXISTS`, or `AWS_S3_ALLOW_UNSAFE_RENAME` (giving up that exclusion where it is honoured).
    """
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ALLOW_HTTP")
    commit = ("AWS_CONDITIONAL_PUT", "AWS_S3_LOCKING_PROVIDER", "DELTA_DYNAMO_TABLE_NAME", "AWS_COPY_IF_NOT_EXISTS")
    options = {name: os.environ[name] for name in (*names, *commit, "AWS_S3_ALLOW_UNSAFE_RENAME") if os.environ.get(name)}
    if options and not any(name in options for name in (*commit, "AWS_S3_ALLOW_UNSAFE_RENAME")):
        options["AWS_CONDITIONAL_PUT"] = "etag"
    return options
