"""The enrolled resident cohort and each resident's personal baselines.

Depends only on (seed, number of residents): every day of every run sees the same people.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from gglake.districts import DISTRICTS
from sources.lexicon import GIVEN_F, GIVEN_M, STREETS, SURNAMES
from sources.seeding import EPOCH, rng_for

PROGRAMMES = ("ai_call", "health_sensor", "lonely_death_prevention", "developmental_disability")
AI_CALL, HEALTH_SENSOR, HOME_IOT, DEV_DISABILITY = 1, 2, 4, 8  # bits, in PROGRAMMES order
DEVICE_PREFIX = {
    "wearable": "WB",
    "bp_monitor": "BP",
    "pulse_oximeter": "OX",
    "thermometer": "TH",
    "bed_sensor": "BD",
    "motion_sensor": "MS",
    "door_sensor": "DS",
    "smart_plug": "SP",
}
FIRMWARE = ("1.8.2", "2.0.1", "2.1.0", "2.3.4", "3.0.0")
SHARDS = 4
# Districts weighted by how many elderly people live alone there: that is who enrols.
DISTRICT_WEIGHTS = np.array([d.elderly_living_alone for d in DISTRICTS], dtype=float)
DISTRICT_WEIGHTS /= DISTRICT_WEIGHTS.sum()


@dataclass(frozen=True)
class Cohort:
    """Column-wise residents: index i is resident `ids[i]` in every array."""

    n: int
    ids: list[str]
    names: list[str]
    female: np.ndarray
    birth_dates: list[str]
    district: np.ndarray  # index into DISTRICTS at enrolment
    address: list[str]
    phone: list[str]
    living_alone: np.ndarray
    programmes: np.ndarray  # bit set of PROGRAMMES at enrolment
    consent: np.ndarray
    enrolled_on: list[str]
    shard: np.ndarray  # gateway shard 1..4
    worker: np.ndarray  # care worker number within the district
    # AI calls
    dasom: np.ndarray  # vendor: dasom (CP949) when true, else hyodol
    call_weekday: np.ndarray
    call_minute: np.ndarray  # minutes after midnight of the weekly call
    answer_p: np.ndarray
    mood: np.ndarray  # baseline call sentiment
    # vital-sign baselines
    hr_rest: np.ndarray
    systolic: np.ndarray
    diastolic: np.ndarray
    spo2: np.ndarray
    temp: np.ndarray
    resp: np.ndarray
    stress: np.ndarray
    # activity baselines
    wake_shift: np.ndarray  # hours earlier (-) or later (+) than a 06:00 riser
    steps: np.ndarray  # typical steps a day
    motion: np.ndarray  # motion events in a fully active hour
    door: np.ndarray  # door events in a typical outing hour
    power_base: np.ndarray  # kWh/h standing load (fridge, standby)
    power_use: np.ndarray  # kWh/h extra when fully active
    noise: np.ndarray  # measurement noise multiplier
    missing: np.ndarray  # chance a reading is not taken or not sent
    cuffless: np.ndarray  # blood pressure from the wearable instead of a cuff
    devices: dict[str, list[str]]
    firmware: dict[str, list[str]]


def make_address(rng: np.random.Generator, district: str) -> str:
    """A street address; apartments in cities, mostly houses in rural counties."""
    wards, roads = STREETS[district]
    parts = ["경기도", district]
    if wards:
        parts.append(wards[rng.integers(len(wards))])
    parts.append(f"{roads[rng.integers(len(roads))]} {rng.integers(1, 400)}")
    if district.endswith("시") or rng.random() < 0.3:
        parts.append(f"{rng.integers(101, 120)}동 {rng.integers(1, 25)}{rng.integers(1, 5):02d}호")
    return " ".join(parts)


def make_phone(rng: np.random.Generator) -> str:
    return f"010-{rng.integers(2000, 10000)}-{rng.integers(0, 10000):04d}"


def build_cohort(seed: int, n: int) -> Cohort:
    """Draw `n` residents aged 65-99 (mostly 70s-80s), ~65% women, ~85% living alone."""
    rng = rng_for(seed, "cohort", n)
    female = rng.random(n) < 0.65
    age_days = ((65 + 34 * rng.beta(2.2, 3.2, n) + 1.5 * female) * 365.25).astype(int)
    district = rng.choice(len(DISTRICTS), size=n, p=DISTRICT_WEIGHTS)
    living_alone = rng.random(n) < 0.85
    surnames = [s for s, _ in SURNAMES]
    shares = np.array([p for _, p in SURNAMES])
    surname_idx = rng.choice(len(surnames), size=n, p=shares / shares.sum())
    given_idx = rng.integers(0, len(GIVEN_F), n)
    names = [surnames[s] + (GIVEN_F if f else GIVEN_M)[g] for s, f, g in zip(surname_idx, female, given_idx, strict=True)]
    programmes = (
        AI_CALL * (rng.random(n) < 0.9)
        + HEALTH_SENSOR * (rng.random(n) < 0.85)
        + HOME_IOT * (rng.random(n) < np.where(living_alone, 0.9, 0.4))
        + DEV_DISABILITY * (rng.random(n) < 0.01)
    )
    programmes[programmes == 0] = AI_CALL
    turned_65 = EPOCH.toordinal() - age_days + int(65 * 365.25)
    enrolled = np.maximum(rng.integers(EPOCH.toordinal() - 2500, EPOCH.toordinal(), n), turned_65)
    hypertensive = rng.random(n) < 0.45
    systolic = np.where(hypertensive, rng.normal(146, 8, n), rng.normal(121, 6, n))
    sedentary = rng.random(n) < 0.12
    return Cohort(
        n=n,
        ids=[f"R{i + 1:07d}" for i in range(n)],
        names=names,
        female=female,
        birth_dates=[(EPOCH - timedelta(days=int(a))).isoformat() for a in age_days],
        district=district,
        address=[make_address(rng, DISTRICTS[d].name_ko) for d in district],
        phone=[make_phone(rng) for _ in range(n)],
        living_alone=living_alone,
        programmes=programmes,
        consent=rng.random(n) < 0.97,
        enrolled_on=[date.fromordinal(int(o)).isoformat() for o in enrolled],
        shard=np.arange(n) % SHARDS + 1,
        worker=rng.integers(1, 13, n),
        dasom=rng.random(n) < 0.4,
        call_weekday=rng.integers(0, 5, n),
        call_minute=np.clip(rng.normal(600, 45, n), 480, 720).astype(int),
        answer_p=rng.beta(17, 3, n),
        mood=np.clip(rng.normal(0.25, 0.2, n), -0.4, 0.8),
        hr_rest=np.clip(rng.normal(71, 6, n), 60, 85),
        systolic=np.clip(systolic, 110, 160),
        diastolic=np.clip(0.55 * systolic + rng.normal(8, 5, n), 62, 98),
        spo2=np.clip(rng.normal(96.8, 1.0, n), 94, 99),
        temp=rng.normal(36.5, 0.15, n),
        resp=np.clip(rng.normal(15.5, 1.5, n), 12, 19),
        stress=np.clip(rng.normal(45, 10, n), 20, 75),
        wake_shift=rng.choice([-1, 0, 0, 1], n),
        steps=rng.lognormal(np.log(3200), 0.5, n) * np.where(sedentary, 0.2, 1.0),
        motion=rng.lognormal(np.log(7), 0.35, n),
        door=rng.lognormal(np.log(1.2), 0.4, n) * np.where(rng.random(n) < 0.15, 0.2, 1.0),
        power_base=rng.uniform(0.03, 0.08, n),
        power_use=rng.lognormal(np.log(0.25), 0.3, n),
        noise=rng.lognormal(0, 0.2, n),
        missing=rng.beta(1, 30, n),
        cuffless=rng.random(n) < 0.3,
        devices={
            kind: [f"{prefix}-{s:08d}" for s in rng.choice(90_000_000, n, replace=False) + 10**7]
            for kind, prefix in DEVICE_PREFIX.items()
        },
        firmware={kind: [FIRMWARE[i] for i in rng.integers(0, 5, n)] for kind in DEVICE_PREFIX},
    )
