"""The local deployment: one Sail Spark Connect server and Airflow, started and stopped by PID.

`make airflow`, `make run`, `make stop` and the Airflow tests use this module. Every service listens on
127.0.0.1. Airflow runs from its own virtual environment (.venv-airflow) with the LocalExecutor, its home
under var/airflow, its metadata in SQLite there unless AIRFLOW__DATABASE__SQL_ALCHEMY_CONN names another
database (PostgreSQL in the scale-out profile); its tasks reach the engine through SPARK_REMOTE (the Sail
server started here, or a cluster's Connect server given in SPARK_REMOTE, when none is started).
Secrets (the UI admin password, the API secret and JWT keys, the Fernet key) come from the environment;
outside prod a missing one is generated once and kept in var/airflow/secrets.json (mode 0600); in prod a
missing one is a ConfigError.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from gglake.files import write_atomic
from gglake.settings import ConfigError, normalise_env

PROJECT_ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_VENV = PROJECT_ROOT / ".venv-airflow"
PROJECT_VENV = PROJECT_ROOT / ".venv"

# Environment variable → what it holds. Generated outside prod when unset; required in prod.
SECRETS = {
    "GGLAKE_AIRFLOW_ADMIN_PASSWORD": "the Airflow UI/API password of user admin",
    "GGLAKE_AIRFLOW_SECRET_KEY": "Airflow's API secret key (session signing)",
    "GGLAKE_AIRFLOW_JWT_SECRET": "the key Airflow signs its API and task tokens with",
    "GGLAKE_AIRFLOW_FERNET_KEY": "the Fernet key Airflow encrypts connections and variables with",
}
AIRFLOW_SERVICES = ("api-server", "scheduler", "dag-processor")


@dataclass
class Deployment:
    """Where the deployment keeps its state (`var`), its ports and the environment its services get."""

    var: Path = PROJECT_ROOT / "var"
    airflow_port: int = int(os.environ.get("GGLAKE_AIRFLOW_PORT", "8080"))
    sail_port: int = int(os.environ.get("GGLAKE_SAIL_PORT", "50051"))
    env_overrides: dict[str, str] = field(default_factory=dict)

    @property
    def airflow_home(self) -> Path:
        return self.var / "airflow"

    @property
    def run_dir(self) -> Path:
        return self.var / "run"

    @property
    def manifest(self) -> Path:
        """The dbt manifest `make airflow-install` builds (an install artifact of the checkout)."""
        return Path(os.environ.get("GGLAKE_DBT_MANIFEST") or PROJECT_ROOT / "var" / "dbt" / "manifest.json")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.airflow_port}"

    def given(self, name: str) -> str | None:
        """A setting from the deployment's overrides, else from the environment (an empty value is unset)."""
        return self.env_overrides.get(name) or os.environ.get(name) or None

    @property
    def external_engine(self) -> str | None:
        """SPARK_REMOTE given to the deployment: a cluster's Connect URL; then no Sail server is started."""
        return self.given("SPARK_REMOTE")

    @property
    def spark_remote(self) -> str:
        return self.external_engine or f"sc://127.0.0.1:{self.sail_port}"

    # -- configuration -----------------------------------------------------------------------------

    def secrets(self) -> dict[str, str]:
        generated = {
            "GGLAKE_AIRFLOW_ADMIN_PASSWORD": lambda: secrets.token_urlsafe(18),
            "GGLAKE_AIRFLOW_SECRET_KEY": lambda: secrets.token_urlsafe(32),
            "GGLAKE_AIRFLOW_JWT_SECRET": lambda: secrets.token_urlsafe(32),
            "GGLAKE_AIRFLOW_FERNET_KEY": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),
        }
        return service_secrets(SECRETS, generated, self.env_overrides, self.airflow_home / "secrets.json")

    def environment(self) -> dict[str, str]:
        """The environment of every Airflow process and task (and so of every pipeline step it runs)."""
        values = self.secrets()
        home = self.airflow_home
        # not given(): an empty GGLAKE_ENV in the environment is an error, as in Settings, never quietly dev
        env_name = normalise_env(self.env_overrides.get("GGLAKE_ENV") or os.environ.get("GGLAKE_ENV", "dev"))
        schedule = self.given("GGLAKE_AIRFLOW_SCHEDULE") or ("on" if env_name == "prod" else "off")
        passwords = home / "passwords.json"
        database = self.given("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or f"sqlite:///{home / 'airflow.db'}"
        sqlite = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "gglake.orchestration.SQLITE_CONNECT_ARGS"}
        env = {
            **os.environ,
            "PATH": f"{AIRFLOW_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": os.environ.get("GGLAKE_AIRFLOW_PARALLELISM", "4"),  # 2 cores
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True" if schedule == "on" else "False",
            "AIRFLOW__CORE__FERNET_KEY": values["GGLAKE_AIRFLOW_FERNET_KEY"],
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.airflow_port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__WORKERS": "1",
            # The scheduler's log server (task logs for the UI while a task runs) on the next port.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.airflow_port + 1),
            "AIRFLOW__API__SECRET_KEY": values["GGLAKE_AIRFLOW_SECRET_KEY"],
            "AIRFLOW__API_AUTH__JWT_SECRET": values["GGLAKE_AIRFLOW_JWT_SECRET"],
            # Locally the scheduler runs what is triggered or backfilled; with schedules on it also creates
            # runs on the timetables and asset events (prod's default).
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True" if schedule == "on" else "False",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "20",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "20",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos"),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "gglake",
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                {"type": "file", "log_file_path": str(home / "openlineage" / "events.jsonl"), "append": True}
            ),
            "SCARF_ANALYTICS": "false",
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
            "GGLAKE_PYTHON": str(PROJECT_VENV / "bin" / "python"),
            "GGLAKE_DBT_MANIFEST": str(self.manifest),
            "GGLAKE_HOME": os.environ.get("GGLAKE_HOME") or str(PROJECT_ROOT / "lakehouse"),
            "GGLAKE_LANDING": os.environ.get("GGLAKE_LANDING") or str(PROJECT_ROOT / "landing"),
            "SPARK_REMOTE": self.spark_remote,
            "RUST_LOG": os.environ.get("RUST_LOG", "warn"),
            **(sqlite if database.startswith("sqlite") else {}),
            **self.env_overrides,
        }
        env.pop("DBT_TARGET_PATH", None)  # each Cosmos task writes dbt's target into its own project copy
        env.pop("DBT_LOG_PATH", None)
        return env

    # -- processes ---------------------------------------------------------------------------------

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        """The PID of a service this deployment started, if it is still running."""
        return running_pid(self._pid_file(name))

    def _spawn(self, name: str, command: Sequence[str], env: dict[str, str]) -> int:
        return spawn(self.run_dir, name, command, env, PROJECT_ROOT)

    def airflow(self, *args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
        """Run the Airflow CLI of this deployment."""
        result = subprocess.run([str(AIRFLOW_VENV / "bin" / "airflow"), *args], env=self.environment(), cwd=PROJECT_ROOT,
                                capture_output=capture, text=True)
        if check and result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed ({result.returncode}): {(result.stderr or '')[-2000:]}")
        return result

    def setup(self) -> None:
        """Create or upgrade the metadata database, the admin password file and the pools (idempotent)."""
        from gglake.orchestration import POOLS

        if not (AIRFLOW_VENV / "bin" / "airflow").exists():
            raise ConfigError(f"{AIRFLOW_VENV} has no Airflow: run `make airflow-install`")
        if not self.manifest.exists():
            raise ConfigError(f"no dbt manifest at {self.manifest}: run `make airflow-install`")
        home = self.airflow_home
        (home / "openlineage").mkdir(parents=True, exist_ok=True)
        passwords = home / "passwords.json"
        passwords.write_text(json.dumps({"admin": self.secrets()["GGLAKE_AIRFLOW_ADMIN_PASSWORD"]}))
        passwords.chmod(0o600)
        self.airflow("db", "migrate")
        pools = {name: {"slots": 1, "description": text, "include_deferred": False} for name, text in POOLS.items()}
        pool_file = home / "pools.json"
        pool_file.write_text(json.dumps(pools, indent=1))
        self.airflow("pools", "import", str(pool_file))

    def start(self, wait_for_dags: Iterable[str] = (), scheduler: bool = True) -> None:
        """Start Sail and Airflow (those not running yet); return once the API answers and `wait_for_dags`
        are parsed. Without `scheduler`, nothing runs yet (queue work first, then `start()` again)."""
        self.setup()
        env = self.environment()
        if not self.external_engine:
            self._spawn("sail", [str(PROJECT_VENV / "bin" / "sail"), "spark", "server", "--ip", "127.0.0.1", "--port",
                                 str(self.sail_port)], env)
        airflow = str(AIRFLOW_VENV / "bin" / "airflow")
        self._spawn("api-server", [airflow, "api-server", "--host", "127.0.0.1", "--port", str(self.airflow_port)], env)
        if scheduler:
            self._spawn("scheduler", [airflow, "scheduler"], env)
        self._spawn("dag-processor", [airflow, "dag-processor"], env)
        if not self.external_engine:
            _wait_port(self.sail_port, 60, self.run_dir / "sail.log")
        _wait_port(self.airflow_port, 180, self.run_dir / "api-server.log")
        client = self.client()
        deadline = time.monotonic() + 180
        wanted = set(wait_for_dags)
        while wanted - client.dag_ids():
            if time.monotonic() > deadline:
                raise RuntimeError(f"DAGs not parsed after 180 s: {sorted(wanted - client.dag_ids())}; "
                                   f"see {self.run_dir / 'dag-processor.log'} and `gglake airflow dags list-import-errors`")
            time.sleep(2)

    def stop(self) -> list[str]:
        """Stop every service this deployment started: TERM to each one's process group, KILL after 10 s."""
        running = {name: pid for name in (*reversed(AIRFLOW_SERVICES), "sail") if (pid := self.pid(name)) is not None}
        _stop_groups(list(running.values()))
        for name in running:
            self._pid_file(name).unlink(missing_ok=True)
        return list(running)

    def status(self) -> dict[str, int | None]:
        return {name: self.pid(name) for name in ("sail", *AIRFLOW_SERVICES)}

    def client(self) -> AirflowClient:
        return AirflowClient(self.url, "admin", self.secrets()["GGLAKE_AIRFLOW_ADMIN_PASSWORD"])


def service_secrets(described: dict[str, str], generate: dict[str, Callable[[], str]], overrides: dict[str, str],
                    store: Path) -> dict[str, str]:
    """A service's secrets from `overrides` or the environment. In prod a missing one is a ConfigError (no
    defaults); elsewhere it is generated once into `store` (mode 0600, written whole: concurrent readers never
    see a partial file) and kept there."""
    env = normalise_env(overrides.get("GGLAKE_ENV") or os.environ.get("GGLAKE_ENV", "dev"))
    given = {name: overrides.get(name) or os.environ.get(name) for name in described}
    missing = [name for name, value in given.items() if not value]
    if missing and env == "prod":
        raise ConfigError(
            "GGLAKE_ENV=prod: set " + ", ".join(f"{n} ({described[n]})" for n in missing) + " — there are no defaults in prod"
        )
    kept = json.loads(store.read_text()) if store.exists() else {}
    new = {name: generate[name]() for name in missing if name not in kept}
    if new:
        kept.update(new)
        store.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(store, json.dumps(kept, indent=1).encode(), mode=0o600)
    return {name: given[name] or kept[name] for name in described}


def running_pid(pid_file: Path) -> int | None:
    """The PID recorded in `pid_file` if that process still runs; a stale file is removed."""
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return None
    return pid


def spawn(run_dir: Path, name: str, command: Sequence[str], env: dict[str, str], cwd: Path) -> int:
    """Start `command` as service `name` unless it runs: its output to run_dir/<name>.log, its PID to
    run_dir/<name>.pid. Returns the PID, the running one's if it was already up."""
    pid_file = run_dir / f"{name}.pid"
    if (pid := running_pid(pid_file)) is not None:
        return pid
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / f"{name}.log").open("ab") as log:
        # A session of its own: stopping it stops its workers too (by its process group, not by name).
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd)
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def wait_for_url(url: str, accept: Callable[[int, bytes], bool], seconds: float, log: Path) -> None:
    """Poll `url` until `accept(status, body)`; RuntimeError naming the service's log after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:
                status, body = reply.status, reply.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            status, body = 0, b""
        if status and accept(status, body):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer as expected within {seconds:.0f} s; see {log}")
        time.sleep(0.5)


def _wait_port(port: int, seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds:.0f} s; {log}:\n{tail}")


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_groups(pgids: list[int], grace: float = 10.0) -> None:
    for pgid in pgids:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while any(_alive(p) for p in pgids) and time.monotonic() < deadline:
        time.sleep(0.3)
    for pgid in filter(_alive, pgids):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class AirflowClient:
    """The few calls of Airflow's REST API (v2) the Makefile and the tests need."""

    TERMINAL = {"success", "failed"}

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url, self.username, self.password = url, username, password
        self._token: str | None = None

    def _request(self, method: str, path: str, body: dict | None = None, auth: bool = True):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method, headers=headers)
        for attempt in range(20):
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    text = response.read().decode()
                return json.loads(text) if text else None
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode()[:1000]
                # SQLite: a write while the scheduler holds the database is refused (503 "locked", or a 500
                # "Database error" when the lock outlasts the wait); it passes a moment later.
                if exc.code in (500, 503) and ("locked" in detail.lower() or "database error" in detail.lower()) and attempt < 19:
                    time.sleep(1 + attempt / 2)
                    continue
                raise RuntimeError(f"{method} {path}: HTTP {exc.code}: {detail}") from None

    def token(self) -> str:
        if self._token is None:
            reply = self._request("POST", "/auth/token", {"username": self.username, "password": self.password}, auth=False)
            self._token = reply["access_token"]
        return self._token

    def dag_ids(self) -> set[str]:
        return {d["dag_id"] for d in self._request("GET", "/api/v2/dags?limit=100")["dags"]}

    def dag(self, dag_id: str) -> dict:
        return self._request("GET", f"/api/v2/dags/{dag_id}")

    def unpause(self, dag_id: str) -> None:
        self._request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def backfill(self, dag_id: str, from_date: str, to_date: str, *, reprocess: str = "none",
                 max_active_runs: int = 8) -> dict:
        """Queue the runs whose logical dates fall in [from_date, to_date] (ISO timestamps with a zone).

        A DAG has one backfill at a time: an unfinished earlier one (e.g. of an interrupted `make run`) is
        cancelled first (its queued runs fail; the new backfill runs those dates again)."""
        for earlier in self._request("GET", f"/api/v2/backfills?dag_id={dag_id}&limit=100")["backfills"]:
            if earlier["completed_at"] is None:
                self._request("PUT", f"/api/v2/backfills/{earlier['id']}/cancel")
        return self._request("POST", "/api/v2/backfills", {
            "dag_id": dag_id, "from_date": from_date, "to_date": to_date,
            "reprocess_behavior": reprocess, "max_active_runs": max_active_runs, "run_backwards": False,
        })

    def trigger(self, dag_id: str, logical_date: str | None = None, run_id: str | None = None, conf: dict | None = None,
                interval: tuple[str, str] | None = None) -> dict:
        """A manual run. Airflow gives a run triggered at `logical_date` the interval that ENDS there (the last
        complete one); pass `interval` (start, end) to run a given data interval, whose start is then the
        logical date, as in a scheduled or backfilled run."""
        body: dict = {"logical_date": interval[0] if interval else logical_date, "conf": conf or {}}
        if interval:
            body["data_interval_start"], body["data_interval_end"] = interval
        if run_id:
            body["dag_run_id"] = run_id
        return self._request("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)

    def runs(self, dag_id: str) -> list[dict]:
        reply = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=1000&order_by=logical_date")
        return reply["dag_runs"]

    def tasks(self, dag_id: str, run_id: str) -> list[dict]:
        run = urllib.parse.quote(run_id, safe="")
        return self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances?limit=1000")["task_instances"]

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        run = urllib.parse.quote(run_id, safe="")
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances/{task_id}/logs/{try_number}?full_content=true"
        reply = self._request("GET", path)
        content = reply.get("content", "")
        if isinstance(content, list):
            return "\n".join(c.get("event", "") if isinstance(c, dict) else str(c) for c in content)
        return str(content)

    def clear(self, dag_id: str, run_id: str) -> None:
        """Clear every task of a run, which the scheduler then runs again (Airflow's "clear + rerun")."""
        self._request("POST", f"/api/v2/dags/{dag_id}/clearTaskInstances", {
            "dag_run_id": run_id, "dry_run": False, "only_failed": False, "reset_dag_runs": True,
            "include_upstream": False, "include_downstream": False,
        })

    def _wait(self, select, timeout: float) -> dict[str, list[dict]]:
        deadline = time.monotonic() + timeout
        while True:
            runs, ready = select()
            if ready and all(r["state"] in self.TERMINAL for rs in runs.values() for r in rs):
                return runs
            if time.monotonic() > deadline:
                open_runs = [f"{d} {r['dag_run_id']} {r['state']}" for d, rs in runs.items() for r in rs
                             if r["state"] not in self.TERMINAL]
                raise TimeoutError(f"DAG runs not finished after {timeout:.0f} s: {open_runs[:10]}")
            time.sleep(3)

    def wait_window(self, windows: dict[str, tuple[str, str]], timeout: float) -> dict[str, list[dict]]:
        """Wait until each DAG's runs with logical dates in its [from, to] window have ended."""
        from datetime import datetime as dt

        bounds = {d: (dt.fromisoformat(a), dt.fromisoformat(b)) for d, (a, b) in windows.items()}

        def select():
            runs = {d: [r for r in self.runs(d) if r["logical_date"] and lo <= dt.fromisoformat(r["logical_date"]) <= hi]
                    for d, (lo, hi) in bounds.items()}
            return runs, all(runs.values())

        return self._wait(select, timeout)

    def wait_created(self, dag_ids: Iterable[str], since: str, timeout: float) -> dict[str, list[dict]]:
        """Wait until each DAG has a run queued after `since` (ISO) and all such runs have ended."""
        dag_ids, after = list(dag_ids), datetime.fromisoformat(since)

        def created(run: dict) -> bool:
            moment = run.get("queued_at") or run.get("run_after")
            return bool(moment) and datetime.fromisoformat(moment) >= after

        def select():
            runs = {d: [r for r in self.runs(d) if created(r)] for d in dag_ids}
            return runs, all(runs.values())

        return self._wait(select, timeout)

def _kst(day: date, hour: int = 0) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00+09:00"


def run_days(deployment: Deployment, first: date, days: int, timeout: float = 3600) -> dict[str, Counter]:
    """Run days [first, first + days) through Airflow: every ingest DAG run of those data intervals,
    care_risk_daily for each day, then gold_marts; wait for all of them. Returns DAG → run states.

    All runs are queued at once as backfills (runs of those dates that exist already run again: reruns are
    idempotent); the care-risk runs wait (rescheduling sensors) until their day has landed, and the pools
    keep writers of the same tables apart. gold_marts is triggered here when the scheduler does not follow
    asset events (GGLAKE_AIRFLOW_SCHEDULE=off, the local default).
    """
    from gglake.domain import FEED_CADENCE
    from gglake.orchestration import INGEST_DAGS

    client = deployment.client()
    last = first + timedelta(days=days - 1)
    windows: dict[str, tuple[str, str]] = {}
    for feed, dag_id in INGEST_DAGS.items():
        cadence = FEED_CADENCE[feed]
        if cadence == "hourly":
            windows[dag_id] = (_kst(first), _kst(last, 23))
        elif cadence == "daily":
            windows[dag_id] = (_kst(first), _kst(last))
        else:  # quarterly: the quarters that start within the days
            starts = [d for d in (first + timedelta(days=i) for i in range(days)) if d.day == 1 and d.month in (1, 4, 7, 10)]
            if starts:
                windows[dag_id] = (_kst(starts[0]), _kst(starts[-1]))
    windows["care_risk_daily"] = (_kst(first), _kst(last))
    for dag_id, window in windows.items():
        client.backfill(dag_id, *window, reprocess="completed")
    deployment.start()  # the scheduler, if it was not running: SQLite takes the backfills best before it runs
    runs = client.wait_window(windows, timeout)
    marts_from = datetime.now(UTC).isoformat()
    if deployment.environment()["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] == "False":
        client.trigger("gold_marts")
    runs["gold_marts"] = client.wait_created(["gold_marts"], marts_from, timeout)["gold_marts"]
    return {dag_id: Counter(r["state"] for r in rs) for dag_id, rs in runs.items()}
