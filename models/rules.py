"""Care-risk rules from docs DOMAIN.md: NEWS2, KSH 2018 blood pressure, call streaks, alert grades, escalation.

Every band table is defined once as a `Bands` value; the scalar functions (unit tests, ad-hoc code) and the
Polars expression builders (feature/scoring jobs) both read that same table, so they cannot drift apart.

Missing data: None / null / NaN in gives None / null out (never a silent 0 score). Polars builders return
unnamed expressions: `.alias()` them.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import polars as pl

T = TypeVar("T")
Vital = Literal["resp_rate", "spo2", "systolic", "pulse", "temperature"]


@dataclass(frozen=True)
class Bands(Generic[T]):
    """Step function: `values[i]` applies up to `cuts[i]`; `values[-1]` applies above the last cut.

    `upper_inclusive=True` means a value equal to a cut belongs to the band below it (x <= cut),
    `False` means it starts the band above it (x < cut).
    """

    cuts: tuple[float, ...]
    values: tuple[T, ...]
    upper_inclusive: bool

    def __post_init__(self) -> None:
        if len(self.values) != len(self.cuts) + 1 or list(self.cuts) != sorted(set(self.cuts)):
            raise ValueError("need strictly increasing cuts and exactly one more value than cuts")

    def lookup(self, x: float | None) -> T | None:
        if _missing(x):
            return None
        find = bisect_left if self.upper_inclusive else bisect_right
        return self.values[find(self.cuts, x)]

    def expr(self, x: pl.Expr, dtype: pl.DataType | type[pl.DataType]) -> pl.Expr:
        x = _clean(x)
        chain: Any = pl.when(x.is_null()).then(pl.lit(None, dtype=dtype))
        for cut, value in zip(self.cuts, self.values):
            chain = chain.when(x <= cut if self.upper_inclusive else x < cut).then(pl.lit(value, dtype=dtype))
        return chain.otherwise(pl.lit(self.values[-1], dtype=dtype))


def _missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _clean(x: pl.Expr) -> pl.Expr:
    """Polars orders NaN above every number, which would score it in the top band: make it null instead."""
    return x.cast(pl.Float64).fill_nan(None)


# --- NEWS2 ------------------------------------------------------------------------------------------------
# DOMAIN lists integer ranges (temperature to 0.1 °C). For in-between readings (pulse 40.5, SpO2 91.5) the
# listed upper edges are used as inclusive cut points: 40.5 is above "<= 40", so it scores as 41-50 does.
NEWS2_BANDS: dict[Vital, Bands[int]] = {
    "resp_rate": Bands((8, 11, 20, 24), (3, 1, 0, 2, 3), upper_inclusive=True),
    "spo2": Bands((91, 93, 95), (3, 2, 1, 0), upper_inclusive=True),
    "systolic": Bands((90, 100, 110, 219), (3, 2, 1, 0, 3), upper_inclusive=True),
    "pulse": Bands((40, 50, 90, 110, 130), (3, 1, 0, 1, 2, 3), upper_inclusive=True),
    "temperature": Bands((35.0, 36.0, 38.0, 39.0), (3, 1, 0, 1, 2), upper_inclusive=True),
}
NEWS2_RISKS = ("low", "low_medium", "medium", "high")
# aggregate 0-4 low, 5-6 medium, >=7 high; "low_medium" (urgent review) is the single-3 rule, applied below
NEWS2_RISK_BANDS: Bands[str] = Bands((4, 6), ("low", "medium", "high"), upper_inclusive=True)


def news2_sub_score(value: float | None, vital: Vital) -> int | None:
    """NEWS2 sub-score 0-3 for one reading (SpO2 on scale 1); None when the reading is missing."""
    return NEWS2_BANDS[vital].lookup(value)


def news2_aggregate(sub_scores: Iterable[int | None]) -> int | None:
    """Sum of the available sub-scores; None when none is available (unknown is not 'low')."""
    present = [s for s in sub_scores if s is not None]
    return sum(present) if present else None


def news2_risk(aggregate: int | None, any_sub_score_3: bool | None) -> str | None:
    """Clinical risk from the aggregate; a single sub-score of 3 lifts only a 'low' aggregate to 'low_medium'."""
    risk = NEWS2_RISK_BANDS.lookup(aggregate)
    return "low_medium" if risk == "low" and any_sub_score_3 else risk


# --- Blood pressure (Korean Society of Hypertension 2018) -----------------------------------------------
# Cut points are lower-inclusive (">= 120" starts elevated), so 129.5 is still elevated. Each reading gets a
# rank from systolic and from diastolic; the higher rank wins ("or" rules). Diastolic alone never gives
# "elevated" (that needs diastolic < 80). Then isolated systolic hypertension (systolic >= 140 and diastolic
# < 90) replaces stage1/stage2 that came from systolic alone, as reported in practice.
BP_CATEGORIES = ("normal", "elevated", "prehypertension", "stage1", "stage2", "isolated_systolic")
BP_SYSTOLIC_RANK: Bands[int] = Bands((120, 130, 140, 160), (0, 1, 2, 3, 4), upper_inclusive=False)
BP_DIASTOLIC_RANK: Bands[int] = Bands((80, 90, 100), (0, 2, 3, 4), upper_inclusive=False)
ISOLATED_SYSTOLIC_MIN, ISOLATED_DIASTOLIC_BELOW = 140, 90
CRISIS_SYSTOLIC_ABOVE, CRISIS_DIASTOLIC_ABOVE = 180, 120
BP_SCREENING_DEVICE_TYPES = ("wearable",)  # cuffless: flag, never diagnose


def bp_category(systolic: float | None, diastolic: float | None) -> str | None:
    """KSH 2018 category; None unless both values are present (one arm alone cannot rule out the other)."""
    s, d = BP_SYSTOLIC_RANK.lookup(systolic), BP_DIASTOLIC_RANK.lookup(diastolic)
    if s is None or d is None:
        return None
    if systolic >= ISOLATED_SYSTOLIC_MIN and diastolic < ISOLATED_DIASTOLIC_BELOW:  # type: ignore[operator]
        return "isolated_systolic"
    return BP_CATEGORIES[max(s, d)]


def hypertensive_crisis(systolic: float | None, diastolic: float | None) -> bool | None:
    """Systolic > 180 or diastolic > 120 (strict). Kleene logic like Polars: one value over the line is enough,
    None only when neither is over and one is missing."""
    pairs = ((systolic, CRISIS_SYSTOLIC_ABOVE), (diastolic, CRISIS_DIASTOLIC_ABOVE))
    hits = [None if _missing(v) else v > limit for v, limit in pairs]
    return True if True in hits else (None if None in hits else False)


def is_screening_grade(device_type: str | None) -> bool | None:
    """Cuffless wearable BP is screening-grade: it may raise a flag but must not be reported as a diagnosis."""
    return None if device_type is None else device_type in BP_SCREENING_DEVICE_TYPES


# --- Calls ------------------------------------------------------------------------------------------------
HOME_VISIT_UNANSWERED_STREAK = 3  # AI companion calls: after 3 unanswered in a row a worker checks in person


def needs_home_visit(consecutive_unanswered: int) -> bool:
    return consecutive_unanswered >= HOME_VISIT_UNANSWERED_STREAK


# --- Grades (Korean public alert scale) and overrides ---------------------------------------------------
GRADES = ("정상", "관심", "주의", "경계", "심각")  # normal, attention, caution, warning, serious
ALERT_FROM = "주의"  # 주의 and above become alerts with a next step on the escalation ladder
ALERT_GRADES = GRADES[GRADES.index(ALERT_FROM) :]
DEFAULT_THRESHOLDS = (0.05, 0.15, 0.30, 0.50)  # p < 0.05 정상, < 0.15 관심, < 0.30 주의, < 0.50 경계, else 심각
DEFAULT_NO_ACTIVITY_HOURS = 12.0


def _grade_bands(thresholds: tuple[float, float, float, float]) -> Bands[str]:
    if len(thresholds) != len(GRADES) - 1:
        raise ValueError(f"need {len(GRADES) - 1} cut points, got {thresholds!r}")
    return Bands(tuple(thresholds), GRADES, upper_inclusive=False)  # a p equal to a cut is the higher grade


def grade_from_probability(p: float | None, thresholds: tuple[float, float, float, float] = DEFAULT_THRESHOLDS) -> str | None:
    """Map a model's risk probability to a grade; cut points are upper-exclusive (p == 0.50 is 심각)."""
    return _grade_bands(thresholds).lookup(p)


def grade_rank(grade: str) -> int:
    """0 (정상) to 4 (심각); raises ValueError for an unknown grade rather than guessing."""
    return GRADES.index(grade)


def apply_overrides(
    grade: str,
    *,
    hypertensive_crisis: bool | None,
    any_news2_3: bool | None,
    no_activity_hours: float | None,
    no_activity_limit_hours: float = DEFAULT_NO_ACTIVITY_HOURS,
    unanswered_streak: int | None,
) -> tuple[str, list[str]]:
    """Hard safety rules that a model must not be able to talk down: each only raises the grade.

    Returns (final grade, flags). A flag is listed whenever its rule fires, even if the grade was already
    that high, because the flags (notably "home_visit") also steer `next_step`. None inputs mean unknown
    and fire nothing.
    """
    rank, flags = grade_rank(grade), []

    def at_least(floor: str, flag: str) -> None:
        nonlocal rank
        rank = max(rank, grade_rank(floor))
        flags.append(flag)

    if hypertensive_crisis:
        at_least("심각", "hypertensive_crisis")
    if any_news2_3:
        at_least("경계", "news2_sub_score_3")
    if no_activity_hours is not None and no_activity_hours >= no_activity_limit_hours:
        at_least("심각" if no_activity_hours >= 2 * no_activity_limit_hours else "경계", "no_activity")
    if unanswered_streak is not None and needs_home_visit(unanswered_streak):
        at_least("주의", "home_visit")
    return GRADES[rank], flags


# --- Escalation -------------------------------------------------------------------------------------------
ESCALATION_LADDER = ("ai_call", "monitoring_centre_call", "public_official", "home_visit_or_119")
NO_ACTION = "none"
GRADE_STEP = {
    "정상": NO_ACTION,
    "관심": NO_ACTION,
    "주의": "ai_call",
    "경계": "monitoring_centre_call",
    "심각": "home_visit_or_119",
}


def next_step(grade: str, flags: Iterable[str]) -> str:
    """First action for a graded resident.

    정상/관심 → "none" (watch only), 주의 → "ai_call", 경계 → "monitoring_centre_call",
    심각 → "home_visit_or_119". The "home_visit" flag (3 unanswered calls) always means a worker goes in
    person: "home_visit_or_119" whatever the grade. "public_official" is reached through `escalate` when the
    monitoring-centre call gets no answer.
    """
    if "home_visit" in flags:
        return ESCALATION_LADDER[-1]
    return GRADE_STEP[grade]


def escalate(step: str) -> str:
    """The next rung when `step` got no answer; the top rung stays where it is."""
    i = ESCALATION_LADDER.index(step)
    return ESCALATION_LADDER[min(i + 1, len(ESCALATION_LADDER) - 1)]


# --- Polars builders (same tables) --------------------------------------------------------------------------
def news2_sub_score_expr(value: pl.Expr, vital: Vital) -> pl.Expr:
    return NEWS2_BANDS[vital].expr(value, pl.Int8)


def news2_aggregate_expr(*sub_scores: pl.Expr) -> pl.Expr:
    """Sum of non-null sub-scores; null when all are null (Polars' sum_horizontal alone would give 0)."""
    all_null = pl.all_horizontal([s.is_null() for s in sub_scores])
    return pl.when(all_null).then(None).otherwise(pl.sum_horizontal(sub_scores)).cast(pl.Int16)


def news2_risk_expr(aggregate: pl.Expr, any_sub_score_3: pl.Expr) -> pl.Expr:
    risk = NEWS2_RISK_BANDS.expr(aggregate, pl.String)
    return pl.when((risk == "low") & any_sub_score_3.fill_null(False)).then(pl.lit("low_medium")).otherwise(risk)


def bp_category_expr(systolic: pl.Expr, diastolic: pl.Expr) -> pl.Expr:
    s, d = _clean(systolic), _clean(diastolic)
    rank = pl.max_horizontal(BP_SYSTOLIC_RANK.expr(s, pl.Int8), BP_DIASTOLIC_RANK.expr(d, pl.Int8))
    label = rank.replace_strict(dict(enumerate(BP_CATEGORIES)), return_dtype=pl.String)
    isolated = (s >= ISOLATED_SYSTOLIC_MIN) & (d < ISOLATED_DIASTOLIC_BELOW)
    return pl.when(s.is_null() | d.is_null()).then(None).when(isolated).then(pl.lit("isolated_systolic")).otherwise(label)


def hypertensive_crisis_expr(systolic: pl.Expr, diastolic: pl.Expr) -> pl.Expr:
    return (_clean(systolic) > CRISIS_SYSTOLIC_ABOVE) | (_clean(diastolic) > CRISIS_DIASTOLIC_ABOVE)


def screening_grade_expr(device_type: pl.Expr) -> pl.Expr:
    return device_type.is_in(list(BP_SCREENING_DEVICE_TYPES))


def grade_expr(prob: pl.Expr, thresholds: tuple[float, float, float, float] = DEFAULT_THRESHOLDS) -> pl.Expr:
    return _grade_bands(thresholds).expr(prob, pl.String)
