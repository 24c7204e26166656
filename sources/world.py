"""The simulated world seen one day at a time: who is enrolled, how they are, who gets called.

Sources read a `Day` and never draw from a stream shared with other days; the only state
carried across days (registry replay, call retries) is itself recomputed from keyed draws.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property

import numpy as np

from sources.episodes import CALLS_STOP_AT, SIGNAL, DayRisk, RiskModel
from sources.population import AI_CALL, Cohort, build_cohort
from sources.registry import Registry, RegistryState
from sources.seeding import rng_for

UNANSWERED = ("no_answer", "busy", "failed")
UNANSWERED_P = (0.8, 0.12, 0.08)
MAX_ATTEMPTS = 3  # the weekly call, then daily retries; after the third miss a worker visits


@dataclass(frozen=True)
class Day:
    date: date
    registry: RegistryState
    risk: DayRisk

    @cached_property
    def present(self) -> np.ndarray:
        """Enrolled, not withdrawn, and alive: the residents who produce data today."""
        return self.registry.active & ~self.risk.dead

    def enrolled(self, programme: int) -> np.ndarray:
        return self.present & (self.registry.programmes & programme > 0)


@dataclass(frozen=True)
class CallAttempts:
    """One day's AI calls for every resident (meaningful where `placed`)."""

    placed: np.ndarray
    attempt: np.ndarray  # 1 = the weekly call, 2-3 = retries
    second: np.ndarray  # scheduled second of the day
    answered: np.ndarray
    missed_as: np.ndarray  # index into UNANSWERED


class World:
    LOOKBACK = MAX_ATTEMPTS  # days before a run that call chains and visits look at

    def __init__(self, seed: int, residents: int, first_day: date) -> None:
        self.seed = seed
        self.cohort: Cohort = build_cohort(seed, residents)
        self.risk = RiskModel(seed, self.cohort)
        self.registry = Registry(seed, self.cohort, self.risk)
        self._days: dict[date, Day] = {}
        self._attempts: dict[date, CallAttempts] = {}
        for back in range(self.LOOKBACK, 0, -1):
            self.day(first_day - timedelta(days=back))

    def day(self, d: date) -> Day:
        """Ask for days in increasing order (earlier ones are cached); the registry replays forward."""
        if d not in self._days:
            self._days[d] = Day(d, self.registry.on(d), self.risk.day(d))
        return self._days[d]

    def attempts(self, d: date) -> CallAttempts:
        if d not in self._attempts:
            self._attempts[d] = self._plan_attempts(d, MAX_ATTEMPTS - 1)
        return self._attempts[d]

    def _plan_attempts(self, d: date, retries: int) -> CallAttempts:
        """Weekly call on the resident's weekday; a retry the next day after each miss, up to 3.

        Residents stop answering as an episode with `calls_unanswered` progresses, and cannot
        answer after a lonely death; otherwise they answer with their usual probability, lowered
        by any distress. Only retries up to number `retries` are planned, which bounds the look-back
        (partial plans are therefore never cached).
        """
        c, day = self.cohort, self.day(d)
        rng = rng_for(self.seed, "call-attempts", d.toordinal())
        since_weekly = (d.weekday() - c.call_weekday) % 7
        second = np.clip(c.call_minute + rng.integers(-20, 21, c.n), 0, 1439) * 60
        second += rng.integers(0, 60, c.n)
        draw, missed_as = rng.random(c.n), rng.choice(3, c.n, p=UNANSWERED_P)
        placed = since_weekly == 0
        if retries:
            prev = self._plan_attempts(d - timedelta(days=1), retries - 1)
            retry = (since_weekly >= 1) & (since_weekly <= retries)
            placed |= retry & prev.placed & ~prev.answered
        placed &= day.enrolled(AI_CALL)
        hour = second // 3600
        rows = np.arange(c.n)
        risk = day.risk
        quiet = risk.signals[:, SIGNAL["calls_unanswered"]] & risk.in_episode & ~risk.weak
        stopped = quiet & (risk.progress[rows, hour] >= CALLS_STOP_AT)
        stopped |= second >= risk.silent_from
        distress = risk.effect("calls_unanswered")[rows, hour]
        p = np.where(stopped, 0.0, c.answer_p * (1 - 0.7 * distress))
        return CallAttempts(placed, since_weekly + 1, second, placed & (draw < p), missed_as)
