"""Home-visit outcomes (the labels for risk models) and the hidden ground truth behind them.

A day's visits: the outcome visit of every episode that ends today; a check after three
unanswered calls in a row; an alert visit after some harmless bad days; and routine weekday
visits (about one per resident in 60 days). Only episode visits carry bad outcomes. Some notes
also carry PII or PII look-alikes (see `sources/pii.py`), logged in `_generator/pii/visits/`.
"""

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from gglake.districts import DISTRICTS
from sources import pii
from sources.defects import Defect, Insert, how_many, splice
from sources.episodes import LONELY_DEATH, OUTCOMES, SIGNALS
from sources.files import csv_line, join_lines, write_bytes
from sources.population import AI_CALL, HEALTH_SENSOR, HOME_IOT
from sources.seeding import rng_for
from sources.world import MAX_ATTEMPTS, World

COLUMNS = ("visit_id", "resident_id", "visited_at", "worker_id", "reason", "outcome", "notes")
ROUTINE_P = 1 / 60 * 7 / 5  # per resident per weekday
NOTES = {
    "no_issue": (
        "건강 상태 양호, 특이사항 없음",
        "식사와 복약 잘 하고 계심",
        "외출 중이셨다가 귀가 확인, 이상 없음",
        "전화기 무음 설정 확인 후 해제해 드림",
        "말벗 및 생활 안내, 특이사항 없음",
    ),
    "deterioration": (
        "기력 저하 및 식사량 감소, 보건소 연계",
        "거동이 눈에 띄게 불편해지심, 방문간호 의뢰",
        "호흡이 가쁘고 안색이 좋지 않음, 병원 진료 권유",
    ),
    "fall": (
        "거실에서 넘어져 계신 것을 발견, 119 이송",
        "화장실 앞 낙상, 골반 통증 호소하여 병원 동행",
    ),
    "hospitalised": (
        "고열과 탈수 증상으로 병원 입원",
        "흉통 호소하여 응급실 이송 후 입원",
    ),
    "lonely_death": ("자택에서 숨진 채 발견, 경찰 및 유가족 연락",),
}
# Signals a resident can show only through the programme that carries them
SIGNAL_PROGRAMME = {
    "calls_unanswered": AI_CALL, "sentiment_down": AI_CALL, "distress_keywords": AI_CALL,
    "motion_down": HOME_IOT, "door_down": HOME_IOT, "power_down": HOME_IOT,
}  # fmt: skip


def _visit_row(rng: np.random.Generator, world: World, day: date, r: int, reason: str, outcome: str) -> list[str]:
    district = DISTRICTS[world.day(day).registry.district[r]]
    second = int(rng.integers(9 * 3600, 18 * 3600))
    notes = NOTES[outcome]
    return [
        "",  # visit_id, numbered once the day's visits are in time order
        world.cohort.ids[r],
        f"{day.isoformat()} {second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}",
        f"W{district.code}-{int(world.cohort.worker[r]):02d}",
        reason,
        outcome,
        notes[rng.integers(len(notes))],
    ]


def write_day(out: Path, world: World, day: date, rate: float) -> tuple[int, int, list[Defect], list[str]]:
    """Write `visits/date=D/visits.csv` and the day's planted-PII log; returns (files, data rows,
    defects, truth JSON lines)."""
    today = world.day(day)
    risk, present = today.risk, today.present
    yesterday = world.attempts(day - timedelta(days=1))
    chain = yesterday.placed & ~yesterday.answered & (yesterday.attempt == MAX_ATTEMPTS)
    rng = rng_for(world.seed, "visits", day.toordinal())
    routine_draw = rng.random(world.cohort.n) < (ROUTINE_P if day.weekday() < 5 else 0.0)
    weak_found_by_chance = rng.random(world.cohort.n) < 0.4

    visits: list[tuple[int, list[str]]] = []  # (resident, row)
    episodes = np.flatnonzero(present & risk.ends_today)
    for r in episodes:
        if chain[r]:
            reason = "unanswered_calls"
        elif risk.weak[r] and weak_found_by_chance[r]:
            reason = "routine"
        else:
            reason = "alert"
        visits.append((r, _visit_row(rng, world, day, r, reason, OUTCOMES[risk.outcome[r]])))
    calm = present & ~risk.in_episode
    for r in np.flatnonzero(calm & chain):
        visits.append((r, _visit_row(rng, world, day, r, "unanswered_calls", "no_issue")))
    for r in np.flatnonzero(calm & ~chain & risk.fa_visit_today):
        visits.append((r, _visit_row(rng, world, day, r, "alert", "no_issue")))
    for r in np.flatnonzero(calm & ~chain & ~risk.fa_visit_today & routine_draw):
        visits.append((r, _visit_row(rng, world, day, r, "routine", "no_issue")))

    visits.sort(key=lambda v: (v[1][2], v[1][1]))
    stamp = day.strftime("%Y%m%d")
    for seq, (_, row) in enumerate(visits, 1):
        row[0] = f"V{stamp}-{seq:04d}"
    marks = _plant_pii(world, day, visits)
    ended = set(episodes.tolist())
    truth = [_truth(world, day, r, row) for r, row in visits if r in ended]

    rel = f"visits/date={day.isoformat()}/visits.csv"
    rows = [row for _, row in visits]
    inserts = _defects(rng, world, day, rows, rate, start_seq=len(rows) + 1)
    lines, defects = splice([csv_line(r) for r in rows], inserts, "visits", rel, first_line=2)
    write_bytes(out / rel, join_lines([",".join(COLUMNS), *lines]))
    at_line = pii.final_lines(len(rows), [i.at for i in inserts], 2)
    pii.write(
        out,
        "visits",
        day.isoformat(),
        [pii.record("visits", rel, line, row[0], "notes", row[1], m) for row, line, ms in zip(rows, at_line, marks) for m in ms],
    )
    return 1, len(lines), defects, truth


def _plant_pii(world: World, day: date, visits: list[tuple[int, list[str]]]) -> list[list[pii.Planted]]:
    """Add PII and look-alike phrases to some visits' notes (own stream: the rest is unchanged)."""
    rng = rng_for(world.seed, "visit-pii", day.toordinal())
    marks = []
    for r, row in visits:
        added = pii.extras(rng, pii.person_of(world, day, r), "visits")
        row[6], planted = pii.join([row[6]], added, at=1, sep=", ")
        marks.append(planted)
    return marks


def _truth(world: World, day: date, r: int, row: list[str]) -> str:
    risk = world.day(day).risk
    programmes = int(world.day(day).registry.programmes[r])
    signals = [s for i, s in enumerate(SIGNALS) if risk.signals[r, i] and programmes & SIGNAL_PROGRAMME.get(s, HEALTH_SENSOR)]
    if risk.outcome[r] == LONELY_DEATH:
        signals.append("sensors_silent")
    return json.dumps(
        {
            "resident_id": row[1],
            "onset_date": date.fromordinal(int(risk.onset[r])).isoformat(),
            "outcome_date": day.isoformat(),
            "outcome": row[5],
            "signals": signals,
            "strength": "weak" if risk.weak[r] else "strong",
            "visit_id": row[0],
            "reason": row[4],
        },
        ensure_ascii=False,
    )


def _defects(
    rng: np.random.Generator, world: World, day: date, rows: list[list[str]], rate: float, start_seq: int
) -> list[Insert]:
    """Extra routine-looking rows that break the contract (at least one of each class a day)."""
    inserts = []
    seq = start_seq
    for cls in ("malformed_row", "invalid_code", "missing_key"):
        for _ in range(how_many(rng, max(len(rows), 1), rate / 3, forced=True)):
            r = int(rng.integers(world.cohort.n))
            row = _visit_row(rng, world, day, r, "routine", "no_issue")
            row[0] = f"V{day.strftime('%Y%m%d')}-{seq:04d}"
            seq += 1
            if cls == "malformed_row":
                row = row[:-1]
            elif cls == "invalid_code":
                row[5] = "maybe"
            else:
                row[0] = ""
            key = row[0] or None
            inserts.append(Insert(int(rng.integers(len(rows) + 1)), csv_line(row), cls, key))
    return inserts
