"""Care sensors: hourly gzip JSON Lines per gateway shard, with planted transport defects.

A day's readings are drawn as (resident x slot) matrices from personal baselines, a daily
rhythm (sleep, meals, outings), a weekly rhythm, shared weather and any hidden episode, and
then formatted with one f-string per line: the hot loop, ~1M lines for 1000 residents a week.
"""

from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import numpy as np

from sources.defects import Defect, Insert, how_many, splice
from sources.files import gzip_bytes, join_lines, write_bytes
from sources.population import HEALTH_SENSOR, HOME_IOT, SHARDS, Cohort
from sources.seeding import KST_OFFSET_S, day_start_unix, rng_for
from sources.world import Day


@dataclass(frozen=True)
class Metric:
    name: str
    device: str
    unit: str
    decimals: int
    impossible: float  # a physically impossible value, planted as a device fault


METRICS = (
    Metric("heart_rate", "wearable", "bpm", 0, 400),
    Metric("steps", "wearable", "count", 0, -37),
    Metric("stress_index", "wearable", "score", 0, 180),
    Metric("blood_pressure", "bp_monitor", "mmHg", 0, 999),
    Metric("spo2", "pulse_oximeter", "%", 0, 127),
    Metric("body_temp", "thermometer", "°C", 1, 55),
    Metric("resp_rate", "bed_sensor", "breaths/min", 0, 95),
    Metric("motion_events", "motion_sensor", "count", 0, -4),
    Metric("door_events", "door_sensor", "count", 0, -2),
    Metric("power_kwh", "smart_plug", "kWh", 3, -1.5),
)
HR, STEPS, STRESS, BP, SPO2, TEMP, RESP, MOTION, DOOR, POWER = range(len(METRICS))
LINE_CLASSES = (
    "malformed_json", "schema_drift", "duplicate_event", "late_event", "too_late",
    "future_timestamp", "impossible_value", "bad_encoding",
)  # fmt: skip
DAY_S = 86400

# Hourly shapes for someone who rises at 06:00: activity (0..1), going out, appliance use
ACTIVITY = np.array([
    .03, .03, .03, .03, .03, .05, .5, .8, .6, .7, .8, .6,
    .8, .4, .5, .7, .6, .6, .8, .5, .4, .3, .1, .05,
])  # fmt: skip
OUTINGS = np.array([
    0, 0, 0, 0, 0, 0, .2, .5, .6, 1, 1, .7,
    .4, .5, .8, 1, .8, .6, .3, .2, .1, 0, 0, 0,
])  # fmt: skip
APPLIANCES = np.array([
    .05, .05, .05, .05, .05, .1, .5, 1, .4, .3, .3, .5,
    1, .4, .3, .3, .4, .7, 1, .9, .9, .7, .3, .1,
])  # fmt: skip
WEEKDAY_STEPS = np.array([1.0, 1.05, 1.0, 1.05, 1.0, 0.9, 0.8])  # Mon..Sun
WEEKDAY_OUTINGS = np.array([1.0, 1.0, 1.0, 1.0, 1.1, 0.9, 1.2])  # Sunday: church, family
HEATING = {11: 1.2, 12: 1.35, 1: 1.4, 2: 1.3, 3: 1.1}  # standing load by month


@dataclass(frozen=True)
class Readings:
    """A day's readings in file order (hour, shard, time), with their formatted lines."""

    resident: np.ndarray
    metric: np.ndarray
    unix: np.ndarray
    value: np.ndarray
    diastolic: np.ndarray
    lines: list[str]


@cache
def _clock() -> list[str]:
    return [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(DAY_S)]


@cache
def _date_text(unix_day: int) -> str:
    return date.fromordinal(unix_day + date(1970, 1, 1).toordinal()).isoformat()


def iso_kst(unix: np.ndarray) -> list[str]:
    """ISO-8601 local times with the +09:00 offset (table lookups, no datetime objects)."""
    local = unix + KST_OFFSET_S
    clock = _clock()
    days, seconds = (local // DAY_S).tolist(), (local % DAY_S).tolist()
    return [f"{_date_text(d)}T{clock[s]}+09:00" for d, s in zip(days, seconds, strict=True)]


def format_lines(
    cohort: Cohort,
    metric: int,
    resident: np.ndarray,
    unix: np.ndarray,
    value: np.ndarray,
    diastolic: np.ndarray,
    nonce: np.ndarray,
    extra: list[str] | None = None,
) -> list[str]:
    """JSON lines for readings of one metric; `extra` appends raw fields (schema drift)."""
    m = METRICS[metric]
    kinds = [m.device] * len(resident)
    if metric == BP:  # cuffless readings come from the wearable
        kinds = ["wearable" if cohort.cuffless[r] else m.device for r in resident.tolist()]
    values = [f"{v:.{m.decimals}f}" for v in value.tolist()]
    dia = [f',"diastolic":{d:.0f}' for d in diastolic.tolist()] if metric == BP else [""] * len(values)
    ids, dev, fw = cohort.ids, cohort.devices, cohort.firmware
    return [
        f'{{"event_id":"{dev[k][r]}-{t}-{c:04x}","device_id":"{dev[k][r]}","device_type":"{k}",'
        f'"resident_id":"{ids[r]}","metric":"{m.name}","value":{v}{d},"unit":"{m.unit}",'
        f'"measured_at":"{iso}","firmware":"{fw[k][r]}"{x}}}'
        for r, k, t, c, v, d, iso, x in zip(
            resident.tolist(),
            kinds,
            unix.tolist(),
            nonce.tolist(),
            values,
            dia,
            iso_kst(unix),
            extra or [""] * len(values),
            strict=True,
        )
    ]


class _Sampler:
    """Draws one day's readings, device by device.

    Every draw has a shape fixed by the cohort size and a fixed order, so the stream never
    depends on who happens to be enrolled, withdrawn or in an episode today.
    """

    def __init__(self, day: Day, cohort: Cohort, seed: int) -> None:
        self.c, self.risk, self.date = cohort, day.risk, day.date
        self.n = cohort.n
        self.rng = rng_for(seed, "sensors", day.date.toordinal())
        self.weather = rng_for(seed, "weather", day.date.toordinal()).normal(1.0, 0.08)
        hours = np.arange(24)
        self.act = ACTIVITY[(hours - cohort.wake_shift[:, None]) % 24]
        self.hour_start = hours * 3600
        self.silent = self.hour_start >= self.risk.silent_from[:, None]  # after a lonely death
        self.fallen = self.hour_start >= self.risk.fall_from[:, None]
        self.rows = np.arange(self.n)[:, None]
        self.health = day.enrolled(HEALTH_SENSOR)[:, None]
        self.home = day.enrolled(HOME_IOT)[:, None]
        self.parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def draw(self) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """(metric, resident, second of day, value, diastolic) per metric."""
        self.heart_rate()
        self.steps()
        self.stress()
        self.blood_pressure()
        self.spo2_and_temperature()
        self.respiration()
        self.home_iot()
        return self.parts

    def effect(self, signal: str, hours: np.ndarray | None = None) -> np.ndarray:
        e = self.risk.effect(signal)
        return e if hours is None else e[self.rows, hours]

    def damped(self, signal: str, by: float) -> np.ndarray:
        """The factor a signal leaves of normal activity: an episode and a bad day on the same hours add up
        (effect up to 1.8), and activity stops at none rather than going negative."""
        return np.clip(1 - by * self.effect(signal), 0.0, None)

    def emit(self, metric: int, sec: np.ndarray, value: np.ndarray, keep: np.ndarray, dia: np.ndarray | None = None) -> None:
        r, k = np.nonzero(keep)
        diastolic = dia[r, k] if dia is not None else np.zeros(len(r))
        self.parts.append((metric, r, sec[r, k], np.round(value[r, k], METRICS[metric].decimals), diastolic))

    def taken(self, hours: np.ndarray, declining_skip: float = 0.0) -> np.ndarray:
        """Wearable and spot readings: sometimes not worn, not measured or not sent, and spot
        checks are skipped more often as a resident declines; none after a lonely death."""
        skip = self.c.missing[:, None] + declining_skip * self.effect("steps_down", hours)
        return self.health & (self.rng.random(hours.shape) >= skip) & ~self.silent[self.rows, hours]

    def at_hours(self, hours: list[int], jitter_s: int) -> tuple[np.ndarray, np.ndarray]:
        h = np.broadcast_to(np.array(hours), (self.n, len(hours)))
        return h, h * 3600 + self.rng.integers(0, jitter_s, h.shape)

    def noise(self, sd: float, shape: tuple[int, int]) -> np.ndarray:
        return self.rng.normal(0, sd, shape) * self.c.noise[:, None]

    def heart_rate(self) -> None:
        """Every 30 minutes: up with activity and in episodes, down in sleep."""
        h = np.broadcast_to(np.repeat(np.arange(24), 2), (self.n, 48))
        sec = np.arange(48) * 1800 + self.rng.integers(0, 60, h.shape)
        act = self.act[self.rows, h]
        hr = self.c.hr_rest[:, None] + 16 * act - 4 * (act < 0.15) + 15 * self.effect("heart_rate_up", h)
        self.emit(HR, sec, hr + self.noise(2.5, h.shape), self.taken(h))

    def steps(self) -> None:
        """Hourly count, reported at the end of the hour; a fallen resident barely moves."""
        moving = self.act * self.damped("steps_down", 0.8) * np.where(self.fallen, 0.1, 1.0)
        scale = self.c.steps[:, None] / ACTIVITY.sum() * WEEKDAY_STEPS[self.date.weekday()] * self.weather
        steps = self.rng.poisson(scale * moving * self.rng.gamma(3.0, 1 / 3.0, (self.n, 24)))
        sec = self.hour_start + 3540 + self.rng.integers(0, 60, (self.n, 24))
        self.emit(STEPS, sec, steps, self.taken(np.broadcast_to(np.arange(24), (self.n, 24))))

    def stress(self) -> None:
        h, sec = self.at_hours([9, 14, 20], 3600)
        stress = self.c.stress[:, None] + 28 * self.effect("stress_up", h) + self.noise(7, h.shape)
        self.emit(STRESS, sec, np.clip(stress, 5, 100), self.taken(h))

    def blood_pressure(self) -> None:
        """After rising (with the morning surge) and in the evening; episodes push it up or down."""
        h = np.stack([7 + self.c.wake_shift, np.full(self.n, 20)], axis=1)
        sec = h * 3600 + self.rng.integers(0, 1800, h.shape)
        base = self.c.systolic[:, None]
        change = 22 * self.risk.bp_dir[:, None] * self.effect("blood_pressure_change", h)
        systolic = base + [5.0, 0.0] + change + self.noise(7, h.shape)
        dia = self.c.diastolic[:, None] + 0.45 * (systolic - base) + self.rng.normal(0, 4, h.shape)
        dia = np.round(np.minimum(dia, systolic - 25))
        self.emit(BP, sec, np.clip(systolic, 80, 230), self.taken(h, 0.5), dia)

    def spo2_and_temperature(self) -> None:
        h, sec = self.at_hours([8, 13, 21], 3600)
        spo2 = self.c.spo2[:, None] - 5 * self.effect("spo2_down", h) + self.rng.normal(0, 0.8, h.shape)
        self.emit(SPO2, sec, np.clip(spo2, 82, 100), self.taken(h, 0.5))
        h, sec = self.at_hours([8, 20], 3600)
        temp = self.c.temp[:, None] + [0.0, 0.15] + 1.1 * self.effect("body_temp_up", h)
        self.emit(TEMP, sec, temp + self.rng.normal(0, 0.15, h.shape), self.taken(h, 0.5))

    def respiration(self) -> None:
        """From the bed sensor, hourly 22:00-06:00, reported at the end of each hour."""
        h, sec = self.at_hours([0, 1, 2, 3, 4, 5, 22, 23], 1)
        sec = sec + 3540 + self.rng.integers(0, 60, h.shape)
        resp = self.c.resp[:, None] - 1 + 6 * self.effect("resp_rate_up", h)
        self.emit(RESP, sec, np.maximum(resp + self.rng.normal(0, 1.2, h.shape), 6), self.taken(h))

    def home_iot(self) -> None:
        """Hourly motion and door counts and energy; after a lonely death only the fridge runs."""
        shape = (self.n, 24)
        sec = self.hour_start + 3540 + self.rng.integers(0, 60, shape)
        sent = self.home & (self.rng.random(shape) >= self.c.missing[:, None] / 3)  # mains powered
        alive = ~self.silent
        motion = self.c.motion[:, None] * (self.act + 0.03) * self.damped("motion_down", 0.7)
        motion *= np.where(self.fallen, 0.3, 1.0) * self.rng.gamma(4.0, 0.25, shape)
        self.emit(MOTION, sec, self.rng.poisson(motion) * alive, sent)
        door = self.c.door[:, None] * OUTINGS * WEEKDAY_OUTINGS[self.date.weekday()]
        door *= self.damped("door_down", 0.85) * ~self.fallen
        self.emit(DOOR, sec, self.rng.poisson(door) * alive, sent)
        use = self.c.power_use[:, None] * APPLIANCES * (0.3 + 0.7 * self.act)
        use *= self.damped("power_down", 0.5)
        power = self.c.power_base[:, None] * HEATING.get(self.date.month, 1.0) + use * alive
        self.emit(POWER, sec, np.maximum(power * self.rng.lognormal(0, 0.1, shape), 0.005), sent)


def readings(day: Day, cohort: Cohort, seed: int) -> Readings:
    """All of one day's readings, formatted and sorted by (hour, shard, time)."""
    rng = rng_for(seed, "sensor-ids", day.date.toordinal())
    start = day_start_unix(day.date)
    lines: list[str] = []
    columns: list[list[np.ndarray]] = [[], [], [], [], []]
    for metric, r, sec, value, dia in _Sampler(day, cohort, seed).draw():
        unix = start + sec
        lines += format_lines(cohort, metric, r, unix, value, dia, rng.integers(0, 65536, len(r)))
        for column, part in zip(columns, (np.full(len(r), metric), r, unix, value, dia), strict=True):
            column.append(part)
    metric, resident, unix, value, dia = (np.concatenate(column) for column in columns)
    order = np.lexsort((metric, resident, unix, cohort.shard[resident], (unix - start) // 3600))
    return Readings(resident[order], metric[order], unix[order], value[order], dia[order], [lines[i] for i in order])


def write_day(out: Path, day: Day, cohort: Cohort, seed: int, rate: float) -> tuple[int, int, list[Defect]]:
    """Write one day's hourly files; returns (files, data lines in readable files, defects)."""
    rd = readings(day, cohort, seed)
    start = day_start_unix(day.date)
    file_key = (rd.unix - start) // 3600 * SHARDS + cohort.shard[rd.resident] - 1
    keys, first = np.unique(file_key, return_index=True)
    ends = [*first[1:].tolist(), len(rd.lines)]
    bounds = dict(zip(keys.tolist(), zip(first.tolist(), ends, strict=True), strict=True))
    rng = rng_for(seed, "sensor-defects", day.date.toordinal())
    inserts = _planted_lines(rng, rd, bounds, cohort, start, rate)
    defects: list[Defect] = []
    rows = 0
    for key, (lo, hi) in bounds.items():
        rel = _path(day.date, key)
        lines, planted = splice(rd.lines[lo:hi], inserts.get(key, []), "sensors", rel, first_line=1)
        write_bytes(out / rel, gzip_bytes(join_lines(lines)))
        defects += planted
        rows += len(lines)
    extra = _planted_files(rng, rd, bounds, day.date, rate)
    for rel, data, cls in extra:
        write_bytes(out / rel, data)
        defects.append(Defect(cls, "sensors", rel, None, None))
    return len(bounds) + len(extra), rows, defects


def _path(day: date, key: int, suffix: str = "") -> str:
    hour, shard = divmod(key, SHARDS)
    return f"sensors/date={day.isoformat()}/hour={hour:02d}/gw-{shard + 1:02d}{suffix}.jsonl.gz"


def _event_id(line: str) -> str:
    return line.split('"event_id":"', 1)[1].split('"', 1)[0]


def _planted_lines(
    rng: np.random.Generator,
    rd: Readings,
    bounds: dict[int, tuple[int, int]],
    cohort: Cohort,
    start: int,
    rate: float,
) -> dict[int, list[Insert]]:
    """Planted lines per file key: each class gets rate/8 of the day's lines (at least one).

    Planted readings are new events cloned from a random real reading of the day, so no real
    reading is lost; only duplicates repeat an existing event verbatim.
    """
    total = len(rd.lines)
    inserts: dict[int, list[Insert]] = {}
    if total == 0:
        return inserts
    key_of = np.repeat(list(bounds), [hi - lo for lo, hi in bounds.values()])

    def clone(i: int, unix: int, value: float | None = None, extra: str | None = None) -> str:
        """A new event like reading i, at another time and maybe with another value."""
        v = rd.value[i : i + 1] if value is None else np.array([value])
        return format_lines(
            cohort, int(rd.metric[i]), rd.resident[i : i + 1], np.array([unix]), v,
            rd.diastolic[i : i + 1], rng.integers(0, 65536, 1), [extra] if extra else None,
        )[0]  # fmt: skip

    def place(key: int, line: str | bytes, cls: str, event_id: str, after: int = 0) -> None:
        lo, hi = bounds[key]
        at = int(rng.integers(after, hi - lo + 1))
        inserts.setdefault(key, []).append(Insert(at, line, cls, event_id))

    for cls in LINE_CLASSES:
        for _ in range(how_many(rng, total, rate / len(LINE_CLASSES), forced=True)):
            i = int(rng.integers(total))
            key = int(key_of[i])
            hour_start = start + key // SHARDS * 3600
            in_hour = hour_start + int(rng.integers(0, 3600))
            metric = METRICS[int(rd.metric[i])]
            if cls == "duplicate_event":  # re-sent in the same hour's file or the next one
                if key + SHARDS in bounds and rng.random() < 0.5:
                    place(key + SHARDS, rd.lines[i], cls, _event_id(rd.lines[i]))
                else:
                    after = i - bounds[key][0] + 1
                    place(key, rd.lines[i], cls, _event_id(rd.lines[i]), after)
                continue
            if cls == "late_event":  # buffered on the gateway for 1-5 days
                line = clone(i, hour_start - int(rng.integers(DAY_S, 5 * DAY_S)))
            elif cls == "too_late":
                line = clone(i, hour_start - int(rng.integers(40 * DAY_S, 60 * DAY_S)))
            elif cls == "future_timestamp":  # a device clock set wrong
                line = clone(i, hour_start + int(rng.integers(2 * DAY_S, 30 * DAY_S)))
            elif cls == "schema_drift":  # a firmware update adds fields, one of them PII
                if rng.random() < 0.5:
                    extra = f',"patient_name":"{cohort.names[rd.resident[i]]}"'
                else:
                    extra = f',"battery_pct":{rng.integers(5, 100)}'
                line = clone(i, in_hour, extra=extra)
            elif cls == "impossible_value":
                value = metric.impossible
                if metric.name == "heart_rate" and rng.random() < 0.5:
                    value = 0.0
                elif metric.name == "blood_pressure" and rng.random() < 0.5:
                    value = float(rd.diastolic[i]) - 10  # systolic below diastolic
                line = clone(i, in_hour, value=value)
            else:
                line = clone(i, in_hour)
            if cls == "malformed_json":  # cut off mid-object
                place(key, line[: int(rng.integers(10, len(line) - 1))], cls, _event_id(line))
            elif cls == "bad_encoding":  # bytes that are not UTF-8 inside a string value
                bad = line.encode().replace(b'"firmware":"', b'"firmware":"\xff\xfe', 1)
                place(key, bad, cls, _event_id(line))
            else:
                place(key, line, cls, _event_id(line))
    return inserts


def _planted_files(
    rng: np.random.Generator, rd: Readings, bounds: dict[int, tuple[int, int]], day: date, rate: float
) -> list[tuple[str, bytes, str]]:
    """Extra (path, bytes, class) files next to real ones: a gateway's cut-off second part
    (a copy of real lines, so nothing real is lost) and an empty re-send."""
    keys = list(bounds)
    files: list[tuple[str, bytes, str]] = []
    if not keys:
        return files
    for cls, suffix in (("truncated_gzip", "-part2"), ("empty_file", "-retry")):
        count = min(how_many(rng, len(keys), rate, forced=True), len(keys))
        for key in sorted(rng.choice(keys, count, replace=False).tolist()):
            data = b""
            if cls == "truncated_gzip":
                lo, hi = bounds[key]
                whole = gzip_bytes(join_lines(rd.lines[lo:hi]))
                data = whole[: max(12, int(len(whole) * rng.uniform(0.4, 0.8)))]
            files.append((_path(day, key, suffix), data, cls))
    return files
