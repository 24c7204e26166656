"""The `spark` engine profile: an Apache Spark 4 standalone cluster with a Delta-enabled Spark Connect server.

`make spark-cluster`, `gglake spark start|stop|status` and the scale-out tests use this module. Everything
comes from the Spark 4.0.1 distribution inside the pyspark wheel (its `sbin/` lacks the start scripts, so the
master, workers and Connect server are started with `spark-class` / `spark-submit`), plus the jars of
`spark/pom.xml` that `make spark-jars` copies to var/spark/jars (Delta Lake, hadoop-aws, the AWS SDK).

One master and GGLAKE_SPARK_WORKERS workers (default 2, 1 core and 1.5 GiB each) run as separate JVMs, so
tasks really cross processes; the Connect server is the cluster's only application (its driver), with one
executor per worker. Every listener binds 127.0.0.1. PIDs and logs are under var/run/, state under var/spark/.
Point the pipeline at it with SPARK_REMOTE=`SparkCluster().remote`.

Object storage: with the AWS_* variables of an `s3://` home set (as for delta-rs), the cluster gets the same
endpoint and keys for S3A, and `s3://` paths are served by S3A too, so one table URL works on both sides.
The keys go into a 0600 properties file, not onto command lines.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from gglake.deployment import PROJECT_ROOT, _alive, _stop_groups, _wait_port, running_pid, spawn, wait_for_url
from gglake.settings import ConfigError

CONNECT_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
APP_NAME = "gglake-connect"
# The jars of spark/pom.xml (`make spark-jars`); Delta's versions are tied to Spark 4.0.x, hadoop-aws to the
# wheel's Hadoop 3.4.1.
DELTA_JARS = ("delta-spark_2.13-4.0.1.jar", "delta-storage-4.0.1.jar")
S3_JARS = ("hadoop-aws-3.4.1.jar", "bundle-2.24.6.jar")

# Small shuffles: Spark's default of 200 partitions makes every MERGE and aggregate 200 tasks on 2 cores
# (14 s instead of 4 s for a 20k-row MERGE); Delta's log replay likewise defaults to 50 tasks.
ENGINE_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.shuffle.partitions": "4",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.session.timeZone": "Asia/Seoul",
    # Staged Parquet is read back by pyarrow (redaction): UTC-adjusted microseconds, not Spark's legacy INT96.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def s3a_conf(storage_options: dict[str, str]) -> dict[str, str]:
    """S3A settings equal to delta-rs's AWS_* options, with `s3://` mapped to S3A (Hadoop has no `s3` scheme)."""
    if not storage_options:
        return {}
    conf = {
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
    }
    endpoint = storage_options.get("AWS_ENDPOINT_URL")
    if endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"  # SeaweedFS, MinIO: bucket in the path
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(endpoint.startswith("https://")).lower()
    if region := storage_options.get("AWS_REGION"):
        conf["spark.hadoop.fs.s3a.endpoint.region"] = region
    if "AWS_ACCESS_KEY_ID" in storage_options:
        conf["spark.hadoop.fs.s3a.access.key"] = storage_options["AWS_ACCESS_KEY_ID"]
        conf["spark.hadoop.fs.s3a.secret.key"] = storage_options.get("AWS_SECRET_ACCESS_KEY", "")
        conf["spark.hadoop.fs.s3a.aws.credentials.provider"] = "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
    return conf


@dataclass
class SparkCluster:
    """Where the cluster keeps its state, its ports and sizes; `env_overrides` adds AWS_* for an s3 home."""

    var: Path = PROJECT_ROOT / "var"
    workers: int = int(os.environ.get("GGLAKE_SPARK_WORKERS", "2"))
    worker_memory: str = os.environ.get("GGLAKE_SPARK_WORKER_MEMORY", "1536m")
    executor_memory: str = os.environ.get("GGLAKE_SPARK_EXECUTOR_MEMORY", "1g")
    driver_memory: str = os.environ.get("GGLAKE_SPARK_DRIVER_MEMORY", "1536m")
    master_port: int = int(os.environ.get("GGLAKE_SPARK_MASTER_PORT", "7077"))
    master_ui_port: int = int(os.environ.get("GGLAKE_SPARK_MASTER_UI_PORT", "18080"))
    connect_port: int = int(os.environ.get("GGLAKE_SPARK_CONNECT_PORT", "15002"))
    driver_ui_port: int = int(os.environ.get("GGLAKE_SPARK_UI_PORT", "4040"))
    env_overrides: dict[str, str] = field(default_factory=dict)

    # -- where things are ----------------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        return self.var / "spark"

    @property
    def jars_dir(self) -> Path:
        """`make spark-jars`'s folder (an install artifact of the checkout, wherever the cluster keeps its state)."""
        return Path(os.environ.get("GGLAKE_SPARK_JARS") or PROJECT_ROOT / "var" / "spark" / "jars")

    @property
    def run_dir(self) -> Path:
        return self.var / "run"

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.master_port}"

    @property
    def remote(self) -> str:
        """The SPARK_REMOTE of the pipeline on this cluster."""
        return f"sc://127.0.0.1:{self.connect_port}"

    def worker_ui_port(self, index: int) -> int:
        return self.master_ui_port + 1 + index

    def _names(self) -> list[str]:
        return ["spark-master", *(f"spark-worker-{i + 1}" for i in range(self.workers)), "spark-connect"]

    def log(self, name: str) -> Path:
        return self.run_dir / f"{name}.log"

    def pid(self, name: str) -> int | None:
        return running_pid(self.run_dir / f"{name}.pid")

    # -- configuration -------------------------------------------------------------------------------

    def jars(self) -> list[Path]:
        """The profile's jars, or ConfigError saying how to get them."""
        paths = [self.jars_dir / name for name in (*DELTA_JARS, *S3_JARS)]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise ConfigError(f"Spark profile jars missing in {self.jars_dir}: {', '.join(missing)}; run `make spark-jars`")
        return paths

    def environment(self) -> dict[str, str]:
        home = spark_home()
        conf_dir = self.state_dir / "conf"  # empty: nothing from a system-wide Spark configuration leaks in
        for folder in (conf_dir, self.state_dir / "work", self.state_dir / "local", self.state_dir / "logs"):
            folder.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **self.env_overrides,
            "SPARK_HOME": str(home),
            "SPARK_CONF_DIR": str(conf_dir),
            "SPARK_LOG_DIR": str(self.state_dir / "logs"),
            "SPARK_LOCAL_DIRS": str(self.state_dir / "local"),
            "SPARK_LOCAL_IP": "127.0.0.1",  # every listener: RPC, block managers, web UIs
            "SPARK_LOCAL_HOSTNAME": "127.0.0.1",
            "SPARK_NO_DAEMONIZE": "1",
            "PYSPARK_PYTHON": sys.executable,
        }
        if not env.get("JAVA_HOME") and (java := shutil.which("java")):
            env["JAVA_HOME"] = str(Path(java).resolve().parent.parent)
        return env

    def connect_conf(self) -> dict[str, str]:
        """The Connect server's configuration: the cluster, Delta, loopback listeners, S3A for an s3 home."""
        from gglake.settings import _object_store_options

        jars = self.jars()
        # Same-machine paths on the class path (not --jars: each executor would copy the 558 MB AWS bundle).
        # Spark's own slf4j first: the AWS bundle carries an unshaded slf4j 1.7 that silences Spark's logging.
        slf4j = sorted((spark_home() / "jars").glob("slf4j-api-*.jar"))
        classpath = os.pathsep.join(str(p) for p in [*slf4j, *jars])
        storage = {**_object_store_options(), **{k: v for k, v in self.env_overrides.items() if k.startswith("AWS_")}}
        return {
            "spark.master": self.master_url,
            "spark.app.name": APP_NAME,
            "spark.driver.memory": self.driver_memory,
            "spark.executor.memory": self.executor_memory,
            "spark.executor.cores": "1",
            "spark.cores.max": str(self.workers),
            "spark.driver.extraClassPath": classpath,
            "spark.executor.extraClassPath": classpath,
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.ui.port": str(self.driver_ui_port),
            "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.connect.grpc.binding.port": str(self.connect_port),
            "spark.sql.warehouse.dir": str(self.state_dir / "warehouse"),
            "spark.local.dir": str(self.state_dir / "local"),
            **ENGINE_CONF,
            **s3a_conf(storage),
        }

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self, timeout: float = 180) -> None:
        """Start what is not running: master, workers (until the master lists them alive), Connect server."""
        env = self.environment()
        spark_class = str(spark_home() / "bin" / "spark-class")
        spawn(self.run_dir, "spark-master", [
            spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
            "--port", str(self.master_port), "--webui-port", str(self.master_ui_port),
        ], env, self.state_dir)  # fmt: skip
        for index in range(self.workers):
            self.start_worker(index, env)
        self.wait_for_workers(self.workers, timeout)
        properties = self.state_dir / "connect.conf"
        properties.write_text("".join(f"{k} {v}\n" for k, v in self.connect_conf().items()))
        properties.chmod(0o600)  # it holds the S3 keys of an s3 home
        spawn(self.run_dir, "spark-connect", [
            str(spark_home() / "bin" / "spark-submit"), "--class", CONNECT_CLASS,
            "--properties-file", str(properties), "spark-internal",
        ], env, self.state_dir)  # fmt: skip
        _wait_port(self.connect_port, timeout, self.log("spark-connect"))
        self.wait_for_executors(self.workers, timeout)

    def start_worker(self, index: int, env: dict[str, str] | None = None) -> int:
        """Start worker `index` (0-based) unless it runs; its executor is launched by the master."""
        work = self.state_dir / "work" / f"worker-{index + 1}"
        work.mkdir(parents=True, exist_ok=True)
        return spawn(self.run_dir, f"spark-worker-{index + 1}", [
            str(spark_home() / "bin" / "spark-class"), "org.apache.spark.deploy.worker.Worker",
            "--host", "127.0.0.1", "--cores", "1", "--memory", self.worker_memory,
            "--webui-port", str(self.worker_ui_port(index)), "--work-dir", str(work), self.master_url,
        ], env or self.environment(), self.state_dir)  # fmt: skip

    def kill_worker(self, index: int) -> None:
        """SIGKILL worker `index` and its executor (one process group), as a lost machine would look."""
        name = f"spark-worker-{index + 1}"
        pid = self.pid(name)
        if pid is None:
            raise RuntimeError(f"{name} is not running")
        os.killpg(pid, signal.SIGKILL)
        while _alive(pid):
            try:  # started by this process (the tests): reap it, or its zombie keeps the group "alive"
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.1)

    def stop(self) -> list[str]:
        """Stop the Connect server, then the workers (their executors die with them), then the master."""
        stopped = []
        for name in reversed(self._names()):
            if (pid := self.pid(name)) is not None:
                _stop_groups([pid], grace=20)
                stopped.append(name)
            (self.run_dir / f"{name}.pid").unlink(missing_ok=True)
        return stopped

    def status(self) -> dict[str, int | None]:
        return {name: self.pid(name) for name in self._names()}

    # -- what the cluster reports --------------------------------------------------------------------

    def _json(self, url: str):
        with urllib.request.urlopen(url, timeout=10) as reply:
            return json.load(reply)

    def master_state(self) -> dict:
        """The master's JSON status: workers (id, state, cores used) and applications."""
        return self._json(f"http://127.0.0.1:{self.master_ui_port}/json/")

    def wait_for_workers(self, count: int, timeout: float) -> None:
        wait_for_url(f"http://127.0.0.1:{self.master_ui_port}/json/",
                     lambda status, body: status == 200 and json.loads(body).get("aliveworkers", 0) >= count,
                     timeout, self.log("spark-master"))  # fmt: skip

    def application_id(self) -> str:
        (app,) = self._json(f"http://127.0.0.1:{self.driver_ui_port}/api/v1/applications")
        return app["id"]

    def executors(self) -> list[dict]:
        """The Connect application's executors (not the driver), alive or lost, with their task counts."""
        app = self.application_id()
        url = f"http://127.0.0.1:{self.driver_ui_port}/api/v1/applications/{app}/allexecutors"
        return [e for e in self._json(url) if e["id"] != "driver"]

    def wait_for_executors(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if sum(e["isActive"] for e in self.executors()) >= count:
                    return
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Spark Connect application has fewer than {count} executors after "
                                   f"{timeout:.0f} s; see {self.log('spark-connect')}")  # fmt: skip
            time.sleep(1)

    def tasks_per_worker(self) -> Counter:
        """Completed tasks per live worker id (joined on the executor ids each worker lists); an executor no live
        worker runs, such as one lost with a killed worker, counts as executor-<id>."""
        worker_of = {}
        # a restarted worker reuses its UI port, so a dead worker's entry would answer with the new one's executors
        for worker in (w for w in self.master_state()["workers"] if w["state"] == "ALIVE"):
            port = worker["webuiaddress"].rsplit(":", 1)[-1]
            try:
                detail = self._json(f"http://127.0.0.1:{port}/json/")
            except OSError:  # a lost worker no longer answers
                continue
            for executor in detail.get("executors", []):
                worker_of[str(executor["id"])] = worker["id"]
        return Counter({worker_of.get(e["id"], f"executor-{e['id']}"): e["completedTasks"] for e in self.executors()})
