"""Superset configuration of the lakehouse dashboards (SUPERSET_CONFIG_PATH points here; gglake.superset sets it).

Secrets come from the environment: GGLAKE_SUPERSET_SECRET_KEY (session signing and the key the metadata database
encrypts connection passwords with) and GGLAKE_SUPERSET_METADATA_URL (default: SQLite under SUPERSET_HOME). A
missing, default or short secret key refuses to start (outside prod the launcher generates one). Nothing here
reaches the internet: the browser may load only this server's own assets (the telemetry pixel is blocked by the
content security policy), and no thumbnails, reports, Slack or map tiles.
"""

import os

from superset.config import DISALLOWED_SQL_FUNCTIONS
from superset.constants import CHANGE_ME_SECRET_KEY

_PROD = os.environ.get("GGLAKE_ENV", "dev").strip().lower() in ("prod", "production")
_HOME = os.environ.get("SUPERSET_HOME") or os.path.expanduser("~/.superset")

SECRET_KEY = os.environ.get("GGLAKE_SUPERSET_SECRET_KEY", "")
if not SECRET_KEY or SECRET_KEY == CHANGE_ME_SECRET_KEY or len(SECRET_KEY) < 32:
    if _PROD:
        raise RuntimeError("GGLAKE_ENV=prod: set GGLAKE_SUPERSET_SECRET_KEY to a random secret of at least 32 characters")
    raise RuntimeError("GGLAKE_SUPERSET_SECRET_KEY is unset or shorter than 32 characters: start Superset through "
                       "`gglake dashboards start`, which passes a generated one outside prod")

SQLALCHEMY_DATABASE_URI = (os.environ.get("GGLAKE_SUPERSET_METADATA_URL")
                           or f"sqlite:///{os.path.join(_HOME, 'superset.db')}?check_same_thread=false")

FEATURE_FLAGS = {
    # Dashboards list the roles that may open them (district dashboards vs the provincial one).
    "DASHBOARD_RBAC": True,
    # Row-level security rules also rewrite SQL Lab queries (district roles query the serving marts there).
    "RLS_IN_SQLLAB": True,
    # Jinja in SQL would let a user template around the row-level filters.
    "ENABLE_TEMPLATE_PROCESSING": False,
    "ALERT_REPORTS": False,
    "THUMBNAILS": False,
    "EMBEDDED_SUPERSET": False,
}

WTF_CSRF_ENABLED = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = _PROD  # prod sits behind TLS
PREVENT_UNSAFE_DB_CONNECTIONS = True
RATELIMIT_ENABLED = _PROD
SQLLAB_TIMEOUT = 60
# DuckDB functions that read a table, a query or a file named in a string: Superset's table access check and its
# row-level-security rewriting only see tables named in FROM, so these would read around both. (File access is
# also off in the connection: enable_external_access=false.)
DISALLOWED_SQL_FUNCTIONS = {
    **DISALLOWED_SQL_FUNCTIONS,
    "duckdb": {"query", "query_table", "read_csv", "read_csv_auto", "read_parquet", "read_json", "read_json_auto",
               "read_text", "read_blob", "glob", "sniff_csv", "parquet_scan", "delta_scan", "iceberg_scan",
               "getenv", "current_setting", "duckdb_settings", "duckdb_secrets", "duckdb_extensions"},
}
ROW_LIMIT = 50_000

# Offline: no map tiles, no Google fonts, no telemetry pixel.
MAPBOX_API_KEY = ""
THEME_FONT_URL_ALLOWED_DOMAINS: list[str] = []
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'", "data:"],
        "script-src": ["'self'", "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": _PROD,
}
