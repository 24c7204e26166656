"""Write leases: runs that would write the same tables are serialised, on a local folder or object storage.

The lease table (audit.leases) holds one row per held resource (`feed:sensors`, `gold:risk`, …).
Every change — acquire, heartbeat, release — rewrites it as one Delta commit that must land at exactly
the version after the one it read (`delta.swap_rows`). Delta's commit protocol puts each version's log
entry with put-if-absent, so two runs that both saw a resource free cannot both commit: the loser
re-reads and finds the resource taken. A lease names its
run id and expires unless its holder's heartbeat renews it, so a killed run blocks nobody for longer
than the lease's time to live.

What a lease does not do: fence a holder that was paused past its expiry (a stalled process can still
write after its lease lapsed). Holders check `Lease.ensure_held()` before their commits, which narrows
that window to one step; the time to live is long against any pause seen in practice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gglake import delta
from gglake.catalog import table
from gglake.settings import Settings

log = logging.getLogger(__name__)

LEASES = table("audit.leases")


class LeaseHeld(RuntimeError):
    """Another run holds a resource this run needs; the message says who, since when and until when."""


class LeaseLost(RuntimeError):
    """This run's lease expired or was taken over; it must stop before writing anything more."""


def ttl() -> timedelta:
    return timedelta(seconds=float(os.environ.get("GGLAKE_LEASE_TTL_SECONDS", "180")))


@dataclass
class Lease:
    settings: Settings
    resources: tuple[str, ...]
    run_id: str
    command: str
    time_to_live: timedelta
    lost: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def ensure_held(self) -> None:
        if self.lost:
            raise LeaseLost(self.lost)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.time_to_live.total_seconds() / 3):
            try:
                _change(self.settings, self._renew)
            except LeaseLost as exc:
                self.lost = str(exc)
                log.error("lease lost: %s", exc)
                return
            except Exception as exc:  # storage hiccup: keep trying until the lease would lapse
                log.warning("lease heartbeat failed (%s); retrying", exc)

    def _renew(self, rows: list[dict], now: datetime) -> list[dict]:
        mine = [r for r in rows if r["run_id"] == self.run_id and r["resource"] in self.resources]
        if len(mine) != len(self.resources):
            raise LeaseLost(f"run {self.run_id} no longer holds {', '.join(self.resources)} (expired and taken over)")
        for r in mine:
            r["expires_at"] = now + self.time_to_live
        return rows

    def _release(self, rows: list[dict], now: datetime) -> list[dict]:
        return [r for r in rows if r["run_id"] != self.run_id]


def _live(rows: list[dict], now: datetime) -> list[dict]:
    return [r for r in rows if r["expires_at"] > now]


def _change(settings: Settings, update: Callable[[list[dict], datetime], list[dict] | None]) -> None:
    """Apply `update(live rows, now)` to the lease table as one compare-and-swap commit (see delta.swap_rows)."""

    def decide(rows: list[dict]) -> list[dict] | None:
        now = datetime.now(UTC)
        return update(_live(rows, now), now)

    delta.swap_rows(settings, LEASES, decide)


def _describe(row: dict) -> str:
    since = row["acquired_at"].astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    until = row["expires_at"].astimezone().strftime("%H:%M:%S")
    return (
        f"another {row['command']} holds the lock on {row['resource']} since {since}, run id {row['run_id']} "
        f"({row['holder']}; lease expires {until} unless renewed)"
    )


@contextmanager
def hold(
    settings: Settings,
    resources: Sequence[str],
    run_id: str,
    command: str,
    wait_seconds: float = 0.0,
    time_to_live: timedelta | None = None,
) -> Iterator[Lease]:
    """Hold every resource for the block, or raise LeaseHeld after waiting up to `wait_seconds`.

    All resources are taken in one commit, so two runs wanting overlapping sets cannot deadlock.
    """
    lease = Lease(settings, tuple(sorted(set(resources))), run_id, command, time_to_live or ttl())
    holder = f"{socket.gethostname()}:{os.getpid()}"
    deadline = time.monotonic() + wait_seconds
    blocking: list[dict] = []

    def acquire(rows: list[dict], now: datetime) -> list[dict] | None:
        blocking[:] = [r for r in rows if r["resource"] in lease.resources and r["run_id"] != run_id]
        if blocking:
            return None
        kept = [r for r in rows if r["resource"] not in lease.resources]
        return kept + [
            {
                "resource": resource,
                "run_id": run_id,
                "holder": holder,
                "command": command,
                "acquired_at": now,
                "expires_at": now + lease.time_to_live,
            }
            for resource in lease.resources
        ]

    while True:
        _change(settings, acquire)
        if not blocking:
            break
        if time.monotonic() >= deadline:
            raise LeaseHeld(_describe(blocking[0]))
        time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
    log.info("lease: %s holds %s", run_id, ", ".join(lease.resources))
    beat = threading.Thread(target=lease._heartbeat, name="lease-heartbeat", daemon=True)
    beat.start()
    try:
        yield lease
    finally:
        lease._stop.set()
        beat.join()
        _change(settings, lease._release)
        log.info("lease: %s released %s", run_id, ", ".join(lease.resources))
