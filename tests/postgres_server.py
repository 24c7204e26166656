"""A private PostgreSQL server for tests: Debian's server binaries, a fresh data folder, 127.0.0.1 only,
stopped with pg_ctl on exit. As root, initdb and the server run as the `postgres` user (they refuse root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ports import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql (make test does)")
    return found[-1]


def _as_server_user(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


@contextmanager
def postgres_server(database: str = "serving"):
    """Yields a connection URL for `database` on a new server (its own temporary folder, removed
    afterwards: pytest's temporary folders are private to root, which the server user cannot enter)."""
    folder = Path(tempfile.mkdtemp(prefix="gglake-pg-"))
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        folder.chmod(0o755)
        shutil.chown(folder, "postgres", "postgres")
        shutil.chown(sockets, "postgres", "postgres")
    port = free_port()
    run = lambda args: subprocess.run(_as_server_user(args), check=True, capture_output=True, text=True)  # noqa: E731
    run([_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"])
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    run([_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "server.log"), "-w", "start"])
    try:
        run([_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", database])
        yield f"postgresql://postgres@127.0.0.1:{port}/{database}"
    finally:
        run([_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(folder, ignore_errors=True)
