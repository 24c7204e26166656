"""The dashboards: a local Superset 6.1 on the serving DuckDB file, started and stopped by PID.

Superset runs from its own virtual environment (.venv-superset) with dashboards/superset_config.py, its home
(metadata database, logs) under var/superset, listening on 127.0.0.1 only. Secrets (the session/encryption key,
the admin password, the password of the per-role users) come from the environment; outside prod a missing one
is generated once and kept in var/superset/secrets.json (mode 0600); in prod a missing one is a ConfigError.

Dashboards are YAML bundles (dashboards/bundle/) imported through the REST API; every DuckDB database in a
bundle is pointed at the serving file, read-only and without file-system access (DuckDB can otherwise read any
local file through SQL). Districts see their own rows only: one role and one row-level-security rule per
district on every serving dataset with a district_code column.
"""

from __future__ import annotations

import http.cookiejar
import io
import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import click
import yaml

from gglake.deployment import _stop_groups, _wait_port, running_pid, service_secrets, spawn, wait_for_url
from gglake.districts import DISTRICTS
from gglake.settings import ConfigError, Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SUPERSET_VENV = PROJECT_ROOT / ".venv-superset"
CONFIG_FILE = PROJECT_ROOT / "dashboards" / "superset_config.py"
BUNDLE_DIR = PROJECT_ROOT / "dashboards" / "bundle"

SECRETS = {
    "GGLAKE_SUPERSET_SECRET_KEY": "Superset's key (session signing, encryption of connection secrets)",
    "GGLAKE_SUPERSET_ADMIN_PASSWORD": "the Superset password of user admin",
    "GGLAKE_SUPERSET_USER_PASSWORD": "the password of the per-role users (provincial, district_<code>)",
}
PROVINCIAL = "provincial"
DEFAULT_DISTRICTS = ("41110", "41130")  # 수원시, 성남시
ALL_DISTRICTS = tuple(d.code for d in DISTRICTS)
RLS_COLUMN = "district_code"
SERVING_DATABASE = "gglake_serving"  # the bundle's database (dashboards/bundle/databases/)
# SQL Lab permissions (Superset's own sql_lab role), given to every role: district queries are rewritten by the RLS
# rules (RLS_IN_SQLLAB), and DuckDB's table functions that name a table in a string (query_table('serving.x'),
# which neither the access check nor the RLS rewriting sees) are refused by superset_config.py.
SQL_LAB_ROLE = "sql_lab"


def district_role(code: str) -> str:
    return f"district_{code}"


@dataclass
class Superset:
    """Where Superset keeps its state, its port, the serving file it reads and the environment it gets."""

    var: Path = PROJECT_ROOT / "var"
    port: int = int(os.environ.get("GGLAKE_SUPERSET_PORT", "8088"))
    serving_file: Path | None = None
    workers: int = int(os.environ.get("GGLAKE_SUPERSET_WORKERS", "2"))
    env_overrides: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.var / "superset"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def serving_path(self) -> Path:
        if self.serving_file is not None:
            return Path(self.serving_file).resolve()
        from gglake.serving import default_target, is_postgres

        target = default_target(Settings.from_env())
        if is_postgres(target):
            raise ConfigError("the dashboards read the DuckDB serving file: unset GGLAKE_SERVING_URL or point it at a "
                              "DuckDB file (a PostgreSQL serving store is for other readers)")
        return Path(target).resolve()

    @property
    def serving_uri(self) -> str:
        """The serving file, read-only (the publisher swaps in a new file; Superset opens it per query, NullPool),
        without file-system access (no read_csv('/etc/…'), ATTACH or extension installs), locked so SQL cannot
        switch that back on."""
        query = "access_mode=read_only&enable_external_access=false&lock_configuration=true"
        return f"duckdb:///{self.serving_path}?{query}"

    # -- configuration -----------------------------------------------------------------------------

    def secrets(self) -> dict[str, str]:
        generated = {name: partial(secrets.token_urlsafe, 48 if name.endswith("SECRET_KEY") else 18) for name in SECRETS}
        return service_secrets(SECRETS, generated, self.env_overrides, self.home / "secrets.json")

    def environment(self) -> dict[str, str]:
        values = self.secrets()
        return {
            **os.environ,
            "PATH": f"{SUPERSET_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "SUPERSET_CONFIG_PATH": str(CONFIG_FILE),
            "SUPERSET_HOME": str(self.home),
            "GGLAKE_SUPERSET_SECRET_KEY": values["GGLAKE_SUPERSET_SECRET_KEY"],
            "SUPERSET_LOAD_EXAMPLES": "no",
            "SCARF_ANALYTICS": "false",
            "DO_NOT_TRACK": "1",
            **self.env_overrides,
        }

    def superset(self, *args: str) -> subprocess.CompletedProcess:
        """Run the Superset CLI of this deployment; RuntimeError (passwords masked) if it fails."""
        result = subprocess.run([str(SUPERSET_VENV / "bin" / "superset"), *args], env=self.environment(),
                                cwd=self.home, capture_output=True, text=True)
        if result.returncode != 0:
            shown = [a if not a.startswith("--password=") else "--password=…" for a in args]
            raise RuntimeError(f"superset {' '.join(shown)} failed ({result.returncode}): "
                               f"{((result.stderr or '') + (result.stdout or ''))[-2000:]}")
        return result

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def _setup_marker(self) -> Path:
        return self.home / "setup.json"

    def setup(self) -> None:
        """Create or upgrade the metadata database, the admin user (its password set to the secret) and
        Superset's built-in roles and permissions. Idempotent."""
        if not (SUPERSET_VENV / "bin" / "superset").exists():
            raise ConfigError(f"{SUPERSET_VENV} has no Superset: run `make superset-install`")
        self.home.mkdir(parents=True, exist_ok=True)
        password = self.secrets()["GGLAKE_SUPERSET_ADMIN_PASSWORD"]
        self.superset("db", "upgrade")
        self.superset("fab", "create-admin", "--username", "admin", "--firstname", "Superset", "--lastname", "Admin",
                      "--email", "admin@localhost", f"--password={password}")
        # create-admin leaves an existing admin as it is: make its password the current secret.
        self.superset("fab", "reset-password", "--username", "admin", f"--password={password}")
        self.superset("init")
        self._setup_marker.write_text(json.dumps({"superset": _superset_version()}))

    def _set_up(self) -> bool:
        try:
            return json.loads(self._setup_marker.read_text()).get("superset") == _superset_version()
        except (OSError, ValueError):
            return False

    @property
    def run_dir(self) -> Path:
        return self.var / "run"

    def pid(self) -> int | None:
        return running_pid(self.run_dir / "superset.pid")

    def start(self, timeout: float = 120) -> None:
        """Start Superset (gunicorn on 127.0.0.1) unless it runs; return once /health answers. Sets it up first
        when this home was never set up with this Superset version."""
        if not self._set_up():
            self.setup()
        command = [str(SUPERSET_VENV / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{self.port}",
                   "--workers", str(self.workers), "--worker-class", "gthread", "--threads", "4",
                   "--timeout", "120", "--limit-request-line", "0", "--limit-request-field_size", "0",
                   "superset.app:create_app()"]
        spawn(self.run_dir, "superset", command, self.environment(), self.home)
        _wait_port(self.port, timeout, self.run_dir / "superset.log")
        wait_for_url(f"{self.url}/health", lambda status, body: body.strip() == b"OK", timeout, self.run_dir / "superset.log")

    def stop(self) -> bool:
        """Stop the Superset this deployment started: TERM to its process group, KILL after 10 s."""
        pid = self.pid()
        if pid is None:
            return False
        _stop_groups([pid])
        (self.run_dir / "superset.pid").unlink(missing_ok=True)
        return True

    def client(self, username: str = "admin", password: str | None = None) -> SupersetClient:
        if password is None:
            values = self.secrets()
            password = values["GGLAKE_SUPERSET_ADMIN_PASSWORD" if username == "admin" else "GGLAKE_SUPERSET_USER_PASSWORD"]
        return SupersetClient(self.url, username, password)

    # -- content -----------------------------------------------------------------------------------

    def bundle_zip(self, bundle_dir: Path) -> bytes:
        """The bundle folder as an import ZIP: one top-level folder; every DuckDB database pointed at the serving
        file (read-only, no DML, no uploads); metadata.yaml without `type`, so every import endpoint takes it."""
        bundle_dir = Path(bundle_dir)
        files = sorted(p for p in bundle_dir.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml"))
        if not (bundle_dir / "metadata.yaml").exists():
            raise ConfigError(f"{bundle_dir} is not a Superset bundle: it has no metadata.yaml")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                relative = path.relative_to(bundle_dir).as_posix()
                config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
                if relative == "metadata.yaml":
                    config.pop("type", None)
                elif relative.startswith("databases/") and str(config.get("sqlalchemy_uri", "")).startswith("duckdb"):
                    config.update(sqlalchemy_uri=self.serving_uri, allow_dml=False, allow_file_upload=False)
                text = yaml.safe_dump(config, allow_unicode=True, sort_keys=False)
                archive.writestr(f"bundle/{relative}", text)
        return buffer.getvalue()

    def load_dashboards(self, bundle_dir: Path = BUNDLE_DIR) -> dict[str, int]:
        """Import the bundle: databases, datasets, charts and dashboards, each overwriting what an earlier import
        made (a dashboard import alone leaves existing charts and datasets as they were). Idempotent. Returns the
        number of files of each kind imported."""
        data = self.bundle_zip(bundle_dir)
        client = self.client()
        for kind in ("database", "dataset", "chart", "dashboard"):
            client.import_bundle(kind, data)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
        return {kind: sum(n.startswith(f"bundle/{kind}s/") for n in names)
                for kind in ("database", "dataset", "chart", "dashboard")}

    def serving_datasets(self, client: SupersetClient | None = None) -> list[dict]:
        """Datasets on the serving file: id, table_name, schema, perm (the datasource_access view name), columns."""
        client = client or self.client()
        databases = {d["id"] for d in client.list("database", ["id", "database_name"])
                     if d["database_name"] == SERVING_DATABASE}
        found = []
        for row in client.list("dataset", ["id", "table_name", "schema", "database.id"]):
            if row["database"]["id"] in databases:
                detail = client.request("GET", f"/api/v1/dataset/{row['id']}")["result"]
                found.append({"id": row["id"], "table_name": row["table_name"], "schema": row["schema"],
                              "perm": f"[{SERVING_DATABASE}].[{row['table_name']}](id:{row['id']})",
                              "columns": [c["column_name"] for c in detail["columns"]]})
        return found

    def create_roles(self, districts: Iterable[str] = DEFAULT_DISTRICTS, users: bool = True) -> list[str]:
        """The provincial role (every serving row) and one role per district (its own rows): Gamma's and SQL Lab's
        permissions plus datasource access to every serving dataset, and per district an RLS rule
        `district_code = '<code>'` on each dataset with that column. With `users`, one user per role (same name,
        password GGLAKE_SUPERSET_USER_PASSWORD). Run after load_dashboards (the datasets come from there) and
        again after a bundle adds datasets. Idempotent: returns what it changed, nothing on a second run."""
        codes = list(dict.fromkeys(districts))
        unknown = sorted(set(codes) - set(ALL_DISTRICTS))
        if unknown:
            raise ConfigError(f"not Gyeonggi district codes: {', '.join(unknown)}")
        client = self.client()
        datasets = self.serving_datasets(client)
        if not datasets:
            raise ConfigError(f"no Superset dataset reads {self.serving_path}: load the dashboards first")
        roles = {r["name"]: r["id"] for r in client.list("security/roles", ["id", "name"])}
        base = client.role_permissions(roles["Gamma"])
        sql_lab = client.role_permissions(roles[SQL_LAB_ROLE])
        pvms = client.permission_views()
        access = {pvms[("datasource_access", d["perm"])] for d in datasets}
        changes: list[str] = []

        wanted = {PROVINCIAL: base | sql_lab | access, **{district_role(c): base | sql_lab | access for c in codes}}
        for name, permissions in wanted.items():
            if name not in roles:
                roles[name] = client.request("POST", "/api/v1/security/roles/", {"name": name})["id"]
                changes.append(f"role {name} created")
            if client.role_permissions(roles[name]) != permissions:
                client.request("POST", f"/api/v1/security/roles/{roles[name]}/permissions",
                               {"permission_view_menu_ids": sorted(permissions)})
                changes.append(f"role {name}: permissions set ({len(permissions)})")

        tables = sorted(d["id"] for d in datasets if RLS_COLUMN in d["columns"])
        rules = {r["name"]: r for r in client.list("rowlevelsecurity", ["id", "name", "clause", "filter_type",
                                                                        "tables.id", "roles.id", "group_key"])}
        for code in codes:
            name = district_role(code)
            body = {"name": name, "filter_type": "Regular", "tables": tables, "roles": [roles[name]],
                    "clause": f"{RLS_COLUMN} = '{code}'", "group_key": RLS_COLUMN,
                    "description": f"{name}: only the rows of district {code}"}
            rule = rules.get(name)
            if rule is None:
                client.request("POST", "/api/v1/rowlevelsecurity/", body)
                changes.append(f"rls {name} created on {len(tables)} datasets")
            elif (rule["clause"], rule["filter_type"], rule["group_key"], sorted(t["id"] for t in rule["tables"]),
                  [r["id"] for r in rule["roles"]]) != (body["clause"], "Regular", RLS_COLUMN, tables, [roles[name]]):
                client.request("PUT", f"/api/v1/rowlevelsecurity/{rule['id']}", body)
                changes.append(f"rls {name} updated")

        if users:
            password = self.secrets()["GGLAKE_SUPERSET_USER_PASSWORD"]
            existing = {u["username"]: u for u in client.list("security/users", ["id", "username", "roles.id", "active"])}
            for name in wanted:
                user = existing.get(name)
                if user is None:
                    client.request("POST", "/api/v1/security/users/", {
                        "username": name, "first_name": name, "last_name": "gglake", "email": f"{name}@gglake.local",
                        "active": True, "password": password, "roles": [roles[name]]})
                    changes.append(f"user {name} created")
                elif [r["id"] for r in user["roles"]] != [roles[name]] or not user["active"]:
                    client.request("PUT", f"/api/v1/security/users/{user['id']}", {"roles": [roles[name]], "active": True})
                    changes.append(f"user {name}: roles reset")
        return changes


def _superset_version() -> str:
    found = sorted((SUPERSET_VENV / "lib").glob("python*/site-packages/apache_superset-*.dist-info"))
    return found[-1].name.removeprefix("apache_superset-").removesuffix(".dist-info") if found else "unknown"


class SupersetClient:
    """Superset's REST API as one user: a JWT from /api/v1/security/login plus the session cookie and CSRF token
    that Superset's write endpoints check even with a bearer token."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url, self.username, self.password = url, username, password
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self._token: str | None = None
        self._csrf: str | None = None

    def _send(self, method: str, path: str, data: bytes | None, headers: dict[str, str]):
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method, headers=headers)
        try:
            with self._opener.open(request, timeout=120) as reply:
                text = reply.read().decode()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:2000]
            raise SupersetError(exc.code, f"{method} {path}: HTTP {exc.code}: {detail}") from None
        try:
            return json.loads(text) if text else None
        except ValueError:
            raise SupersetError(502, f"{method} {path}: not JSON: {text[:300]!r}") from None

    def _headers(self, method: str) -> dict[str, str]:
        if self._token is None:
            reply = self._send("POST", "/api/v1/security/login", json.dumps(
                {"username": self.username, "password": self.password, "provider": "db", "refresh": False}).encode(),
                {"Content-Type": "application/json"})
            self._token = reply["access_token"]
        headers = {"Authorization": f"Bearer {self._token}", "Referer": self.url}
        if method != "GET":
            if self._csrf is None:
                self._csrf = self._send("GET", "/api/v1/security/csrf_token/", None, headers)["result"]
            headers["X-CSRFToken"] = self._csrf
        return headers

    def request(self, method: str, path: str, body: dict | None = None):
        headers = self._headers(method)
        if body is not None:
            headers["Content-Type"] = "application/json"
        return self._send(method, path, json.dumps(body).encode() if body is not None else None, headers)

    def list(self, resource: str, columns: list[str], page_size: int = 100) -> list[dict]:
        """Every row of a list endpoint (/api/v1/<resource>/), page by page."""
        rows: list[dict] = []
        while True:
            q = f"(columns:!({','.join(columns)}),page:{len(rows) // page_size},page_size:{page_size})"
            reply = self.request("GET", f"/api/v1/{resource}/?q={urllib.parse.quote(q)}")
            rows.extend(reply["result"])
            if len(reply["result"]) < page_size:
                return rows

    def permission_views(self) -> dict[tuple[str, str], int]:
        """(permission, view menu) → permission-view id, e.g. ('datasource_access', '[serving].[t](id:1)')."""
        rows = self.list("security/permissions-resources", ["id", "permission.name", "view_menu.name"])
        return {(r["permission"]["name"], r["view_menu"]["name"]): r["id"] for r in rows}

    def role_permissions(self, role_id: int) -> set[int]:
        return {p["id"] for p in self.request("GET", f"/api/v1/security/roles/{role_id}/permissions/")["result"]}

    def import_bundle(self, kind: str, data: bytes, overwrite: bool = True) -> None:
        """POST a bundle ZIP to /api/v1/<kind>/import/ (kind: database, dataset, chart, dashboard)."""
        boundary = uuid.uuid4().hex
        field_name = "formData"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field_name}\"; filename=\"bundle.zip\"\r\n"
                f"Content-Type: application/zip\r\n\r\n").encode() + data + (
                f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"overwrite\"\r\n\r\n"
                f"{'true' if overwrite else 'false'}\r\n--{boundary}--\r\n").encode()
        headers = {**self._headers("POST"), "Content-Type": f"multipart/form-data; boundary={boundary}"}
        self._send("POST", f"/api/v1/{kind}/import/", body, headers)

    def chart_data(self, chart_id: int, time_range: str | None = None) -> list[dict]:
        """The rows a saved chart shows this user (its saved query context, RLS applied); with `time_range`
        (e.g. '2026-10-01 : 2026-11-01') as the dashboard's period filter would send it."""
        if time_range is None:
            reply = self.request("GET", f"/api/v1/chart/{chart_id}/data/")
        else:
            context = json.loads(self.request("GET", f"/api/v1/chart/{chart_id}")["result"]["query_context"])
            for query in context["queries"]:
                for condition in query["filters"]:
                    if condition["op"] == "TEMPORAL_RANGE":
                        condition["val"] = time_range
            reply = self.request("POST", "/api/v1/chart/data", context)
        return [row for result in reply["result"] for row in result["data"]]

    def sql(self, database_id: int, sql: str, schema: str | None = None) -> dict:
        """Run SQL through SQL Lab synchronously; the reply has `data` (rows) and `columns`."""
        return self.request("POST", "/api/v1/sqllab/execute/", {
            "database_id": database_id, "sql": sql, "schema": schema, "runAsync": False, "tab": "gglake",
            "client_id": secrets.token_hex(5), "queryLimit": 10000, "select_as_cta": False})


class SupersetError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# -- command line (mounted by gglake.cli as `gglake dashboards`) ---------------------------------------


@click.group("dashboards")
def dashboards_cli() -> None:
    """The dashboards: Superset on 127.0.0.1 over the serving DuckDB file, district roles with row-level security."""


@dashboards_cli.command("setup")
def dashboards_setup() -> None:
    """Create or upgrade Superset's metadata database, the admin user and the built-in roles (idempotent)."""
    began = time.perf_counter()
    Superset().setup()
    click.echo(f"Superset set up in {time.perf_counter() - began:.0f} s")


@dashboards_cli.command("start")
def dashboards_start() -> None:
    """Start Superset (sets it up first if needed); it keeps running until `gglake dashboards stop`."""
    superset = Superset()
    superset.start()
    click.echo(f"Superset: {superset.url}  user admin, password: $GGLAKE_SUPERSET_ADMIN_PASSWORD "
               f"(or {superset.home / 'secrets.json'}); serving file {superset.serving_path}")


@dashboards_cli.command("stop")
def dashboards_stop() -> None:
    """Stop the Superset `gglake dashboards start` started (by PID)."""
    click.echo("stopped: superset" if Superset().stop() else "stopped: nothing was running")


@dashboards_cli.command("load")
@click.option("--bundle", "bundle_dir", default=BUNDLE_DIR, show_default=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path), help="Dashboard YAML bundle folder.")
@click.option("--district", "districts", multiple=True, metavar="CODE",
              help="District roles to create (repeatable); default 41110 and 41130.")
@click.option("--all-districts", is_flag=True, help="Roles for all 31 districts.")
@click.option("--users/--no-users", default=True, show_default=True, help="One user per role (password: secret).")
def dashboards_load(bundle_dir: Path, districts: tuple[str, ...], all_districts: bool, users: bool) -> None:
    """Import the dashboard bundle (Superset must run) and create the provincial and district roles with RLS."""
    superset = Superset()
    began = time.perf_counter()
    counts = superset.load_dashboards(bundle_dir)
    codes = ALL_DISTRICTS if all_districts else (districts or DEFAULT_DISTRICTS)
    changes = superset.create_roles(codes, users=users)
    click.echo(f"imported {', '.join(f'{n} {k}s' for k, n in counts.items())}; roles: "
               f"{len(changes)} change(s) for {PROVINCIAL} + {len(codes)} districts; {time.perf_counter() - began:.0f} s")
