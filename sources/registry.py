"""Resident enrolment registry: daily life events replayed from the epoch, and full snapshots.

The registry on day D is the cohort at enrolment plus every event on days EPOCH..D (moves,
withdrawals, consent and programme changes, and deaths), each drawn per (seed, day). Replaying
is cheap (one small draw a day), and it keeps the state on a date independent of the run.
"""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from gglake.districts import DISTRICTS
from sources.defects import Defect, Insert, how_many, splice
from sources.episodes import RiskModel
from sources.files import csv_line, join_lines, write_bytes
from sources.population import (
    AI_CALL,
    DISTRICT_WEIGHTS,
    HEALTH_SENSOR,
    HOME_IOT,
    PROGRAMMES,
    Cohort,
    make_address,
    make_phone,
)
from sources.seeding import EPOCH, rng_for

COLUMNS = (
    "resident_id", "name", "phone", "address", "birth_date", "sex", "district", "living_alone",
    "programmes", "consent", "enrolled_on", "status",
)  # fmt: skip
# Per resident-day rates: move, withdraw, toggle consent, join or leave a programme
EVENT_RATES = np.array([1 / 2500, 1 / 6000, 1 / 5000, 1 / 2000])
DEATH_RECORDED_AFTER = 2  # days between a lonely-death visit and the registry's withdrawal


@dataclass(frozen=True)
class RegistryState:
    district: np.ndarray
    address: tuple[str, ...]
    phone: tuple[str, ...]
    programmes: np.ndarray
    consent: np.ndarray
    active: np.ndarray
    last_change: int | None  # ordinal of the latest day an event changed anything


class Registry:
    """Replays registry events forward, one day at a time, keeping the states asked for."""

    def __init__(self, seed: int, cohort: Cohort, risk: RiskModel) -> None:
        self.seed, self.cohort, self.risk = seed, cohort, risk
        self._initial = RegistryState(
            district=cohort.district.copy(),
            address=tuple(cohort.address),
            phone=tuple(cohort.phone),
            programmes=cohort.programmes.copy(),
            consent=cohort.consent.copy(),
            active=np.ones(cohort.n, dtype=bool),
            last_change=None,
        )
        self._state = self._initial
        self._at = EPOCH.toordinal() - 1  # the day `_state` describes (no events before EPOCH)
        self._kept: dict[int, RegistryState] = {}

    def on(self, day: date) -> RegistryState:
        """State at the end of `day`; days must be asked for in increasing order (or again)."""
        d = day.toordinal()
        if d < EPOCH.toordinal():
            return self._initial
        if d in self._kept:
            return self._kept[d]
        if d < self._at:
            raise ValueError(f"registry already replayed past {day}")
        while self._at < d:
            self._at += 1
            self._state = self._apply_events(self._at, self._state)
        self._kept[d] = self._state
        return self._state

    def _apply_events(self, d: int, s: RegistryState) -> RegistryState:
        rng = rng_for(self.seed, "registry", d)
        n = self.cohort.n
        u = rng.random(n)
        kind = np.searchsorted(np.cumsum(EVENT_RATES), u, side="right")
        died = self.risk.death_visits(date.fromordinal(d)) == d - DEATH_RECORDED_AFTER
        movers = np.flatnonzero(s.active & ((kind < len(EVENT_RATES)) | died))
        if movers.size == 0:
            return s
        district, programmes = s.district.copy(), s.programmes.copy()
        consent, active = s.consent.copy(), s.active.copy()
        address, phone = list(s.address), list(s.phone)
        for i in movers:
            if died[i] or kind[i] == 1:
                active[i] = False
            elif kind[i] == 0:
                if rng.random() < 0.3:
                    district[i] = rng.choice(len(DISTRICTS), p=DISTRICT_WEIGHTS)
                address[i] = make_address(rng, DISTRICTS[district[i]].name_ko)
                if rng.random() < 0.2:
                    phone[i] = make_phone(rng)
            elif kind[i] == 2:
                consent[i] = not consent[i]
            else:
                toggled = programmes[i] ^ (AI_CALL, HEALTH_SENSOR, HOME_IOT)[rng.integers(3)]
                programmes[i] = toggled or AI_CALL
        return RegistryState(district, tuple(address), tuple(phone), programmes, consent, active, last_change=d)


def snapshot_due(state: RegistryState, day: date, first_day: date, out: Path) -> bool:
    """Write on every day with a change, and on a run's first day unless the folder's latest
    earlier snapshot already shows today's state (so split runs match one long run)."""
    changed_since = state.last_change if state.last_change is not None else -1
    if day != first_day:
        return changed_since == day.toordinal()
    earlier = [
        date.fromisoformat(p.name.removeprefix("date="))
        for p in (out / "registry").glob("date=*")
        if (p / "residents.csv").exists() and p.name < f"date={day.isoformat()}"
    ]
    return not earlier or changed_since > max(earlier).toordinal()


def _rows(cohort: Cohort, s: RegistryState) -> list[list[str]]:
    return [
        [
            cohort.ids[i],
            cohort.names[i],
            s.phone[i],
            s.address[i],
            cohort.birth_dates[i],
            "F" if cohort.female[i] else "M",
            DISTRICTS[s.district[i]].name_ko,
            "true" if cohort.living_alone[i] else "false",
            "|".join(p for b, p in enumerate(PROGRAMMES) if s.programmes[i] >> b & 1),
            "true" if s.consent[i] else "false",
            cohort.enrolled_on[i],
            "active" if s.active[i] else "withdrawn",
        ]
        for i in range(cohort.n)
    ]


def write_snapshot(
    out: Path, day: date, cohort: Cohort, state: RegistryState, seed: int, rate: float
) -> tuple[int, list[Defect]]:
    """Write `registry/date=D/residents.csv`; returns (data lines written, planted defects).

    Planted rows are copies of real residents' rows: one whose address holds an unquoted comma
    (an extra field), and one whose district is outside Gyeonggi.
    """
    rel = f"registry/date={day.isoformat()}/residents.csv"
    rows = _rows(cohort, state)
    rng = rng_for(seed, "registry-defects", day.toordinal())
    inserts = []
    for _ in range(how_many(rng, len(rows), rate / 2)):
        row = list(rows[rng.integers(len(rows))])
        head, tail = row[3].rsplit(" ", 1)
        row[3] = f"{head}, {tail}"
        inserts.append(Insert(int(rng.integers(len(rows) + 1)), ",".join(row), "malformed_row", row[0]))
    for _ in range(how_many(rng, len(rows), rate / 2)):
        row = list(rows[rng.integers(len(rows))])
        row[6] = "서울시"
        inserts.append(Insert(int(rng.integers(len(rows) + 1)), csv_line(row), "invalid_code", row[0]))
    lines, defects = splice([csv_line(r) for r in rows], inserts, "registry", rel, first_line=2)
    write_bytes(out / rel, join_lines([",".join(COLUMNS), *lines]))
    return len(lines), defects
