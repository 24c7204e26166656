"""The dbt gold layer: marts built and non-empty, reruns change nothing, KPIs equal hand-computed
values on a tiny fixture, a planted duplicate key fails the build, sources match the catalog,
and the SQL passes sqlfluff."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import make_settings, write_risk_rows, write_rows

from gglake import delta
from gglake.catalog import GOLD_MARTS, Table, table
from gglake.dbt_runner import DBT_DIR, DbtBuildError, generated_files, run_dbt, target_dir

KST = timezone(timedelta(hours=9))
MARTS = [
    "dim_districts",
    "dim_residents",
    "dim_companies",
    "fct_care_calls_daily",
    "fct_vitals_daily",
    "fct_risk_daily",
    "fct_alert_response",
    "kpi_care_monthly",
    "kpi_industry_quarterly",
    "mart_policy_popularity",
]


def _mart(settings, name: str) -> list[dict]:
    dt = delta.open_table(settings, table(f"gold.{name}"))
    assert dt is not None, f"gold.{name} was not materialised"
    return dt.to_pyarrow_table().to_pylist()


def _contents(settings, name: str) -> list[tuple]:
    return sorted((tuple(sorted(row.items())) for row in _mart(settings, name)), key=repr)


def test_generated_sources_and_seed_are_up_to_date():
    for path, text in generated_files().items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run `gglake dbt generate`"
    sources = (DBT_DIR / "models" / "staging" / "_sources.yml").read_text(encoding="utf-8")
    assert "path: silver/care_calls" in sources and "path: gold/risk_scores" in sources
    assert "bronze" not in sources and "restricted" not in sources  # no raw or PII layers in the gold layer


def test_a_stale_generated_file_stops_the_run_and_is_not_rewritten(ingested, monkeypatch):
    from gglake import dbt_runner
    from gglake.settings import ConfigError

    sources = dbt_runner.SOURCES_FILE
    committed = sources.read_text(encoding="utf-8")
    monkeypatch.setattr(dbt_runner, "generated_files", lambda: {sources: committed + "# a catalog change\n"})
    with pytest.raises(ConfigError, match="_sources.yml out of date .* run `gglake dbt generate`"):
        run_dbt("build", ingested[0])
    assert sources.read_text(encoding="utf-8") == committed


@pytest.fixture(scope="module")
def built(ingested, tmp_path_factory):
    """A copy of the session lakehouse plus risk rows, built twice: (settings, first, second contents)."""
    source, _ = ingested
    home = tmp_path_factory.mktemp("dbt") / "lakehouse"
    shutil.copytree(source.home, home)
    settings = make_settings(home)
    write_risk_rows(settings)
    first_result = run_dbt("build", settings)
    first = {m: _contents(settings, m) for m in MARTS}
    second_result = run_dbt("build", settings)
    second = {m: _contents(settings, m) for m in MARTS}
    return settings, first_result, first, second_result, second


def test_build_materialises_every_mart_non_empty(built):
    settings, result, first, _, _ = built
    assert result.success and not result.failed
    assert result.counts.get("pass", 0) > 50  # data tests, unit tests and singular tests all ran
    for mart in MARTS:
        assert first[mart], f"gold.{mart} is empty"
        assert Path(settings.path("gold", mart), "_delta_log").is_dir()
    assert len(first["dim_districts"]) == 31
    assert set(MARTS) <= {t.short_name for t in GOLD_MARTS}
    assert (target_dir() / "manifest.json").exists() and DBT_DIR not in target_dir().parents  # no writes into the repo


def test_second_build_changes_no_mart(built):
    _, _, first, result, second = built
    assert result.success
    for mart in MARTS:
        assert second[mart] == first[mart], f"gold.{mart} changed on a rerun"


def test_calls_mart_reconciles_with_silver(built):
    settings = built[0]
    calls = delta.read(settings, table("silver.care_calls")).to_pylist()
    daily = _mart(settings, "fct_care_calls_daily")
    assert sum(r["calls_scheduled"] for r in daily) == len(calls)
    assert sum(r["calls_answered"] for r in daily) == sum(1 for c in calls if c["answered"])


def test_marts_carry_the_snapshot_dates_the_landing_paths_state(built):
    settings = built[0]
    quarter_starts = {r["valid_from"] for r in delta.read(settings, table("silver.companies")).to_pylist()}
    assert all(d.day == 1 and d.month in (1, 4, 7, 10) for d in quarter_starts), quarter_starts
    assert {r["valid_from"] for r in _mart(settings, "dim_companies")} == quarter_starts
    quarters = {f"{d.year}Q{(d.month - 1) // 3 + 1}" for d in quarter_starts}
    assert {r["snapshot_quarter"] for r in _mart(settings, "kpi_industry_quarterly")} == quarters
    registry_days = {r["valid_from"] for r in _mart(settings, "dim_residents")}
    assert registry_days == {date(2026, 11, 1)}  # the fixture's one registry snapshot, date=2026-11-01


def test_docs_generate(built):
    result = run_dbt("docs generate", built[0])
    assert result.success
    assert (target_dir() / "index.html").exists()
    catalog = json.loads((target_dir() / "catalog.json").read_text())
    assert "population" in catalog["nodes"]["model.gglake.dim_districts"]["columns"]  # the real table's columns
    assert "call_id" in catalog["sources"]["source.gglake.silver.care_calls"]["columns"]


# --- a hand-checkable fixture for kpi_care_monthly ----------------------------------------------

A, B, C, D = "a" * 32, "b" * 32, "c" * 32, "d" * 32
SUWON, SEONGNAM = "41110", "41130"  # 32,780 and 30,940 residents 65+ living alone


def _at(day: str, hour: int) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=KST)


@pytest.fixture(scope="module")
def hand_checked(tmp_path_factory):
    """A, B enrolled in Suwon (A alone), C withdrawn in Suwon, D alone in Seongnam; September 2026."""
    settings = make_settings(tmp_path_factory.mktemp("dbt-kpi") / "lakehouse")
    person = {
        "sex": "F",
        "birth_year": 1945,
        "programmes": "ai_call",
        "consent": True,
        "valid_from": date(2026, 8, 1),
        "is_current": True,
    }
    write_rows(
        settings,
        "silver.residents",
        [
            {
                **person,
                "resident_key": A,
                "district": "수원시",
                "living_alone": True,
                "enrolled_on": date(2026, 1, 5),
                "status": "active",
            },
            {
                **person,
                "resident_key": B,
                "district": "수원시",
                "living_alone": False,
                "enrolled_on": date(2026, 9, 10),
                "status": "active",
            },
            {
                **person,
                "resident_key": C,
                "district": "수원시",
                "living_alone": True,
                "enrolled_on": date(2026, 1, 5),
                "status": "withdrawn",
            },
            {
                **person,
                "resident_key": D,
                "district": "성남시",
                "living_alone": True,
                "enrolled_on": date(2026, 9, 1),
                "status": "active",
            },
        ],
    )
    calls = [  # (id, resident, day, answered)
        ("c1", A, "2026-09-02", True),
        ("c2", A, "2026-09-09", True),
        ("c3", B, "2026-09-20", True),
        ("c4", B, "2026-09-27", False),
        ("c5", D, "2026-09-03", False),
    ]
    write_rows(
        settings,
        "silver.care_calls",
        [
            {
                "call_id": cid,
                "resident_key": key,
                "vendor": "v",
                "scheduled_at": _at(day, 10),
                "started_at": _at(day, 10) if answered else None,
                "outcome": "answered" if answered else "no_answer",
                "answered": answered,
                "escalation": "none",
                "call_date": date.fromisoformat(day),
            }
            for cid, key, day, answered in calls
        ],
    )
    write_rows(
        settings,
        "silver.visit_outcomes",
        [
            {
                "visit_id": "v1",
                "resident_key": A,
                "visited_at": _at("2026-09-10", 10),
                "visit_date": date(2026, 9, 10),
                "reason": "routine",
                "outcome": "ok",
                "is_adverse": False,
            },
        ],
    )
    alerts = [(A, "2026-09-05", "경계"), (B, "2026-09-20", "주의"), (D, "2026-09-03", "주의")]
    write_rows(
        settings,
        "gold.risk_scores",
        [
            {
                "resident_key": key,
                "score_date": date.fromisoformat(day),
                "probability": 0.2,
                "model_grade": grade,
                "grade": grade,
                "rule_flags": "",
                "top_factors": "[]",
                "model_version": "t",
            }
            for key, day, grade in alerts
        ],
    )
    write_rows(
        settings,
        "gold.risk_alerts",
        [
            {
                "alert_id": f"{key[0]}-{day}",
                "resident_key": key,
                "score_date": date.fromisoformat(day),
                "grade": grade,
                "probability": 0.2,
                "rule_flags": "",
                "next_step": "ai_call",
                "top_factors": "[]",
                "model_version": "t",
            }
            for key, day, grade in alerts
        ],
    )
    run_dbt("build", settings)
    return settings


def test_kpi_care_monthly_equals_hand_computed_values(hand_checked):
    rows = {r["district_code"]: r for r in _mart(hand_checked, "kpi_care_monthly")}
    assert len(rows) == 31 and {r["month_start"] for r in rows.values()} == {date(2026, 9, 1)}
    suwon, seongnam = rows[SUWON], rows[SEONGNAM]
    # Suwon: A and B enrolled (C withdrew), A lives alone; contacts = 3 answered calls + 1 visit.
    # Alerts: A at 09-05 04:00 → answered call 09-09 10:00 = 4 d 6 h = 102 h (before the 126 h visit);
    # B at 09-20 04:00 → answered call 09-20 10:00 = 6 h. Median of (102, 6) = 54.
    assert suwon["enrolled_residents"] == 2 and suwon["enrolled_living_alone"] == 1
    assert suwon["coverage_rate"] == pytest.approx(round(1 / 32_780, 6))
    assert suwon["contacts"] == 4 and suwon["contacts_per_resident"] == pytest.approx(4 / 2)
    assert suwon["alerts"] == 2 and suwon["alerts_per_1000"] == pytest.approx(2 * 1000 / 2)
    assert suwon["median_response_hours"] == pytest.approx((102 + 6) / 2)
    # Seongnam: D alone, one unanswered call, alert never resolved.
    assert (seongnam["enrolled_residents"], seongnam["enrolled_living_alone"], seongnam["contacts"]) == (1, 1, 0)
    assert seongnam["coverage_rate"] == pytest.approx(round(1 / 30_940, 6))
    assert seongnam["contacts_per_resident"] == 0 and seongnam["alerts_per_1000"] == pytest.approx(1000.0)
    assert seongnam["median_response_hours"] is None
    # Every other district: nobody enrolled, rates undefined.
    other = rows["41150"]
    assert other["enrolled_residents"] == 0 and other["contacts_per_resident"] is None and other["alerts_per_1000"] is None


def test_alert_response_times(hand_checked):
    rows = {r["alert_id"]: r for r in _mart(hand_checked, "fct_alert_response")}
    a = rows["a-2026-09-05"]
    assert a["next_call_id"] == "c2" and a["first_visit_id"] == "v1"
    assert (a["hours_to_answered_contact"], a["hours_to_visit"], a["hours_to_resolution"]) == (102.0, 126.0, 102.0)
    assert a["resolution_type"] == "answered_contact"
    d = rows["d-2026-09-03"]
    assert d["next_call_id"] == "c5" and d["next_call_answered"] is False and d["hours_to_next_call"] == 6.0
    assert d["resolved_at"] is None and d["hours_to_resolution"] is None


def test_planted_duplicate_key_fails_the_build(hand_checked, tmp_path):
    home = tmp_path / "lakehouse"
    shutil.copytree(hand_checked.home, home)
    settings = make_settings(home)
    duplicate = delta.read(settings, table("silver.care_calls")).to_pylist()[:1]
    write_rows(settings, "silver.care_calls", duplicate)
    with pytest.raises(DbtBuildError) as failure:
        run_dbt("build", settings)
    assert any("unique" in name and "care_calls_call_id" in name for name in failure.value.failed), failure.value.failed
    assert "care_calls_call_id" in str(failure.value)


def test_sqlfluff_lint_passes():
    sqlfluff = Path(sys.executable).parent / "sqlfluff"
    done = subprocess.run([str(sqlfluff), "lint", str(DBT_DIR)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]


def test_full_refresh_rebuilds_the_same_marts(hand_checked, tmp_path):
    home = tmp_path / "lakehouse"
    shutil.copytree(hand_checked.home, home)
    settings = make_settings(home)
    before = {m: _contents(settings, m) for m in ("kpi_care_monthly", "fct_alert_response", "dim_districts")}
    assert run_dbt("build", settings, ["--full-refresh"]).success
    assert {m: _contents(settings, m) for m in before} == before
    assert len(delta.open_table(settings, Table("gold.dim_districts", (), "public", "")).history()) == 1  # rebuilt anew


def test_gold_quality_gate_covers_and_passes_every_mart(built):
    from quality.checks import SUITES
    from quality.gates import run_gate

    settings, *_ = built
    keyed = {t.short_name: t.keys for t in GOLD_MARTS if t.keys}  # the grain keys dbt declares in _marts.yml
    assert set(keyed) == set(MARTS) and keyed["fct_alert_response"] == ("alert_id",)
    result = run_gate(settings, "gold", None, docs=False)
    assert {f"gold.{m}" for m in MARTS} <= set(SUITES)  # every mart is gated on its dbt-declared key
    assert result.passed and not result.failures
    assert {f"gold.{m}" for m in MARTS} <= {r.table for r in result.results if r.success}
