"""Risk model end to end on generated data: train → card → score → gold tables.

One generated lakehouse (400 residents x 60 days, seed 11) is ingested, featurised and trained on once
for the module (~45 s on 2 cores); every test reads the model card or scores dates of it.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from conftest import defect_log, make_settings

from gglake import delta
from gglake.catalog import table
from gglake.domain import DIASTOLIC_RANGE, SENSOR_METRICS
from models import card as cards
from models.features import build_features
from models.scoring import alert_id, score
from models.train import design_matrix, feature_columns, train
from sources.generate import generate
from spark_jobs.ingest import ingest

START = date(2026, 9, 1)
DAYS = 60
RESIDENTS = 400
SEED = 11
END = START + timedelta(days=DAYS - 1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    landing = tmp_path_factory.mktemp("model_landing")
    generate(landing, RESIDENTS, DAYS, START, SEED, defect_rate=0.01)
    settings = make_settings(tmp_path_factory.mktemp("model_lakehouse"))
    ingest(settings, str(landing))
    build_features(settings, START, END, "cpu")
    card = train(settings)
    return settings, landing, card


def _features(settings) -> pl.DataFrame:
    return pl.from_arrow(delta.read(settings, table("features.resident_daily")))


def _table(settings, name: str) -> list[dict]:
    t = table(name)
    return pl.from_arrow(delta.read(settings, t)).sort(list(t.keys) + ["score_date"]).to_dicts()


@pytest.fixture(scope="module")
def streak_day(trained) -> date:
    """The day with the most residents at 3+ unanswered calls in a row (earliest on a tie)."""
    settings, _, _ = trained
    counts = (
        _features(settings)
        .filter(pl.col("calls_unanswered_streak") >= 3)
        .group_by("feature_date")
        .len()
        .sort(["len", "feature_date"], descending=[True, False])
    )
    assert counts.height, "the generated data should contain 3-unanswered-call streaks"
    return counts["feature_date"][0]


def test_card_model_beats_rules_beats_constant(trained):
    settings, _, returned = trained
    card = cards.current_card(settings)
    assert {k: v for k, v in card.items() if k != "created_at"} == {k: v for k, v in returned.items() if k != "created_at"}
    assert cards.model_exists(settings)
    val = card["metrics"]["validation"]
    model, rules, constant = val["model"], val["rules"], val["constant"]
    assert model["pr_auc"] > rules["pr_auc"] > constant["pr_auc"]
    assert constant["pr_auc"] == pytest.approx(card["splits"]["validation"]["prevalence"], abs=1e-6)
    assert constant["roc_auc"] == 0.5
    assert model["roc_auc"] > 0.5
    for scorer in (model, rules, constant):
        assert {"roc_auc", "pr_auc", "precision_at_capacity", "ece", "brier"} <= scorer.keys()
        assert 0 <= scorer["ece"] < 1 and 0 <= scorer["brier"] < 1
    assert set(card["metrics"]["validation_unseen_residents"]) == {"model", "rules", "constant"}
    # time split with an embargo of at least the horizon
    train_end = date.fromisoformat(card["training_window"]["end"])
    val_start = date.fromisoformat(card["validation_window"]["start"])
    assert (val_start - train_end).days > card["horizon_days"]
    assert card["splits"]["validation"]["positives"] > 0 and card["splits"]["train"]["positives"] > 0
    assert card["features"] == feature_columns()
    assert not {"resident_key", "feature_date", "district"} & set(card["features"])
    # artifacts and manifest
    version = card["model_version"]
    manifest = json.loads(cards.read_text(settings, f"{version}/manifest.json"))
    assert manifest["version"] == version
    assert manifest["training_data"]["features"]["rows"] == _features(settings).height
    assert len(manifest["grade_thresholds"]) == 4 and manifest["grade_thresholds"] == sorted(manifest["grade_thresholds"])
    markdown = cards.read_text(settings, f"{version}/card.md")
    assert "| Metric | Model | Rules alone | Constant |" in markdown and version in markdown


def test_retraining_same_data_gives_same_version_and_metrics(trained):
    settings, _, first = trained
    second = train(settings)
    assert second["model_version"] == first["model_version"]
    assert second["metrics"] == first["metrics"]
    assert second["grade_thresholds"] == first["grade_thresholds"]
    assert cards.current_version(settings) == first["model_version"]


def test_rescoring_leaves_tables_unchanged(trained, streak_day):
    settings, _, card = trained
    other = streak_day - timedelta(days=1)
    score(settings, other)
    first = score(settings, streak_day)
    scores, alerts = _table(settings, "gold.risk_scores"), _table(settings, "gold.risk_alerts")
    assert first["rows"] == sum(1 for r in scores if r["score_date"] == streak_day) > 0
    assert first["alerts"] == sum(1 for r in alerts if r["score_date"] == streak_day) > 0
    assert first["model_version"] == card["model_version"]

    again = score(settings, streak_day)
    assert again == first
    assert _table(settings, "gold.risk_scores") == scores  # other dates untouched, this date identical
    assert _table(settings, "gold.risk_alerts") == alerts
    assert other in {r["score_date"] for r in scores}

    for row in alerts:
        assert row["alert_id"] == alert_id(row["resident_key"], row["score_date"])
        assert row["grade"] in ("주의", "경계", "심각")
    for row in scores:
        assert 0.0 <= row["probability"] <= 1.0
        factors = json.loads(row["top_factors"])
        assert len(factors) <= 3
        assert [f["contribution"] for f in factors] == sorted((f["contribution"] for f in factors), reverse=True)
        assert all(f["contribution"] > 0 and f["feature"] in card["features"] for f in factors)


def test_three_unanswered_calls_get_a_home_visit(trained, streak_day):
    settings, _, _ = trained
    score(settings, streak_day)
    streak = set(
        _features(settings)
        .filter((pl.col("feature_date") == streak_day) & (pl.col("calls_unanswered_streak") >= 3))["resident_key"]
        .to_list()
    )
    assert streak
    alerts = {r["resident_key"]: r for r in _table(settings, "gold.risk_alerts") if r["score_date"] == streak_day}
    for key in streak:
        assert key in alerts
        assert alerts[key]["next_step"] == "home_visit_or_119"
        assert "home_visit" in alerts[key]["rule_flags"].split(",")


def _limits() -> dict[str, tuple[float, float]]:
    def of(metric: str) -> tuple[float, float]:
        return SENSOR_METRICS[metric][2], SENSOR_METRICS[metric][3]

    return {
        "hr_min": of("heart_rate"), "hr_max": of("heart_rate"), "hr_mean": of("heart_rate"),
        "sys_min": of("blood_pressure"), "sys_max": of("blood_pressure"), "dia_max": DIASTOLIC_RANGE,
        "spo2_min": of("spo2"), "spo2_mean": of("spo2"), "temp_max": of("body_temp"), "resp_mean": of("resp_rate"),
        "stress_mean": of("stress_index"), "steps": (0, float("inf")), "motion_events": (0, float("inf")),
        "door_events": (0, float("inf")), "power_kwh": (0, float("inf")),
    }  # fmt: skip


def test_impossible_values_are_quarantined_and_never_scored(trained):
    settings, landing, _ = trained
    planted = {(d["file"], d["line"]) for d in defect_log(landing) if d["class"] == "impossible_value"}
    assert planted
    quarantine = pl.from_arrow(delta.read(settings, table("quarantine.sensor_readings")))
    found = quarantine.filter(
        pl.struct("_source_file", "_line").map_elements(lambda r: (r["_source_file"], r["_line"]) in planted, pl.Boolean)
    )
    assert found.height == len(planted)
    assert set(found["reason"]) == {"impossible_value"}

    payloads = [json.loads(p) for p in found["payload"]]
    registry = pl.from_arrow(delta.read(settings, table("restricted.resident_registry"), columns=["resident_id", "resident_key"]))
    keys = dict(registry.unique("resident_id").iter_rows())
    hit = pl.DataFrame(
        {
            "resident_key": [keys.get(p["resident_id"]) for p in payloads],
            "feature_date": [date.fromisoformat(p["measured_at"][:10]) for p in payloads],
        }
    ).unique()
    rows = _features(settings).join(hit, on=["resident_key", "feature_date"], how="inner")
    assert rows.height > 50  # many resident-days had a device fault: all of them still have features
    for column, (low, high) in _limits().items():
        values = rows[column].drop_nulls()
        assert values.is_empty() or (low <= values.min() and values.max() <= high), column

    # scored that day on the valid readings only: nothing masked, no factor shows an impossible value
    day = hit["feature_date"].max()
    summary = score(settings, day)
    assert summary["masked_impossible_values"] == 0
    affected = set(hit.filter(pl.col("feature_date") == day)["resident_key"].to_list())
    scored = [r for r in _table(settings, "gold.risk_scores") if r["score_date"] == day and r["resident_key"] in affected]
    assert scored
    limits = _limits()
    for row in scored:
        for factor in json.loads(row["top_factors"]):
            if factor["feature"] in limits and factor["value"] is not None:
                low, high = limits[factor["feature"]]
                assert low <= factor["value"] <= high


def test_impossible_values_reaching_the_model_become_missing():
    frame = pl.DataFrame({"sys_max": [999.0, 150.0, None], "spo2_min": [97.0, 127.0, 95.0], "hr_max": [0.0, 80.0, 251.0]})
    x, masked = design_matrix(frame, ["sys_max", "spo2_min", "hr_max"])
    assert masked == 4
    assert np.isnan(x[0, 0]) and x[1, 0] == 150.0 and np.isnan(x[2, 0])
    assert x[0, 1] == 97.0 and np.isnan(x[1, 1])
    assert np.isnan(x[0, 2]) and x[1, 2] == 80.0 and np.isnan(x[2, 2])


def test_expected_failures(trained, tmp_path):
    empty = make_settings(tmp_path / "empty")
    assert not cards.model_exists(empty) and cards.current_card(empty) is None
    with pytest.raises(RuntimeError, match="run `gglake train` first"):
        score(empty, START)
    settings, _, _ = trained
    with pytest.raises(ValueError, match="no features for 2027-01-01: run `gglake features` first"):
        score(settings, date(2027, 1, 1))


def test_cli_scores_a_date_range_and_prints_the_card(trained, streak_day, monkeypatch):
    from click.testing import CliRunner

    from gglake.cli import main

    settings = trained[0]
    monkeypatch.setenv("GGLAKE_HOME", settings.home)
    first = streak_day - timedelta(days=1)
    result = CliRunner().invoke(main, ["score", "--date", first.isoformat(), "--end", streak_day.isoformat()])
    assert result.exit_code == 0, result.output
    dates = {r["score_date"] for r in _table(settings, "gold.risk_scores")}
    assert {first, streak_day} <= dates
    card = CliRunner().invoke(main, ["model-card", "--json"])
    assert card.exit_code == 0 and '"pr_auc"' in card.output


KILL_BETWEEN_WRITES = """
import os, sys
from datetime import date
from gglake import delta
from gglake.settings import Settings
from models import scoring

write = delta.replace_where
def write_then_die(settings, target, rows, predicate):
    if target.name == "gold.risk_alerts" and predicate == "score_date = '{day}'":
        os.kill(os.getpid(), 9)  # kill -9 after gold.risk_scores committed, before gold.risk_alerts
    write(settings, target, rows, predicate)
delta.replace_where = write_then_die
scoring.score(Settings(home=sys.argv[1]), date.fromisoformat("{day}"))
"""


def test_a_kill_between_the_score_and_alert_writes_loses_no_alert(trained, streak_day, tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    from models.scoring import repair_alerts
    from quality.gates import QualityGateFailed, run_gate

    source, _, _ = trained
    home = tmp_path / "lake"
    shutil.copytree(source.home, home)
    settings = make_settings(home)
    day = streak_day + timedelta(days=2)
    script = KILL_BETWEEN_WRITES.replace("{day}", day.isoformat())
    env = {**os.environ, "GGLAKE_LEASE_TTL_SECONDS": "2"}  # the killed run's lease lapses quickly
    died = subprocess.run([sys.executable, "-c", script, str(home)], capture_output=True, text=True, env=env)
    assert died.returncode == -9, died.stderr

    scores = [r for r in _table(settings, "gold.risk_scores") if r["score_date"] == day]
    alerts = [r for r in _table(settings, "gold.risk_alerts") if r["score_date"] == day]
    flagged = [r for r in scores if r["grade"] in ("주의", "경계", "심각")]
    assert flagged and not alerts  # the kill landed between the two commits ...
    # ... yet every 주의+ score carries its alert, committed with it
    assert all(r["alert_id"] == alert_id(r["resident_key"], day) and r["next_step"] for r in flagged)
    assert all(r["alert_id"] is None for r in scores if r not in flagged)
    with pytest.raises(QualityGateFailed, match="references:alert_id->gold.risk_alerts"):
        run_gate(
            settings, "gold", day, tables=["gold.risk_scores", "gold.risk_alerts"], docs=False
        )  # nothing downstream consumes the half-written pair

    assert repair_alerts(settings) == [day]  # what every scoring run does first
    repaired = [r for r in _table(settings, "gold.risk_alerts") if r["score_date"] == day]
    assert {r["alert_id"] for r in repaired} == {r["alert_id"] for r in flagged}
    assert repair_alerts(settings) == []
    run_gate(settings, "gold", day, tables=["gold.risk_scores", "gold.risk_alerts"], docs=False)
    rerun = score(settings, day, wait_seconds=30)  # and a rerun of the day converges to the same pair
    assert rerun["alerts"] == len(flagged)
    assert [r for r in _table(settings, "gold.risk_alerts") if r["score_date"] == day] == repaired


# --- too few adverse outcomes: a small hand-written lakehouse, no generated data ---------------------------------
TINY_START = date(2026, 9, 1)
TINY_DAYS = 40  # 33 labelled days with the 7-day horizon: train 09-01 … 09-17, embargo, validation 09-25 … 10-03


def _tiny_lakehouse(home, adverse_residents: int):
    from conftest import write_rows

    from models.train import holdout_resident

    settings = make_settings(home)
    keys = [k for k in (f"{i:032x}" for i in range(60)) if not holdout_resident(k)][:20]
    write_rows(
        settings,
        "features.resident_daily",
        [
            {"resident_key": k, "feature_date": TINY_START + timedelta(days=d), "hr_mean": 70.0 + (i * d) % 7}
            for i, k in enumerate(keys)
            for d in range(TINY_DAYS)
        ],
    )
    visits = [
        {"visit_id": f"v{i}", "resident_key": keys[i], "visit_date": TINY_START + timedelta(days=5 + i), "is_adverse": True}
        for i in range(adverse_residents)
    ]
    last = TINY_START + timedelta(days=TINY_DAYS - 1)
    visits.append({"visit_id": "last", "resident_key": keys[-1], "visit_date": last, "is_adverse": False})
    write_rows(settings, "silver.visit_outcomes", visits)
    return settings


@pytest.mark.parametrize("adverse", [0, 1])
def test_train_with_too_few_adverse_outcomes_is_one_clear_line(adverse, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from gglake.cli import main
    from models.train import MIN_POSITIVE_RESIDENTS

    settings = _tiny_lakehouse(tmp_path / "lake", adverse)
    monkeypatch.setenv("GGLAKE_HOME", settings.home)
    result = CliRunner().invoke(main, ["train"])
    assert result.exit_code == 1, result.output
    assert (
        f"training needs adverse visit outcomes of at least {MIN_POSITIVE_RESIDENTS} residents (one per cross-validation "
        f"fold) in the training window 2026-09-01 … 2026-09-17, found {adverse} ("
    ) in result.output
    assert "ingest more days of visit outcomes" in result.output
    assert "Traceback" not in result.output and "solver" not in result.output
    assert not cards.model_exists(settings)


def test_positive_minimum_counts_residents_not_rows():
    from models.train import MIN_POSITIVE_RESIDENTS, _check_positives

    window = (TINY_START, TINY_START + timedelta(days=16))

    def rows(residents: int, days_each: int) -> pl.DataFrame:
        keys = [f"r{i}" for i in range(residents) for _ in range(days_each)]
        return pl.DataFrame({"resident_key": keys + ["n"], "label": [1] * len(keys) + [0]})

    _check_positives(rows(MIN_POSITIVE_RESIDENTS, 1), window)
    with pytest.raises(ValueError, match=f"found {MIN_POSITIVE_RESIDENTS - 1} \\({7 * (MIN_POSITIVE_RESIDENTS - 1)} positive"):
        _check_positives(rows(MIN_POSITIVE_RESIDENTS - 1, 7), window)  # plenty of positive rows, too few residents


@pytest.mark.slow  # a whole catch-up with dbt (~90 s)
def test_catch_up_runs_every_step_in_order_and_returns_typed_results(trained, tmp_path):
    import shutil

    from gglake.pipeline import CatchUpResult, catch_up

    source, landing, card = trained
    home = tmp_path / "lake"
    shutil.copytree(source.home, home)
    settings = make_settings(home)
    result = catch_up(settings, str(landing), START, END, "catch-up-test", score_days_back=3)
    assert isinstance(result, CatchUpResult)
    (ingested,) = result.ingests
    assert ingested.new_files == 0  # the fixture ingested this landing already
    (features,) = result.features
    assert features.rows == _features(settings).height and (features.start, features.end) == (START, END)
    assert result.model.model_version == card["model_version"] and not result.model.trained
    assert [s.score_date for s in result.scores] == [END - timedelta(days=2), END - timedelta(days=1), END]
    assert all(s.rows > 0 and sum(s.grades.values()) == s.rows for s in result.scores)
    assert result.dbt is not None and result.dbt.counts.get("pass", 0) > 50
    assert [g.layer for g in result.gates] == ["bronze", "silver", "features", "gold"]
    scored = {r["score_date"] for r in _table(settings, "gold.risk_scores")}
    assert {s.score_date for s in result.scores} <= scored


@pytest.mark.slow  # two small lakehouses and a catch-up with dbt (~2 min)
def test_a_chunked_catch_up_lands_and_features_the_range_a_chunk_at_a_time(trained, tmp_path):
    """A backfill a few days at a time (memory of one chunk) ends with the same silver and features as one
    ingest of everything followed by the features of the whole range."""
    import shutil

    from polars.testing import assert_frame_equal

    from gglake.catalog import LINEAGE_COLUMNS
    from gglake.pipeline import catch_up

    source, _, card = trained
    days, end = 10, START + timedelta(days=9)
    landing = tmp_path / "landing"
    generate(landing, 120, days, START, 5, defect_rate=0.01)
    whole = make_settings(tmp_path / "whole")
    everything = ingest(whole, str(landing))
    build_features(whole, START, end, "cpu")
    chunked = make_settings(tmp_path / "chunked")
    shutil.copytree(source.path("models"), chunked.path("models"))  # the module's model: no training here

    result = catch_up(chunked, str(landing), START, end, "chunked-test", score_days_back=1, chunk_days=4)
    firsts = [START, START + timedelta(days=4), START + timedelta(days=8)]
    assert [(f.start, f.end) for f in result.features] == list(zip(firsts, [*(d + timedelta(days=3) for d in firsts[:2]), end]))
    intervals = result.ingests[:-1]  # the last lands what no interval held
    assert len(intervals) == 3 and all(i.new_files > 0 for i in intervals)  # each chunk landed its own days
    assert sum(i.new_files for i in result.ingests) == everything.new_files
    assert result.model.model_version == card["model_version"] and not result.model.trained
    lineage = {name for name, _ in LINEAGE_COLUMNS}
    for name in ("silver.sensor_readings", "silver.care_calls", "silver.visit_outcomes", "silver.residents"):
        columns = [c for c in table(name).column_names if c not in lineage]
        expected = pl.from_arrow(delta.read(whole, table(name), columns=columns)).sort(columns)
        assert pl.from_arrow(delta.read(chunked, table(name), columns=columns)).sort(columns).equals(expected), name
    keys = ["resident_key", "feature_date"]  # the same features, up to the order floats were summed in
    assert_frame_equal(_features(chunked).sort(keys), _features(whole).sort(keys), check_exact=False, rel_tol=1e-9)
