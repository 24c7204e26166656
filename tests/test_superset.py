"""The dashboards on a real Superset 6.1 (its own virtual environment, gunicorn on 127.0.0.1) over the serving
DuckDB file: bundle import, chart data against gold, district row-level security, SQL Lab, publishing while
dashboards query, and the five dashboards in headless Chromium. Slow: Superset's first setup takes ~1 minute."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import pyarrow.compute as pc
import pytest
import yaml
from browser import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS
from ports import free_port

from gglake import delta, serving
from gglake.catalog import table
from gglake.superset import BUNDLE_DIR, SUPERSET_VENV, Superset, SupersetError

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (SUPERSET_VENV / "bin" / "superset").exists(), reason="run `make superset-install`"),
]
OCTOBER = "2026-10-01 : 2026-11-01"


def bundle_file(kind: str, name: str) -> dict:
    return yaml.safe_load((BUNDLE_DIR / kind / f"{name}.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def superset(served, tmp_path_factory):
    settings, target = served
    var = tmp_path_factory.mktemp("superset-var")
    deployment = Superset(var=var, port=free_port(), serving_file=Path(target), env_overrides={"GGLAKE_ENV": "dev"})
    deployment.start(timeout=300)
    try:
        deployment.load_dashboards()
        deployment.create_roles()
        yield deployment
    finally:
        deployment.stop()


def chart_id(client, name: str) -> int:
    uuid = bundle_file("charts", name)["uuid"]
    [found] = [c["id"] for c in client.list("chart", ["id", "uuid"]) if c["uuid"] == uuid]
    return found


def snapshot(client) -> dict:
    """What an import decides: every chart's and dashboard's definition, and how many of each there are."""
    charts = {c["id"]: c for c in client.list("chart", ["id", "slice_name", "params", "query_context", "viz_type"])}
    dashboards = {}
    for d in client.list("dashboard", ["id"]):
        detail = client.request("GET", f"/api/v1/dashboard/{d['id']}")["result"]
        dashboards[d["id"]] = (detail["dashboard_title"], detail["position_json"], detail["json_metadata"])
    datasets = {d["id"]: d for d in client.list("dataset", ["id", "table_name", "main_dttm_col"])}
    return {"charts": charts, "dashboards": dashboards, "datasets": datasets}


def test_the_bundle_loads_five_dashboards_and_reimporting_changes_nothing(superset):
    client = superset.client()
    before = snapshot(client)
    assert len(before["dashboards"]) == 5
    assert len(before["charts"]) == len(list((BUNDLE_DIR / "charts").glob("*.yaml")))
    superset.load_dashboards()
    assert snapshot(client) == before
    assert superset.create_roles() == []  # roles, users and RLS rules already as declared


def test_editing_a_yaml_and_reimporting_updates_the_dashboard(superset, tmp_path):
    client = superset.client()
    edited = tmp_path / "bundle"
    shutil.copytree(BUNDLE_DIR, edited)
    path = edited / "charts" / "ops_answer_rate.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["slice_name"] = "응답률 (edited)"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    chart = chart_id(client, "ops_answer_rate")
    try:
        superset.load_dashboards(edited)
        assert client.request("GET", f"/api/v1/chart/{chart}")["result"]["slice_name"] == "응답률 (edited)"
    finally:
        superset.load_dashboards()
    assert client.request("GET", f"/api/v1/chart/{chart}")["result"]["slice_name"] != "응답률 (edited)"


def test_every_chart_returns_data(superset):
    client = superset.client()
    empty = [c["slice_name"] for c in client.list("chart", ["id", "slice_name"]) if not client.chart_data(c["id"])]
    assert empty == []


def test_the_chart_data_api_returns_the_gold_answer_rate_by_district(superset, served):
    settings, _ = served
    gold = delta.to_arrow(delta.open_table(settings, table("gold.fct_care_calls_daily")))
    october = gold.filter(pc.equal(pc.strftime(gold["call_date"], "%Y-%m"), "2026-10"))
    names = {r["district_code"]: r["district_name_ko"]
             for r in serving.read(str(superset.serving_path), "districts").to_pylist()}
    totals: dict[str, list[int]] = {}
    for row in october.select(["district_code", "calls_scheduled", "calls_answered"]).to_pylist():
        sums = totals.setdefault(names[row["district_code"]], [0, 0])
        sums[0] += row["calls_scheduled"]
        sums[1] += row["calls_answered"]
    expected = {name: (answered / scheduled if min(scheduled, answered) >= 5 else None)
                for name, (scheduled, answered) in totals.items()}

    rows = superset.client().chart_data(chart_id(superset.client(), "ops_answer_rate_by_district"), OCTOBER)
    shown = {r["district_name_ko"]: r["answer_rate"] for r in rows}
    assert shown.keys() == expected.keys()
    assert len([v for v in expected.values() if v is not None]) >= 8  # not vacuous (4 October days of test data)
    for name, rate in expected.items():
        assert shown[name] == (pytest.approx(rate, abs=1e-9) if rate is not None else None), name


def test_a_district_user_sees_only_its_district_and_the_provincial_user_all_31(superset):
    admin = superset.client()
    by_district = chart_id(admin, "kpi_coverage_by_district")
    database = _database_id(admin)

    district = superset.client("district_41110")
    rows = district.chart_data(by_district)
    assert [r["district_name_ko"] for r in rows] == ["수원시"]
    sql = district.sql(database, "select distinct district_code from serving.care_kpi_monthly")
    assert [r["district_code"] for r in sql["data"]] == ["41110"]
    nested = district.sql(database, "select count(*) as n from (select * from serving.care_calls_daily) c "
                                                "where district_code <> '41110'")
    assert nested["data"] == [{"n": 0}]
    # Reading around the row filter: a table named in a string, a table the role has no dataset for.
    for around in ("select * from query_table('serving.care_kpi_monthly')", "select * from serving._publication"):
        with pytest.raises(SupersetError):
            district.sql(database, around)

    provincial = superset.client("provincial")
    assert len({r["district_name_ko"] for r in provincial.chart_data(by_district)}) == 31
    sql = provincial.sql(database, "select count(distinct district_code) as n from serving.districts")
    assert sql["data"] == [{"n": 31}]


def _database_id(client) -> int:
    [found] = [d["id"] for d in client.list("database", ["id", "database_name"]) if d["database_name"] == "gglake_serving"]
    return found


def test_no_superset_dataset_carries_a_resident_identifier(superset):
    datasets = superset.serving_datasets()
    assert len(datasets) == len(list((BUNDLE_DIR / "datasets").rglob("*.yaml")))
    for dataset in datasets:
        assert not serving.IDENTIFIER_COLUMNS & set(dataset["columns"]), dataset["table_name"]


def test_bundle_datasets_match_the_serving_store(superset):
    """The YAML lists every column of its serving table, no more (so a serving change shows up here)."""
    import duckdb

    with duckdb.connect(str(superset.serving_path), read_only=True) as con:
        for path in sorted((BUNDLE_DIR / "datasets").rglob("*.yaml")):
            config = yaml.safe_load(path.read_text(encoding="utf-8"))
            columns = [r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_schema = 'serving' and table_name = ? "
                "order by ordinal_position", [config["table_name"]]).fetchall()]
            assert [c["column_name"] for c in config["columns"]] == columns, path.name


def test_dashboards_keep_answering_while_the_store_is_republished(superset, served):
    settings, target = served
    client = superset.client("provincial")
    charts = [chart_id(client, name) for name in ("kpi_district_table", "ops_answer_rate_by_district", "risk_grade_mix")]
    expected = {c: len(client.chart_data(c)) for c in charts}
    errors: list[str] = []
    answered = [0]
    stop = threading.Event()

    def query() -> None:
        reader = superset.client("provincial")
        while not stop.is_set():
            for chart in charts:
                try:
                    rows = reader.chart_data(chart)
                    if len(rows) != expected[chart]:
                        errors.append(f"chart {chart}: {len(rows)} rows, expected {expected[chart]}")
                    answered[0] += 1
                except Exception as exc:  # noqa: BLE001 - every failure is what this test counts
                    errors.append(str(exc)[:300])

    readers = [threading.Thread(target=query) for _ in range(4)]
    for reader in readers:
        reader.start()
    try:
        for n in range(3):
            serving.publish(settings, f"served-superset-{n}", target)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert errors == []
    assert answered[0] >= 12


def test_the_five_dashboards_render_in_chromium(superset):
    """Log in, open each dashboard, wait for every chart; no chart errors, every chart draws something."""
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make system-packages)")
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    password = superset.secrets()["GGLAKE_SUPERSET_ADMIN_PASSWORD"]
    slugs = [bundle_file("dashboards", p.stem)["slug"] for p in sorted((BUNDLE_DIR / "dashboards").glob("*.yaml"))]
    assert len(slugs) == 5
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        browser = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True,
            viewport={"width": 1600, "height": 1200}, locale="ko-KR")
        page = browser.new_page()
        failed_requests: list[str] = []
        page.on("response", lambda r: failed_requests.append(f"{r.status} {r.url}")
                if "/api/v1/chart/data" in r.url and r.status >= 400 else None)
        _log_in(page, superset.url, "admin", password)
        for slug in slugs:
            page.goto(f"{superset.url}/superset/dashboard/{slug}/")
            page.wait_for_selector("[data-test=chart-container]", timeout=60_000)
            states = _wait_for_charts(page)
            page.screenshot(path=str(shots / f"dashboard-{slug}.png"), full_page=True)
            problems = {title: state for title, state in states.items() if state != "drawn"}
            assert problems == {}, f"{slug}: {problems}"
            assert len(states) >= 5, slug
        browser.close()
    assert failed_requests == []


def _log_in(page, url: str, username: str, password: str) -> None:
    for attempt in (1, 2):  # the first page load after start can outlast the wait while gunicorn warms up
        page.goto(f"{url}/login/")
        page.fill("#username", username)
        page.fill("#password", password)
        page.click("button[type=submit]")
        try:
            page.wait_for_url("**/superset/welcome/**", timeout=45_000)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError; the second attempt raises
            if attempt == 2:
                raise


def _wait_for_charts(page, timeout: float = 90) -> dict[str, str]:
    """Each chart's state once none is loading: drawn (a canvas, svg or table with rows), error or empty."""
    script = """() => Array.from(document.querySelectorAll('[data-test=chart-grid-component]')).map(chart => {
        const title = (chart.querySelector('[data-test=editable-title]') || {}).innerText || '?';
        const text = chart.innerText;
        if (chart.querySelector('[aria-label=Loading], .loading, [data-test=loading-indicator]')) return [title, 'loading'];
        if (chart.querySelector('.ant-alert-error, [data-test=error-message], [role=alert]')
            || /error|오류|Unexpected/i.test(text.split('\\n').slice(1).join(' '))) {
            return [title, 'error: ' + text.slice(0, 200)];
        }
        if (/No results|결과가 없습니다|No data/i.test(text)) return [title, 'empty'];
        const body = chart.querySelector('[data-test=chart-container]');
        const drawn = chart.querySelector('canvas') || chart.querySelector('table tbody tr')
            || (body && /\\d/.test(body.innerText));  // a big number
        return [title, drawn ? 'drawn' : 'pending'];
    })"""
    deadline = time.monotonic() + timeout
    while True:
        states = dict(page.evaluate(script))
        if states and all(s not in ("loading", "pending") for s in states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(0.5)
