"""Pins every band edge of models.rules and checks the Polars builders agree with the scalar functions."""

from __future__ import annotations

import math

import polars as pl
import pytest

from models import rules as r

NAN = math.nan

# (value, expected sub-score) on both sides of every DOMAIN.md edge, plus in-between floats and missing values
NEWS2_EDGES: dict[str, list[tuple[float | None, int | None]]] = {
    "resp_rate": [(8, 3), (8.5, 1), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (0, 3), (60, 3)],
    "spo2": [(91, 3), (91.5, 2), (92, 2), (93, 2), (94, 1), (95, 1), (95.5, 0), (96, 0), (100, 0)],
    "systolic": [(90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (219.5, 3), (220, 3)],
    "pulse": [(40, 3), (40.5, 1), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2), (131, 3)],
    "temperature": [(35.0, 3), (35.05, 1), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1), (39.1, 2)],
}
MISSING = [(None, None), (NAN, None)]
NEWS2_CASES = [(vital, v, want) for vital, cases in NEWS2_EDGES.items() for v, want in cases + MISSING]


@pytest.mark.parametrize(("vital", "value", "want"), NEWS2_CASES)
def test_news2_sub_score_edges(vital, value, want):
    assert r.news2_sub_score(value, vital) == want


@pytest.mark.parametrize("vital", list(NEWS2_EDGES))
def test_news2_sub_score_expr_matches_scalar(vital):
    cases = NEWS2_EDGES[vital] + MISSING
    df = pl.DataFrame({"v": [v for v, _ in cases]}, schema={"v": pl.Float64})
    got = df.select(r.news2_sub_score_expr(pl.col("v"), vital).alias("s"))["s"]
    assert got.dtype == pl.Int8
    assert got.to_list() == [want for _, want in cases] == [r.news2_sub_score(v, vital) for v, _ in cases]


def test_news2_sub_score_expr_on_integer_column():
    df = pl.DataFrame({"pulse": [40, 41, None, 131]}, schema={"pulse": pl.Int64})
    assert df.select(r.news2_sub_score_expr(pl.col("pulse"), "pulse").alias("s"))["s"].to_list() == [3, 1, None, 3]


@pytest.mark.parametrize(("subs", "want"), [([1, 2, None, 0, 3], 6), ([None, 0], 0), ([None, None], None), ([3, 3, 3, 3, 3], 15)])
def test_news2_aggregate(subs, want):
    assert r.news2_aggregate(subs) == want
    df = pl.DataFrame({f"s{i}": [s] for i, s in enumerate(subs)}, schema={f"s{i}": pl.Int8 for i in range(len(subs))})
    assert df.select(r.news2_aggregate_expr(*[pl.col(c) for c in df.columns]).alias("a"))["a"].to_list() == [want]


RISK_CASES = [
    (0, False, "low"),
    (4, False, "low"),
    (5, False, "medium"),
    (6, False, "medium"),
    (7, False, "high"),
    (20, False, "high"),
    (3, True, "low_medium"),  # a single 3 with an otherwise low aggregate: urgent review
    (4, True, "low_medium"),
    (5, True, "medium"),  # the single-3 rule only lifts 'low'
    (7, True, "high"),
    (3, None, "low"),
    (None, True, None),
]


@pytest.mark.parametrize(("aggregate", "any3", "want"), RISK_CASES)
def test_news2_risk(aggregate, any3, want):
    assert r.news2_risk(aggregate, any3) == want


def test_news2_risk_expr_matches_scalar():
    df = pl.DataFrame(
        {"a": [a for a, _, _ in RISK_CASES], "t": [t for _, t, _ in RISK_CASES]}, schema={"a": pl.Int16, "t": pl.Boolean}
    )
    got = df.select(r.news2_risk_expr(pl.col("a"), pl.col("t")).alias("risk"))["risk"].to_list()
    assert got == [want for _, _, want in RISK_CASES]


BP_CASES = [
    (119, 79, "normal"),
    (120, 79, "elevated"),
    (129, 79, "elevated"),
    (129.5, 79.5, "elevated"),
    (130, 79, "prehypertension"),
    (139, 79, "prehypertension"),
    (119, 80, "prehypertension"),
    (125, 85, "prehypertension"),  # elevated needs diastolic < 80
    (119, 89, "prehypertension"),
    (119, 90, "stage1"),
    (119, 99, "stage1"),
    (140, 90, "stage1"),
    (159, 99, "stage1"),
    (119, 100, "stage2"),
    (160, 90, "stage2"),
    (150, 100, "stage2"),
    (140, 79, "isolated_systolic"),  # systolic >= 140 with diastolic < 90 beats stage1/stage2 from systolic
    (150, 85, "isolated_systolic"),
    (159, 89, "isolated_systolic"),
    (160, 89, "isolated_systolic"),
    (139, 89, "prehypertension"),
    (None, 80, None),
    (120, None, None),
    (NAN, 70, None),
]


@pytest.mark.parametrize(("sys", "dia", "want"), BP_CASES)
def test_bp_category(sys, dia, want):
    assert r.bp_category(sys, dia) == want


def test_bp_category_expr_matches_scalar():
    df = pl.DataFrame({"s": [c[0] for c in BP_CASES], "d": [c[1] for c in BP_CASES]}, schema={"s": pl.Float64, "d": pl.Float64})
    got = df.select(r.bp_category_expr(pl.col("s"), pl.col("d")).alias("c"))["c"].to_list()
    assert got == [want for *_, want in BP_CASES]


CRISIS_CASES = [
    (180, 80, False),
    (181, 80, True),
    (120, 120, False),
    (120, 121, True),
    (180.5, 70, True),
    (None, 121, True),
    (181, None, True),
    (None, 80, None),
    (120, NAN, None),
    (None, None, None),
]


@pytest.mark.parametrize(("sys", "dia", "want"), CRISIS_CASES)
def test_hypertensive_crisis(sys, dia, want):
    assert r.hypertensive_crisis(sys, dia) is want


def test_hypertensive_crisis_expr_matches_scalar():
    df = pl.DataFrame(
        {"s": [c[0] for c in CRISIS_CASES], "d": [c[1] for c in CRISIS_CASES]}, schema={"s": pl.Float64, "d": pl.Float64}
    )
    got = df.select(r.hypertensive_crisis_expr(pl.col("s"), pl.col("d")).alias("x"))["x"].to_list()
    assert got == [want for *_, want in CRISIS_CASES]


def test_screening_grade():
    types = ["wearable", "bp_monitor", None]
    assert [r.is_screening_grade(t) for t in types] == [True, False, None]
    df = pl.DataFrame({"t": types}, schema={"t": pl.String})
    assert df.select(r.screening_grade_expr(pl.col("t")))["t"].to_list() == [True, False, None]
    assert r.BP_SCREENING_DEVICE_TYPES == ("wearable",)


@pytest.mark.parametrize(("streak", "want"), [(0, False), (2, False), (3, True), (7, True)])
def test_needs_home_visit(streak, want):
    assert r.needs_home_visit(streak) is want


GRADE_CASES = [
    (0.0, "정상"),
    (0.0499, "정상"),
    (0.05, "관심"),
    (0.1499, "관심"),
    (0.15, "주의"),
    (0.2999, "주의"),
    (0.30, "경계"),
    (0.4999, "경계"),
    (0.50, "심각"),
    (1.0, "심각"),
    (None, None),
    (NAN, None),
]


@pytest.mark.parametrize(("p", "want"), GRADE_CASES)
def test_grade_from_probability(p, want):
    assert r.grade_from_probability(p) == want


def test_grade_expr_matches_scalar():
    df = pl.DataFrame({"p": [p for p, _ in GRADE_CASES]}, schema={"p": pl.Float64})
    got = df.select(r.grade_expr(pl.col("p")).alias("g"))["g"].to_list()
    assert got == [want for _, want in GRADE_CASES]
    custom = (0.1, 0.2, 0.3, 0.4)
    assert r.grade_from_probability(0.2, custom) == "주의"
    assert df.select(r.grade_expr(pl.col("p"), custom).alias("g"))["g"][2] == r.grade_from_probability(0.05, custom) == "정상"


@pytest.mark.parametrize("bad", [(0.1, 0.2, 0.3), (0.1, 0.3, 0.2, 0.4), (0.1, 0.1, 0.2, 0.3)])
def test_bad_thresholds_rejected(bad):
    with pytest.raises(ValueError):
        r.grade_from_probability(0.2, bad)


def test_grade_rank():
    assert [r.grade_rank(g) for g in r.GRADES] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        r.grade_rank("unknown")


def overrides(grade, **kw):
    args = {"hypertensive_crisis": None, "any_news2_3": None, "no_activity_hours": None, "unanswered_streak": None}
    return r.apply_overrides(grade, **(args | kw))


@pytest.mark.parametrize(
    ("grade", "kw", "want"),
    [
        ("정상", {}, ("정상", [])),
        (
            "심각",
            {"hypertensive_crisis": False, "any_news2_3": False, "no_activity_hours": 0, "unanswered_streak": 0},
            ("심각", []),
        ),
        ("정상", {"hypertensive_crisis": True}, ("심각", ["hypertensive_crisis"])),
        ("정상", {"any_news2_3": True}, ("경계", ["news2_sub_score_3"])),
        ("심각", {"any_news2_3": True}, ("심각", ["news2_sub_score_3"])),  # never lowers, flag still reported
        ("관심", {"no_activity_hours": 11.9}, ("관심", [])),
        ("관심", {"no_activity_hours": 12}, ("경계", ["no_activity"])),
        ("관심", {"no_activity_hours": 23.9}, ("경계", ["no_activity"])),
        ("관심", {"no_activity_hours": 24}, ("심각", ["no_activity"])),
        ("정상", {"no_activity_hours": 6, "no_activity_limit_hours": 6}, ("경계", ["no_activity"])),
        ("정상", {"unanswered_streak": 2}, ("정상", [])),
        ("정상", {"unanswered_streak": 3}, ("주의", ["home_visit"])),
        ("경계", {"unanswered_streak": 3}, ("경계", ["home_visit"])),
        ("주의", {"any_news2_3": True, "unanswered_streak": 4}, ("경계", ["news2_sub_score_3", "home_visit"])),
    ],
)
def test_apply_overrides(grade, kw, want):
    assert overrides(grade, **kw) == want


@pytest.mark.parametrize(
    ("grade", "flags", "want"),
    [
        ("정상", [], "none"),
        ("관심", [], "none"),
        ("주의", [], "ai_call"),
        ("경계", ["no_activity"], "monitoring_centre_call"),
        ("심각", [], "home_visit_or_119"),
        ("주의", ["home_visit"], "home_visit_or_119"),
        ("경계", ["home_visit"], "home_visit_or_119"),
    ],
)
def test_next_step(grade, flags, want):
    assert r.next_step(grade, flags) == want


def test_escalate_climbs_the_ladder_and_stops_at_the_top():
    assert r.ESCALATION_LADDER == ("ai_call", "monitoring_centre_call", "public_official", "home_visit_or_119")
    assert [r.escalate(s) for s in r.ESCALATION_LADDER] == [*r.ESCALATION_LADDER[1:], "home_visit_or_119"]


def test_bands_validate_their_shape():
    with pytest.raises(ValueError):
        r.Bands((1, 2), (0, 1), upper_inclusive=True)
    with pytest.raises(ValueError):
        r.Bands((2, 1), (0, 1, 2), upper_inclusive=True)
