"""Hidden ground truth: risk episodes that end in a bad home-visit outcome, and harmless bad days.

An episode starts on an onset day drawn per (seed, day) with a small hazard, declines for 4-10
days and ends with an outcome visit. Because every draw is keyed by its onset day, whether a
resident is in an episode on day D is a pure function of D: we look back over the onset days
that could still be running. Harmless "bad days" (false alarms) are drawn the same way.
"""

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np

from sources.population import Cohort
from sources.seeding import EPOCH, rng_for

OUTCOMES = ("deterioration", "fall", "hospitalised", "lonely_death")
DETERIORATION, FALL, HOSPITALISED, LONELY_DEATH = range(4)
OUTCOME_P = (0.42, 0.25, 0.29, 0.04)
SIGNALS = (
    "heart_rate_up",
    "blood_pressure_change",
    "spo2_down",
    "body_temp_up",
    "resp_rate_up",
    "stress_up",
    "steps_down",
    "motion_down",
    "door_down",
    "power_down",
    "calls_unanswered",
    "sentiment_down",
    "distress_keywords",
)
SIGNAL = {name: i for i, name in enumerate(SIGNALS)}
HAZARD = 0.0015  # onsets per resident-day: ~4.5% of residents start an episode in 30 days
FALSE_ALARM_HAZARD = 0.004
MIN_LEN, MAX_LEN = 4, 10
REFRACTORY = 24  # an onset is void if another one was drawn in the 24 days before it
CALLS_STOP_AT = 0.3  # share of an episode after which a "calls_unanswered" resident stops answering
NEVER = 10**7  # an ordinal after any date


@dataclass(frozen=True)
class Onsets:
    """Everything drawn on one onset day, for every resident (only some of it is used)."""

    raw: np.ndarray
    length: np.ndarray
    outcome: np.ndarray
    weak: np.ndarray  # signals are faint: a bad outcome that is hard to see coming
    strength: np.ndarray
    bp_dir: np.ndarray
    signals: np.ndarray  # (n, len(SIGNALS)) bool
    event_hour: np.ndarray  # hour of the fall, or of death on the day before the visit
    fa_raw: np.ndarray
    fa_length: np.ndarray
    fa_strength: np.ndarray
    fa_signals: np.ndarray
    fa_visit: np.ndarray  # the monitoring centre sends a worker on the bad day's last day


@dataclass(frozen=True)
class DayRisk:
    """One day's hidden state per resident; severities are 0 where nothing is going on."""

    day: date
    in_episode: np.ndarray
    onset: np.ndarray  # ordinal; valid where in_episode
    end: np.ndarray  # ordinal of the outcome visit
    outcome: np.ndarray
    weak: np.ndarray
    bp_dir: np.ndarray
    signals: np.ndarray
    severity: np.ndarray  # (n, 24) episode severity by hour, 0..1
    progress: np.ndarray  # (n, 24) share of the episode elapsed, 0..1
    fa_severity: np.ndarray  # (n, 24)
    fa_signals: np.ndarray
    fa_visit_today: np.ndarray
    silent_from: np.ndarray  # second of day from which the home is silent (lonely death)
    fall_from: np.ndarray  # second of day from which a fallen resident barely moves
    dead: np.ndarray  # died before today: no data of any kind

    def effect(self, signal: str) -> np.ndarray:
        """(n, 24) strength of one signal: episode severity where the episode shows it, plus bad days."""
        i = SIGNAL[signal]
        return self.severity * self.signals[:, i, None] + self.fa_severity * self.fa_signals[:, i, None]

    @property
    def ends_today(self) -> np.ndarray:
        return self.in_episode & (self.end == self.day.toordinal())


class RiskModel:
    """Draws onsets lazily and answers, per day, who is in an episode and who has died."""

    def __init__(self, seed: int, cohort: Cohort) -> None:
        self.seed = seed
        self.cohort = cohort
        self._raw: dict[int, np.ndarray] = {}
        self._death = np.full(cohort.n, NEVER)
        self._deaths_scanned = EPOCH.toordinal() - 1
        self.onsets = lru_cache(maxsize=64)(self._draw)

    def _draw(self, ordinal: int) -> Onsets:
        n = self.cohort.n
        rng = rng_for(self.seed, "episodes", ordinal)
        outcome = rng.choice(len(OUTCOMES), n, p=OUTCOME_P)
        # Only people living alone die unnoticed; deaths are replayed from the epoch on, so an
        # earlier one could not stop the resident's data: before the epoch nobody dies.
        alone = self.cohort.living_alone & (ordinal >= EPOCH.toordinal())
        outcome[(outcome == LONELY_DEATH) & ~alone] = HOSPITALISED
        weak = rng.random(n) < 0.2
        signals = rng.random((n, len(SIGNALS))) < np.where(weak, 0.4, 0.75)[:, None]
        signals[outcome == LONELY_DEATH, SIGNAL["calls_unanswered"]] = True
        return Onsets(
            raw=rng.random(n) < HAZARD,
            length=rng.integers(MIN_LEN, MAX_LEN + 1, n),
            outcome=outcome,
            weak=weak,
            strength=np.where(weak, rng.uniform(0.2, 0.4, n), rng.uniform(0.7, 1.0, n)),
            bp_dir=np.where(rng.random(n) < 0.75, 1.0, -1.0),
            signals=signals,
            event_hour=rng.integers(0, 24, n),
            fa_raw=rng.random(n) < FALSE_ALARM_HAZARD,
            fa_length=rng.integers(1, 3, n),
            fa_strength=rng.uniform(0.4, 0.8, n),
            fa_signals=rng.random((n, len(SIGNALS))) < 0.3,
            fa_visit=rng.random(n) < 0.25,
        )

    def _raw_onset(self, ordinal: int) -> np.ndarray:
        if ordinal not in self._raw:
            self._raw[ordinal] = self.onsets(ordinal).raw
        return self._raw[ordinal]

    def _valid(self, ordinal: int) -> np.ndarray:
        """Raw onsets not preceded by another raw onset within the refractory window."""
        blocked = np.zeros(self.cohort.n, dtype=bool)
        for k in range(1, REFRACTORY + 1):
            blocked |= self._raw_onset(ordinal - k)
        return self._raw_onset(ordinal) & ~blocked

    def _end(self, ordinal: int, on: Onsets) -> np.ndarray:
        """Outcome-visit ordinal: the natural end, or earlier when unanswered calls send a worker.

        With `calls_unanswered` the resident stops answering after CALLS_STOP_AT of the episode;
        the weekly call then fails three days running and a worker visits the day after.
        """
        stop = np.ceil(CALLS_STOP_AT * on.length).astype(int)
        weekday = (date.fromordinal(ordinal).weekday() + stop) % 7
        first_call = stop + (self.cohort.call_weekday - weekday) % 7
        chain = on.signals[:, SIGNAL["calls_unanswered"]] & ~on.weak & (first_call + 3 <= on.length)
        return ordinal + np.where(chain, first_call + 3, on.length)

    def death_visits(self, day: date) -> np.ndarray:
        """Ordinal of each resident's lonely-death visit, for onsets before `day` (else NEVER)."""
        while self._deaths_scanned < day.toordinal() - 1:
            self._deaths_scanned += 1
            o = self._deaths_scanned
            on = self.onsets(o)
            died = self._valid(o) & (on.outcome == LONELY_DEATH)
            self._death = np.where(died, np.minimum(self._death, self._end(o, on)), self._death)
        return self._death

    def dead_before(self, day: date) -> np.ndarray:
        return self.death_visits(day) < day.toordinal()

    def day(self, day: date) -> DayRisk:
        n, d = self.cohort.n, day.toordinal()
        hours = (np.arange(24) + 0.5) / 24
        in_ep = np.zeros(n, dtype=bool)
        onset = np.zeros(n, dtype=int)
        end = np.zeros(n, dtype=int)
        length = np.ones(n, dtype=int)
        outcome = np.zeros(n, dtype=int)
        strength = np.zeros(n)
        weak = np.zeros(n, dtype=bool)
        bp_dir = np.ones(n)
        event_hour = np.zeros(n, dtype=int)
        signals = np.zeros((n, len(SIGNALS)), dtype=bool)
        fa_sev = np.zeros((n, 24))
        fa_signals = np.zeros((n, len(SIGNALS)), dtype=bool)
        fa_visit = np.zeros(n, dtype=bool)
        for k in range(MAX_LEN + 1):
            o = d - k
            on = self.onsets(o)
            ends = self._end(o, on)
            hit = self._valid(o) & (ends >= d)
            in_ep |= hit
            onset[hit], end[hit], length[hit] = o, ends[hit], on.length[hit]
            outcome[hit], weak[hit], bp_dir[hit] = on.outcome[hit], on.weak[hit], on.bp_dir[hit]
            strength[hit] = on.strength[hit]
            event_hour[hit], signals[hit] = on.event_hour[hit], on.signals[hit]
            bad = on.fa_raw & (on.fa_length > k)
            t = (k + hours[None, :]) / on.fa_length[bad, None]
            fa_sev[bad] = np.maximum(fa_sev[bad], on.fa_strength[bad, None] * np.sin(np.pi * t))
            fa_signals[bad] = on.fa_signals[bad]
            fa_visit |= bad & on.fa_visit & (on.fa_length == k + 1)
        progress = np.clip((d - onset)[:, None] + hours[None, :], 0, None) / length[:, None]
        progress = np.where(in_ep[:, None], np.clip(progress, 0, 1), 0.0)
        severity = strength[:, None] * progress**1.5
        death = in_ep & (outcome == LONELY_DEATH)
        silent_from = np.full(n, 86400)
        silent_from[death & (end == d + 1)] = event_hour[death & (end == d + 1)] * 3600
        silent_from[death & (end == d)] = 0
        fell = in_ep & (outcome == FALL) & (end == d)
        fall_from = np.where(fell, event_hour % 10 * 3600, 86400)
        return DayRisk(
            day=day,
            in_episode=in_ep,
            onset=onset,
            end=end,
            outcome=outcome,
            weak=weak,
            bp_dir=bp_dir,
            signals=signals,
            severity=severity,
            progress=progress,
            fa_severity=fa_sev,
            fa_signals=fa_signals,
            fa_visit_today=fa_visit,
            silent_from=silent_from,
            fall_from=fall_from,
            dead=self.dead_before(day),
        )
