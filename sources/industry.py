"""Industrial belt: quarterly snapshots of companies in Gyeonggi's techno valleys and clusters.

The company population is replayed quarter by quarter from a fixed first quarter (growth,
moves between complexes, investment rounds, closures and new entrants), so a quarter's file
depends only on the seed, the scale and the quarter.
"""

from dataclasses import dataclass, fields, replace
from datetime import date
from pathlib import Path
from typing import Self

import numpy as np

from sources.defects import Defect, Insert, how_many, splice
from sources.files import csv_line, join_lines, write_bytes
from sources.seeding import rng_for

SECTORS = ("ai_software", "semiconductor", "mobility", "bio_health", "ict")
# (complex, district, share of companies, sector mix in SECTORS order)
COMPLEXES = (
    ("판교테크노밸리", "성남시", 0.30, (0.40, 0.05, 0.10, 0.15, 0.30)),
    ("제2판교테크노밸리", "성남시", 0.10, (0.45, 0.05, 0.15, 0.10, 0.25)),
    ("광교테크노밸리", "수원시", 0.10, (0.20, 0.10, 0.00, 0.40, 0.30)),
    ("북수원테크노밸리", "수원시", 0.04, (0.35, 0.00, 0.25, 0.00, 0.40)),
    ("일산테크노밸리", "고양시", 0.05, (0.35, 0.00, 0.00, 0.30, 0.35)),
    ("광명시흥테크노밸리", "광명시", 0.06, (0.30, 0.00, 0.40, 0.00, 0.30)),
    ("양주테크노밸리", "양주시", 0.03, (0.20, 0.10, 0.30, 0.10, 0.30)),
    ("구리남양주테크노밸리", "구리시", 0.03, (0.30, 0.00, 0.10, 0.20, 0.40)),
    ("용인 반도체 클러스터", "용인시", 0.10, (0.05, 0.85, 0.00, 0.00, 0.10)),
    ("평택 고덕 반도체 클러스터", "평택시", 0.07, (0.00, 0.80, 0.10, 0.00, 0.10)),
    ("이천 반도체 클러스터", "이천시", 0.05, (0.05, 0.85, 0.00, 0.00, 0.10)),
    ("화성 반도체 클러스터", "화성시", 0.07, (0.00, 0.60, 0.30, 0.00, 0.10)),
)
MIX = np.array([mix for *_, mix in COMPLEXES])
SHARE = np.array([share for _, _, share, _ in COMPLEXES])
SUPPORT = ("경기스타트업플랫폼", "판교 창업존 입주", "경기도 AI 스타트업 육성사업", "TIPS", "경기 반도체 소부장 지원")
NAME_HEADS = (
    "딥", "뉴로", "퀀텀", "에이아이", "스마트", "하이", "넥스트", "큐브", "브레인", "코어", "알파",
    "오픈", "그린", "메타", "시냅스", "로보", "비전", "한빛", "누리", "온새",
)  # fmt: skip
NAME_TAILS = (
    ("랩스", "AI", "소프트", "인텔리전스"),
    ("반도체", "세미콘", "칩스", "머티리얼즈"),
    ("모빌리티", "오토", "드라이브", "모터스"),
    ("바이오", "헬스케어", "메디", "제약"),
    ("테크", "네트웍스", "시스템즈", "솔루션"),
)
COLUMNS = (
    "company_id", "company_name", "biz_reg_no", "complex", "district", "sector", "employees",
    "revenue_krw_mn", "investment_krw_mn", "founded_year", "is_startup", "startup_support",
    "status", "snapshot_quarter",
)  # fmt: skip
FIRST_QUARTER = 2020 * 4  # 2020Q1: the replay starts here; earlier quarters are not written
CLOSE_P, MOVE_P = 0.015, 0.02
STARTUP_YEARS = 7  # a Korean venture counts as a start-up for seven years


def quarter_index(day: date) -> int:
    return day.year * 4 + (day.month - 1) // 3


def quarter_label(q: int) -> str:
    return f"{q // 4}Q{q % 4 + 1}"


@dataclass
class Companies:
    """Column-wise companies of one quarter (mutated while replaying)."""

    number: np.ndarray
    name: list[str]
    biz_reg: list[str]
    complex: np.ndarray
    sector: np.ndarray
    employees: np.ndarray
    revenue_per_head: np.ndarray  # million won a year
    investment: np.ndarray  # million won raised so far
    founded: np.ndarray
    support: np.ndarray  # index into SUPPORT, -1 for none
    closing: np.ndarray  # closes this quarter: listed once as closed, then gone

    def keep(self, mask: np.ndarray) -> Self:
        rows = np.flatnonzero(mask)
        return replace(self, **{f.name: _take(getattr(self, f.name), rows) for f in fields(self)})

    def extend(self, other: Self) -> Self:
        return replace(self, **{f.name: _join(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)})


def _take(column: list[str] | np.ndarray, rows: np.ndarray) -> list[str] | np.ndarray:
    return [column[i] for i in rows] if isinstance(column, list) else column[rows]


def _join(a: list[str] | np.ndarray, b: list[str] | np.ndarray) -> list[str] | np.ndarray:
    return a + b if isinstance(a, list) and isinstance(b, list) else np.concatenate([a, b])


def _found(rng: np.random.Generator, count: int, first_number: int, founded: np.ndarray) -> Companies:
    complex_ = rng.choice(len(COMPLEXES), count, p=SHARE)
    sector = np.array([rng.choice(len(SECTORS), p=MIX[c]) for c in complex_], dtype=int)
    heads = rng.integers(0, len(NAME_HEADS), count)
    tails = rng.integers(0, 4, count)
    incorporated = rng.random(count) < 0.5
    semis = sector == SECTORS.index("semiconductor")
    return Companies(
        number=np.arange(first_number, first_number + count),
        name=[
            ("(주)" if inc else "") + NAME_HEADS[h] + NAME_TAILS[s][t]
            for h, s, t, inc in zip(heads, sector, tails, incorporated, strict=True)
        ],
        biz_reg=[
            f"{a}-{b:02d}-{c:05d}"
            for a, b, c in zip(
                rng.integers(101, 900, count),
                rng.integers(81, 89, count),
                rng.integers(0, 100000, count),
                strict=True,
            )
        ],
        complex=complex_,
        sector=sector,
        employees=rng.lognormal(np.log(np.where(semis, 60, 18)), 1.1),
        revenue_per_head=rng.lognormal(np.log(np.where(semis, 450, 220)), 0.4),
        investment=np.where(rng.random(count) < 0.4, rng.lognormal(np.log(1500), 1.0, count), 0.0),
        founded=founded,
        support=np.where(rng.random(count) < 0.45, rng.integers(0, len(SUPPORT), count), -1),
        closing=np.zeros(count, dtype=bool),
    )


def _step(seed: int, q: int, c: Companies, target: int) -> Companies:
    """One quarter: the closed leave, some close, move, grow or shrink, raise money; some arrive."""
    rng = rng_for(seed, "industry", q)
    c = c.keep(~c.closing)
    n = len(c.number)
    moving = rng.random(n) < MOVE_P
    new_complex = rng.choice(len(COMPLEXES), n, p=SHARE)
    fits = MIX[new_complex, c.sector] > 0
    c.complex = np.where(moving & fits, new_complex, c.complex)
    c.employees = np.maximum(c.employees * rng.lognormal(0.012, 0.07, n), 1.0)
    c.revenue_per_head = c.revenue_per_head * rng.lognormal(0.005, 0.05, n)
    young = (q // 4 - c.founded) < STARTUP_YEARS
    raised = rng.random(n) < np.where(young, 0.05, 0.01)
    c.investment = c.investment + raised * rng.lognormal(np.log(2000), 1.0, n)
    c.closing = rng.random(n) < CLOSE_P
    arrivals = int(rng.poisson(0.018 * target + 0.1 * max(0, target - n)))
    newcomers = _found(rng, arrivals, int(c.number.max(initial=0)) + 1, np.full(arrivals, q // 4))
    newcomers.employees = np.maximum(newcomers.employees / 4, 1.0)
    return c.extend(newcomers)


def snapshots(seed: int, target: int, quarters: list[int]) -> dict[int, Companies]:
    """Companies in each requested quarter (quarters before FIRST_QUARTER are skipped)."""
    rng = rng_for(seed, "industry", FIRST_QUARTER - 1)
    state = _found(rng, target, 1, FIRST_QUARTER // 4 - rng.geometric(0.12, target) + 1)
    wanted = sorted(q for q in quarters if q >= FIRST_QUARTER)
    kept = {}
    for q in range(FIRST_QUARTER, max(wanted, default=FIRST_QUARTER - 1) + 1):
        state = _step(seed, q, state, target)
        if q in wanted:
            kept[q] = state
    return kept


def _rows(c: Companies, q: int) -> list[list[str]]:
    label, year = quarter_label(q), q // 4
    return [
        [
            f"C{int(c.number[i]):06d}",
            c.name[i],
            c.biz_reg[i],
            COMPLEXES[c.complex[i]][0],
            COMPLEXES[c.complex[i]][1],
            SECTORS[c.sector[i]],
            str(round(c.employees[i])),
            str(round(c.employees[i] * c.revenue_per_head[i])),
            str(round(c.investment[i])),
            str(c.founded[i]),
            "true" if year - c.founded[i] < STARTUP_YEARS else "false",
            SUPPORT[c.support[i]] if c.support[i] >= 0 and year - c.founded[i] < STARTUP_YEARS else "",
            "closed" if c.closing[i] else "active",
            label,
        ]
        for i in np.argsort(c.number)
    ]


def write_quarters(out: Path, seed: int, target: int, last_day: date, rate: float) -> dict[int, tuple[int, list[Defect]]]:
    """Write the four quarterly snapshots up to `last_day`'s quarter: {quarter: (rows, defects)}."""
    last = quarter_index(last_day)
    result = {}
    for q, companies in snapshots(seed, target, [last - 3, last - 2, last - 1, last]).items():
        rel = f"industry/quarter={quarter_label(q)}/companies.csv"
        rows = _rows(companies, q)
        rng = rng_for(seed, "industry-defects", q)
        inserts = []
        for _ in range(how_many(rng, len(rows), rate / 2)):  # an unquoted comma in the name
            row = list(rows[rng.integers(len(rows))])
            row[1] = f"{row[1]}, {COMPLEXES[0][0]} 지점"
            inserts.append(Insert(int(rng.integers(len(rows) + 1)), ",".join(row), "malformed_row", row[0]))
        for _ in range(how_many(rng, len(rows), rate / 2)):
            row = list(rows[rng.integers(len(rows))])
            row[0] = ""
            inserts.append(Insert(int(rng.integers(len(rows) + 1)), csv_line(row), "missing_key", None))
        lines, defects = splice([csv_line(r) for r in rows], inserts, "industry", rel, first_line=2)
        write_bytes(out / rel, join_lines([",".join(COLUMNS), *lines]))
        result[q] = (len(lines), defects)
    return result
