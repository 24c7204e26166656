"""Free TCP ports on 127.0.0.1 for the servers the tests start."""

from __future__ import annotations

import socket
from collections.abc import Iterable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports (all bound at once while choosing, so none repeats)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port_run(count: int, taken: Iterable[int] = ()) -> int:
    """A free port followed by `count - 1` free ones: for a server that also takes the ports after its own
    (Airflow's log server on the next port, a Spark master's workers' UIs after the master's). `taken`: ports
    already handed out but not yet bound, which the run must not include."""
    taken = set(taken)
    while True:
        first = free_port()
        run = range(first, first + count)
        if taken.isdisjoint(run) and all(_free(port) for port in run[1:]):
            return first


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0
