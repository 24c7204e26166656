"""AI care calls: one CSV per vendor per day (hyodol in UTF-8, dasom in CP949).

Who is called and who answers comes from `World.attempts`; this module writes what the call
platform logs: times, outcome, a Korean transcript assembled from templates that darken with
the resident's hidden state, a sentiment score, spotted keywords and the escalation step. Some
transcripts also carry PII or PII look-alikes (see `sources/pii.py`), logged in
`_generator/pii/calls/`.
"""

from datetime import date, timedelta
from pathlib import Path

import numpy as np

from sources import pii
from sources.defects import Defect, Insert, how_many, splice
from sources.files import csv_line, join_lines, write_bytes
from sources.seeding import rng_for
from sources.world import UNANSWERED, World

COLUMNS = (
    "call_id", "resident_id", "vendor", "scheduled_at", "started_at", "ended_at", "outcome",
    "duration_sec", "transcript", "sentiment", "keywords", "escalation",
)  # fmt: skip
VENDORS = (("hyodol", "utf-8", "HYD"), ("dasom", "cp949", "DSM"))

# (text, sentiment contribution, keyword or "")
Segment = tuple[str, float, str]
GREETINGS = (
    "[AI] 안녕하세요 어르신, 경기도 AI 돌봄 안부 전화입니다. 오늘 하루 어떻게 지내세요?",
    "[AI] 어르신, 안녕하세요. 일주일 동안 별일 없으셨어요?",
    "[AI] 안녕하세요, 돌봄 전화 드렸어요. 요즘 건강은 좀 어떠세요?",
    "[AI] 어르신 반갑습니다. 오늘 날씨가 쌀쌀한데 잘 지내고 계세요?",
)
HEALTH_OK: tuple[Segment, ...] = (
    ("[어르신] 네, 요즘 건강하게 잘 지내고 있어요.", 0.5, ""),
    ("[어르신] 무릎이 좀 쑤시긴 한데 그럭저럭 괜찮아요.", 0.1, ""),
    ("[어르신] 아침마다 공원 한 바퀴 걷고 있어요.", 0.6, ""),
    ("[어르신] 혈압약 잘 챙겨 먹고 있어요.", 0.3, "약"),
    ("[어르신] 어제 보건소 가서 검사 받았는데 괜찮대요.", 0.4, "병원"),
)
HEALTH_BAD: tuple[Segment, ...] = (
    ("[어르신] 요즘 허리 통증이 심해서 잘 못 움직여요.", -0.5, "통증"),
    ("[어르신] 가슴이 답답하고 숨이 좀 차요.", -0.6, "통증"),
    ("[어르신] 자꾸 어지러워서 누워만 있어요.", -0.6, "어지러움"),
    ("[어르신] 밤에 잠을 통 못 자요.", -0.4, "불면"),
    ("[어르신] 열이 나고 기운이 하나도 없어요.", -0.6, "통증"),
)
MEALS_OK: tuple[Segment, ...] = (
    ("[AI] 식사는 잘 하고 계세요? [어르신] 네, 세 끼 꼬박꼬박 먹어요.", 0.4, ""),
    ("[AI] 식사는 하셨어요? [어르신] 복지관에서 점심 먹고 왔어요.", 0.5, ""),
)
MEALS_BAD: tuple[Segment, ...] = (
    ("[AI] 식사는 잘 하고 계세요? [어르신] 입맛이 없어서 하루에 한 끼만 먹어요.", -0.4, "식사"),
    ("[AI] 식사는 하셨어요? [어르신] 아니요, 밥 차릴 기운이 없어요.", -0.5, "식사"),
)
SOCIAL_OK: tuple[Segment, ...] = (
    ("[어르신] 딸이 주말에 다녀갔어요.", 0.6, ""),
    ("[어르신] 경로당에서 친구들이랑 화투 쳤어요.", 0.5, ""),
    ("[어르신] 옆집 할머니랑 시장 다녀왔어요.", 0.4, ""),
)
SOCIAL_BAD: tuple[Segment, ...] = (
    ("[어르신] 찾아오는 사람이 없어서 외로워요.", -0.6, "외로움"),
    ("[어르신] 혼자 있으니까 적적하고 우울해요.", -0.6, "외로움"),
    ("[어르신] 요즘은 아무도 안 만나요.", -0.4, "외로움"),
)
EMERGENCY: tuple[Segment, ...] = (
    ("[어르신] 넘어졌어요, 혼자 일어나기가 힘들어요.", -0.9, "넘어졌어요"),
    ("[어르신] 도와주세요, 몸이 너무 안 좋아요.", -0.9, "도와주세요"),
)
CLOSINGS = (
    "[AI] 네, 알겠습니다. 다음 주에 또 전화드릴게요. 건강하세요.",
    "[AI] 말씀 감사합니다. 불편하시면 언제든 센터로 연락 주세요.",
    "[AI] 오늘도 좋은 하루 보내세요. 또 연락드릴게요.",
)


def _pick(rng: np.random.Generator, options: tuple[Segment, ...]) -> Segment:
    return options[rng.integers(len(options))]


def _conversation(rng: np.random.Generator, mood: float, distress: float, low: float) -> tuple[list[str], float, list[str], str]:
    """Transcript sentences, sentiment, keywords and escalation for one answered call.

    `distress` (pain, falls) and `low` (mood, loneliness) are the resident's hidden signal
    strengths at the time of the call, 0..1.
    """
    segments = [_pick(rng, HEALTH_BAD if rng.random() < 0.08 + 0.8 * distress else HEALTH_OK)]
    segments.append(_pick(rng, MEALS_BAD if rng.random() < 0.05 + 0.6 * max(distress, low) else MEALS_OK))
    segments.append(_pick(rng, SOCIAL_BAD if rng.random() < 0.1 + 0.7 * low else SOCIAL_OK))
    if rng.random() < 0.7 * distress**2:
        segments.append(_pick(rng, EMERGENCY))
    parts = [GREETINGS[rng.integers(len(GREETINGS))], *(s[0] for s in segments), CLOSINGS[rng.integers(len(CLOSINGS))]]
    keywords = list(dict.fromkeys(s[2] for s in segments if s[2]))
    tone = float(np.mean([s[1] for s in segments]))
    sentiment = float(np.clip(mood + 0.6 * tone - 0.5 * low + rng.normal(0, 0.1), -1, 1))
    if "넘어졌어요" in keywords or "도와주세요" in keywords:
        escalation = "119" if distress > 0.7 else "monitoring_centre"
    elif "통증" in keywords and sentiment < -0.3:
        escalation = "monitoring_centre"
    elif "외로움" in keywords and rng.random() < 0.2:
        escalation = "public_official"
    else:
        escalation = "none"
    return parts, round(sentiment, 2), keywords, escalation


def _clock(day: date, second: int) -> str:
    return f"{day.isoformat()} {second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"


def _rows(world: World, day: date) -> list[tuple[bool, list[str], list[pii.Planted]]]:
    """(is_dasom, row, planted PII in its transcript) for every call placed today, in scheduled order."""
    c, today = world.cohort, world.day(day)
    calls = world.attempts(day)
    rng = rng_for(world.seed, "call-content", day.toordinal())
    pii_rng = rng_for(world.seed, "call-pii", day.toordinal())  # its own stream: the rest of a call is unchanged
    distress_all = today.risk.effect("distress_keywords")
    low_all = today.risk.effect("sentiment_down")
    rows = []
    for r in np.flatnonzero(calls.placed)[np.argsort(calls.second[calls.placed], kind="stable")]:
        vendor, _, prefix = VENDORS[int(c.dasom[r])]
        second = int(calls.second[r])
        call_id = f"{prefix}-{day.strftime('%Y%m%d')}-{rng.integers(0, 2**32):08x}"
        row = [call_id, c.ids[r], vendor, _clock(day, second)]
        planted: list[pii.Planted] = []
        if calls.answered[r]:
            hour = second // 3600
            parts, sentiment, keywords, escalation = _conversation(
                rng, float(c.mood[r]), float(distress_all[r, hour]), float(low_all[r, hour])
            )
            added = pii.extras(pii_rng, pii.person_of(world, day, r), "calls")
            text, planted = pii.join(parts, added, at=len(parts) - 1)  # before the closing words
            started = second + int(rng.integers(5, 40))
            duration = 30 + 9 * len(text) // 10 + int(rng.integers(0, 90))
            ended = started + duration
            end_day = day + timedelta(days=ended // 86400)
            started_at, ended_at = _clock(day, started), _clock(end_day, ended % 86400)
            row += [started_at, ended_at, "answered", str(duration), text, f"{sentiment:.2f}", "|".join(keywords)]
            row.append(escalation)
        else:
            escalation = ("none", "monitoring_centre", "home_visit")[int(calls.attempt[r]) - 1]
            row += ["", "", UNANSWERED[int(calls.missed_as[r])], "0", "", "", "", escalation]
        rows.append((bool(c.dasom[r]), row, planted))
    return rows


def write_day(out: Path, world: World, day: date, rate: float) -> tuple[int, int, list[Defect]]:
    """Write `calls/date=D/<vendor>.csv` for both vendors, and the day's planted-PII log;
    returns (files, data rows, defects)."""
    rows = _rows(world, day)
    rng = rng_for(world.seed, "call-defects", day.toordinal())
    phones = world.day(day).registry.phone
    files = data_rows = 0
    defects: list[Defect] = []
    pii_log: list[str] = []
    for dasom, (vendor, encoding, prefix) in enumerate(VENDORS):
        rel = f"calls/date={day.isoformat()}/{vendor}.csv"
        mine = [row for is_dasom, row, _ in rows if is_dasom == bool(dasom)]
        marks = [m for is_dasom, _, m in rows if is_dasom == bool(dasom)]
        drift = rng.random() < rate  # this export carries an unknown column
        inserts = [] if drift else _row_defects(rng, mine, rate, encoding, prefix, day)
        lines, planted = splice([csv_line(r) for r in mine], inserts, "calls", rel, 2)
        at_line = pii.final_lines(len(mine), [i.at for i in inserts], 2)
        for row, line, row_marks in zip(mine, at_line, marks, strict=True):
            pii_log += [pii.record("calls", rel, line, row[0], "transcript", row[1], m) for m in row_marks]
        header = ",".join(COLUMNS)
        if drift:
            header += ",caller_phone"
            number = {world.cohort.ids[i]: phones[i] for i in range(world.cohort.n)}
            lines = [f"{line},{number[row[1]]}" for line, row in zip(lines, mine, strict=True)]
            planted = [Defect("schema_drift", "calls", rel, i + 2, row[0]) for i, row in enumerate(mine)]
        write_bytes(out / rel, join_lines([header, *lines], encoding))
        files, data_rows, defects = files + 1, data_rows + len(lines), defects + planted
        if rng.random() < rate:  # a re-sent export that arrived empty
            empty = f"calls/date={day.isoformat()}/{vendor}-resend.csv"
            write_bytes(out / empty, b"")
            files += 1
            defects.append(Defect("empty_file", "calls", empty, None, None))
    pii.write(out, "calls", day.isoformat(), pii_log)
    return files, data_rows, defects


def _row_defects(
    rng: np.random.Generator, rows: list[list[str]], rate: float, encoding: str, prefix: str, day: date
) -> list[Insert]:
    """Planted rows: copies of real calls under a fresh call_id, except exact duplicates."""
    if not rows:
        return []
    inserts = []

    def fresh(i: int) -> list[str]:
        return [f"{prefix}-{day.strftime('%Y%m%d')}-{rng.integers(0, 2**32):08x}", *rows[i][1:]]

    for cls in ("malformed_row", "invalid_code", "duplicate_event", "bad_encoding"):
        for _ in range(how_many(rng, len(rows), rate / 4)):
            i = int(rng.integers(len(rows)))
            at = int(rng.integers(len(rows) + 1))
            row = fresh(i)
            line: str | bytes
            if cls == "malformed_row":
                line = csv_line(row[:-2])
            elif cls == "invalid_code":
                row[6] = "unknown"
                line = csv_line(row)
            elif cls == "duplicate_event":
                row, at = rows[i], int(rng.integers(i + 1, len(rows) + 1))
                line = csv_line(row)
            else:
                text = row[8] or "[어르신] 네, 잘 지내요."
                if encoding == "utf-8":  # a CP949 transcript inside a UTF-8 export ("@,@" forces quotes)
                    line = csv_line([*row[:8], "@,@", *row[9:]]).encode()
                    line = line.replace(b"@,@", text.encode("cp949"))
                else:  # bytes that are not CP949 at all
                    line = csv_line([*row[:8], text + "@@", *row[9:]]).encode("cp949")
                    line = line.replace(b"@@", b"\xff\xff")
            inserts.append(Insert(at, line, cls, row[0]))
    return inserts
