"""The chatbot's knowledge tables, search and read API on a real lakehouse: the welfare feed of the `make run`
world (seed 42) ingested for 1-3 October and again for 30 October 2026, the popularity mart built by dbt,
then `gglake knowledge build` twice. Facets and eligibility are checked against the generator's own facts
(ages, districts), not against the parser; the API runs as a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from browser import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS
from conftest import make_settings
from ports import free_port

from gglake import delta
from gglake.catalog import table
from gglake.dbt_runner import run_dbt
from gglake.districts import DISTRICTS
from gglake.knowledge import facets
from gglake.knowledge.build import build
from gglake.knowledge.evaluate import evaluate, load_questions
from gglake.knowledge.index import current_manifest, index_dir, load_index, publish_index
from gglake.knowledge.search import FacetArrays, Profile, check_eligibility, search
from gglake.knowledge.service import KnowledgeApi
from gglake.settings import Settings
from sources import policies
from sources.generate import generate
from spark_jobs.ingest import ingest

SEED = 42
FIRST_DAYS = (date(2026, 10, 1), 3)
LATER_DAY = date(2026, 10, 30)
CODE = {d.name_ko: d.code for d in DISTRICTS}
BENEFIT = {"현금": "cash", "바우처": "voucher", "의료": "medical", "현물": "in_kind", "서비스": "service"}


@dataclass
class World:
    settings: Settings
    landing: Path
    first: object  # BuildSummary after 1-3 October
    second: object  # after 30 October
    first_documents: list[dict]
    first_chunks: list[dict]


def _ingest_welfare(settings: Settings, landing: Path) -> None:
    ingest(settings, str(landing), feeds=["welfare"])
    run_dbt("build", settings, ["--select", "+mart_policy_popularity"])


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    tmp = tmp_path_factory.mktemp("knowledge")
    landing = tmp / "landing"
    settings = make_settings(tmp / "lakehouse")
    generate(landing, 20, FIRST_DAYS[1], FIRST_DAYS[0], SEED, defect_rate=0.0)
    _ingest_welfare(settings, landing)
    first = build(settings, "knowledge-1")
    documents = delta.read(settings, table("gold.policy_documents")).to_pylist()
    chunks = delta.read(settings, table("gold.policy_chunks")).to_pylist()
    generate(landing, 20, 1, LATER_DAY, SEED, defect_rate=0.0)
    _ingest_welfare(settings, landing)
    second = build(settings, "knowledge-2")
    return World(settings, landing, first, second, documents, chunks)


def _documents(settings: Settings) -> list[dict]:
    return delta.read(settings, table("gold.policy_documents")).to_pylist()


def _truth(day: date) -> dict[str, policies.Item]:
    """source id -> the generator's item, for everything listed on `day`."""
    national, provincial = policies.catalogue(SEED)
    items = [i for i in (*national, *provincial) if i.live(day)] + policies.notices(SEED, day)
    return {i.id: i for i in items}


# -- tables --------------------------------------------------------------------------------------------


def test_facets_are_what_the_sources_state(world):
    truth = _truth(LATER_DAY)
    current = [d for d in _documents(world.settings) if d["is_current"] and d["is_active"]]
    assert {d["source_id"] for d in current} == set(truth)
    for d in current:
        item = truth[d["source_id"]]
        low, high = item.ages
        if (low, high) == (None, None):
            assert (d["age_rule"], d["min_age"], d["max_age"]) == ("any", None, None), d["title"]
        else:
            assert (d["age_rule"], d["min_age"] or 0, d["max_age"]) == ("bounded", low or 0, high), d["title"]
        if item.district:
            assert (d["district_scope"], d["district_codes"]) == ("district", CODE[item.district]), d["title"]
        else:
            assert d["district_scope"] == ("province" if item.ministry.startswith("경기도") else "nationwide"), d["title"]
        if item.notice_type == "복지서비스":
            assert d["benefit_type"] == BENEFIT[item.kind], d["title"]
            assert d["unparsed_facets"] == ""
        else:  # a notice's benefit is "see the notice": not stated, so null and counted
            assert d["benefit_type"] is None and d["unparsed_facets"] == "benefit_type"
        assert d["application_end"] == (item.ends - timedelta(days=1) if item.ends else None), d["title"]
        assert d["department"] and d["department"].startswith(item.ministry)
        assert d["source_url"] and d["source_id"] in d["source_url"]
    every_current = [d for d in _documents(world.settings) if d["is_current"]]  # the build summary counts these
    assert world.second.unparsed == dict(Counter(f for d in every_current for f in d["unparsed_facets"].split(",") if f))


def test_unstated_facets_are_null_and_named_never_guessed():
    parsed = facets.parse({"source": "national", "service_name": "어떤 지원", "target_detail": "대상은 별도 공지",
                           "selection_criteria": "심사 후 결정", "benefit": "추후 안내", "how_to_apply": "",
                           "district": "서울시", "life_stages": None, "target_groups": None})  # fmt: skip
    assert (parsed.min_age, parsed.max_age, parsed.age_rule) == (None, None, None)
    assert parsed.district_scope is None and parsed.income_criterion is None and parsed.benefit_type is None
    assert {"age", "district", "income", "benefit_type", "application_method", "application_period"} <= set(parsed.unparsed)
    stated = facets.parse({"source": "provincial", "target_detail": "경기도 거주 만 19세 이상 34세 이하 청년",
                           "selection_criteria": "기준 중위소득 120% 이하", "benefit": "현금 지급: 월 200천원",
                           "how_to_apply": "온라인 신청. 신청기간: 2026.03.02 ~ 2026.12.31. 문의: 경기도 청년정책과",
                           })  # fmt: skip
    assert (stated.min_age, stated.max_age, stated.district_scope) == (19, 34, "province")
    assert (stated.income_criterion, stated.income_threshold_pct, stated.benefit_type) == ("median_pct", 120, "cash")
    assert (stated.application_start, stated.application_end) == (date(2026, 3, 2), date(2026, 12, 31))
    assert stated.department == "경기도 청년정책과" and "youth" in stated.target_groups


def test_rebuild_versions_only_changed_policies_and_keeps_unchanged_chunk_ids(world):
    first_day = FIRST_DAYS[0] + timedelta(days=FIRST_DAYS[1] - 1)
    before, after = _truth(first_day), _truth(LATER_DAY)
    documents = _documents(world.settings)
    superseded = [d for d in documents if not d["is_current"]]
    assert superseded and all(d["inactive_reason"] == "superseded" and d["valid_to"] for d in superseded)
    changed = {d["source_id"] for d in superseded}
    # A policy got a new version exactly when the text its source publishes changed.
    for sid in set(before) & set(after):
        texts_differ = policies._texts(before[sid], first_day) != policies._texts(after[sid], LATER_DAY)
        assert (sid in changed) == texts_differ, sid
    new = set(after) - set(before)
    assert world.second.new_versions == len(changed) + len(new) and world.second.rechunked_policies == world.second.new_versions
    chunks = delta.read(world.settings, table("gold.policy_chunks")).to_pylist()
    unchanged = {d["policy_id"] for d in world.first_documents if d["source_id"] not in changed}
    ids_of = lambda rows: {(c["policy_id"], c["chunk_id"]) for c in rows if c["policy_id"] in unchanged}  # noqa: E731
    assert ids_of(chunks) == ids_of(world.first_chunks)
    assert world.second.tokenised_chunks <= sum(1 for c in chunks if c["policy_id"] not in unchanged)
    # Nothing new: no version, no table commit, no index rebuild.
    again = build(world.settings, "knowledge-3")
    assert (again.new_versions, again.tokenised_chunks, again.index_rebuilt) == (0, 0, False)
    assert (again.documents_version, again.chunks_version) == (world.second.documents_version, world.second.chunks_version)
    manifest = current_manifest(index_dir(world.settings))
    assert (manifest.documents_version, manifest.chunks_version) == (again.documents_version, again.chunks_version)


# -- search --------------------------------------------------------------------------------------------

QUERIES = ("어르신 돌봄 지원", "의료비", "수당", "안부 확인", "일자리", "치매", "장애인 지원", "청년 월세", "아동")


def test_search_never_returns_a_policy_the_resident_is_not_eligible_for(world):
    index = load_index(index_dir(world.settings))
    truth = _truth(LATER_DAY)
    checked = 0
    for district in DISTRICTS:
        for age in (0, 5, 12, 17, 19, 30, 45, 59, 60, 64, 65, 70, 80, 89, 90, 100):
            for q in QUERIES:
                for hit in search(index, q, Profile(age, district.code), limit=20).hits:
                    item = truth[hit.policy["source_id"]]
                    low, high = item.ages
                    assert (low is None or age >= low) and (high is None or age <= high), (q, age, item.name)
                    assert item.district in (None, district.name_ko), (q, district.name_ko, item.name)
                    checked += 1
    assert checked > 10_000  # the sweep really returned results to check
    # Target groups: a resident who is only low-income never gets a policy limited to disabled people.
    for hit in search(index, "장애인 지원", Profile(40, "41110", ("low_income",)), limit=50).hits:
        assert "disabled" not in facets.restricting_groups(tuple(hit.policy["target_groups"].split(","))) or \
            "low_income" in hit.policy["target_groups"]


def test_the_vectorised_filter_gives_the_explained_verdicts(world):
    """search() filters with FacetArrays and explains hits with check_eligibility: both say the same."""
    index = load_index(index_dir(world.settings))
    arrays = FacetArrays.of(index)
    profiles = [Profile(), Profile(70), Profile(None, "41110"), Profile(None, None, ("low_income",)),
                Profile(8, "41830", ("disabled",)), Profile(95, "41280", ("single_elderly", "veterans"))]  # fmt: skip
    for profile in profiles:
        ineligible, unverified = arrays.verdicts(profile)
        expected = [check_eligibility(p, profile)[0] for p in index.policies]
        got = ["ineligible" if i else "unverified" if u else "ok" for i, u in zip(ineligible, unverified, strict=True)]
        assert got == expected, profile


def test_expired_policies_are_kept_but_never_returned(world):
    index = load_index(index_dir(world.settings))
    expired = [p for p in index.policies if not p["is_active"]]
    listed_first = {sid for k in range(FIRST_DAYS[1]) for sid in _truth(FIRST_DAYS[0] + timedelta(days=k))}
    ended = listed_first - set(_truth(LATER_DAY))
    assert ended and {p["source_id"] for p in expired} == ended  # what the sources stopped listing
    assert all(p["inactive_reason"] == "delisted" for p in expired)
    for p in expired:
        for ranking in ("full", "bm25"):
            ids = {h.policy["policy_id"] for h in search(index, p["title"], Profile(), limit=50, ranking=ranking).hits}
            assert p["policy_id"] not in ids


def test_evaluation_on_the_held_back_questions(world):
    scores = {(s.ranking, s.split): s for s in evaluate(load_index(index_dir(world.settings)), load_questions())}
    full, bm25 = scores["full", "holdout"], scores["bm25", "holdout"]
    assert full.questions >= 25 and full.skipped <= 3
    assert full.recall_at_5 >= 0.85 and full.mrr >= 0.75, full  # README: the measured values and the 0.9 goal
    assert all(scores["full", split].violations == 0 for split in ("tune", "holdout"))
    assert bm25.violations > 0  # BM25 alone does return ineligible policies: the filter is what stops them
    for split in ("tune", "holdout", "all"):
        assert scores["full", split].recall_at_5 > scores["bm25", split].recall_at_5
        assert scores["full", split].mrr > scores["bm25", split].mrr


# -- the read API --------------------------------------------------------------------------------------


def _get(url: str) -> tuple[int, dict | str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            status, body, kind = reply.status, reply.read().decode(), reply.headers.get("content-type", "")
    except urllib.error.HTTPError as exc:
        status, body, kind = exc.code, exc.read().decode(), exc.headers.get("content-type", "")
    return status, json.loads(body) if kind.startswith("application/json") else body


def _search_url(api: KnowledgeApi, **params) -> str:
    return f"{api.url}/v1/policies/search?{urllib.parse.urlencode(params)}"


@pytest.fixture(scope="module")
def api(world, tmp_path_factory):
    service = KnowledgeApi(index_dir(world.settings), port=free_port(), var=tmp_path_factory.mktemp("api-var"))
    service.start()
    try:
        yield service
    finally:
        service.stop()


def test_api_search_detail_and_health(world, api):
    status, health = _get(f"{api.url}/healthz")
    assert status == 200
    assert health["documents_version"] == delta.stats(world.settings, table("gold.policy_documents"))[1]
    assert health["chunks_version"] == delta.stats(world.settings, table("gold.policy_chunks"))[1]
    status, body = _get(_search_url(api, q="혼자 사는 어르신 안부 확인", age=78, district="수원시", limit=5))
    assert status == 200 and body["index_version"] == health["index_version"] and 0 < len(body["results"]) <= 5
    first = body["results"][0]
    assert first["passage"].startswith(first["policy"]["title"]) and first["why"]["matched_terms"]
    assert first["why"]["eligibility"]["age"] and first["policy"]["source_url"].startswith("https://")
    assert [r["score"] for r in body["results"]] == sorted((r["score"] for r in body["results"]), reverse=True)
    status, detail = _get(f"{api.url}/v1/policies/{urllib.parse.quote(first['policy']['policy_id'])}")
    assert status == 200 and detail["text"] and detail["eligibility"] == first["policy"]["eligibility"]
    expired = next(p for p in load_index(index_dir(world.settings)).policies if not p["is_active"])
    status, detail = _get(f"{api.url}/v1/policies/{urllib.parse.quote(expired['policy_id'])}")
    assert status == 200 and detail["is_active"] is False and detail["inactive_reason"] == "delisted"
    status, page = _get(f"{api.url}/")
    assert status == 200 and "복지정책 검색" in page


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "돌봄", "age": 300}, "age: Input should be less than or equal to 120"),
        ({"q": "돌봄", "age": "칠십"}, "age: Input should be a valid integer"),
        ({"q": "돌봄", "district": "서울시"}, "unknown district: give a Gyeonggi city/county code"),
        ({"q": "돌봄", "groups": "elderly,astronauts"}, "groups must be comma-separated target groups from: elderly"),
        ({"q": "   "}, "q must contain at least one word"),
        ({"q": "돌봄", "limit": 0}, "limit: Input should be greater than or equal to 1"),
        ({}, "q: Field required"),
    ],
)
def test_api_bad_parameters_are_422_with_a_clear_message(api, params, message):
    status, body = _get(_search_url(api, **params))
    assert status == 422 and message in body["detail"], body


def test_api_unknown_id_is_404_and_queries_are_not_logged(api):
    status, body = _get(f"{api.url}/v1/policies/national:WLF00000000")
    assert status == 404 and "WLF00000000" in body["detail"]
    secret = "비밀스러운질문내용"
    status, _ = _get(_search_url(api, q=f"{secret} 돌봄", age=77, district="41110"))
    assert status == 200
    time.sleep(0.3)
    log = api.log_file.read_text()
    assert "/v1/policies/search 200" in log  # requests are logged, by path
    assert secret not in log and urllib.parse.quote(secret) not in log and "district=" not in log


def test_api_answers_503_until_an_index_is_published_then_serves_it_live(world, tmp_path):
    empty = KnowledgeApi(tmp_path / "index", port=free_port(), var=tmp_path / "var")
    empty.start()
    try:
        for path in ("/healthz", "/v1/policies/search?q=돌봄", "/v1/policies/x"):
            status, body = _get(f"{empty.url}{urllib.parse.quote(path, safe='/?=')}")
            assert status == 503 and "gglake knowledge build" in body["detail"], path
        chunks = delta.read(world.settings, table("gold.policy_chunks"))
        documents = delta.read(world.settings, table("gold.policy_documents"))
        publish_index(tmp_path / "index", 7, 0, chunks.slice(0, 0), documents.slice(0, 0))
        _wait_for(lambda: "empty" in json.dumps(_get(f"{empty.url}/healthz")[1]))
        assert _get(f"{empty.url}/healthz")[0] == 503
        publish_index(tmp_path / "index", 7, 1, chunks, documents.filter(documents.column("is_current")))
        _wait_for(lambda: _get(f"{empty.url}/healthz")[0] == 200)
        assert _get(f"{empty.url}/healthz")[1]["index_version"] == "7.1"
    finally:
        empty.stop()


def _wait_for(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_rebuilding_the_index_under_load_drops_no_request(world, tmp_path):
    """Four clients query while a new day is ingested and the knowledge rebuilt: every request answers 200,
    and answers switch from the old index version to the new one."""
    home = tmp_path / "lakehouse"
    shutil.copytree(world.settings.home, home)
    settings = make_settings(home)
    landing = tmp_path / "landing"
    shutil.copytree(world.landing, landing)
    service = KnowledgeApi(index_dir(settings), port=free_port(), var=tmp_path / "var")
    service.start()
    stop, answers, failures = threading.Event(), Counter(), []

    def client(k: int) -> None:
        while not stop.is_set():
            status, body = _get(_search_url(service, q=QUERIES[k % len(QUERIES)], age=70 + k, district=DISTRICTS[k].code))
            if status == 200:
                answers[body["index_version"]] += 1
            else:
                failures.append((status, body))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    try:
        old = _get(f"{service.url}/healthz")[1]["index_version"]
        for t in threads:
            t.start()
        generate(landing, 20, 1, LATER_DAY + timedelta(days=1), SEED, defect_rate=0.0)
        _ingest_welfare(settings, landing)
        rebuilt = build(settings, "knowledge-reload")
        assert rebuilt.index_rebuilt and rebuilt.index_version != old
        _wait_for(lambda: answers[rebuilt.index_version] >= 20, seconds=30)
    finally:
        stop.set()
        for t in threads:
            t.join()
        service.stop()
    assert failures == []
    assert answers[old] > 0 and answers[rebuilt.index_version] >= 20


def test_api_schema_fuzzing_finds_no_server_error(api):
    """schemathesis generates requests from the OpenAPI document (valid and invalid ones): none may get a 5xx,
    and every answer must match the documented schema and status codes."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    failures = []
    for operation in schema.get_all_operations():
        op = operation.ok()

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=op.as_strategy())
        def run(case):
            response = case.call()
            if response.status_code >= 500:
                failures.append((case.method, case.path, case.query, response.status_code, response.text[:200]))
            case.validate_response(response)

        run()
    assert failures == []


@pytest.mark.slow
def test_search_page_in_chromium(world, api):
    """A care worker's search in Debian's Chromium: Korean form filled from /v1/vocabulary, the results the API
    gives for the same question, and a clear Korean message for an error."""
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make system-packages)")
    question = {"q": "혼자 사는 어르신 안부 확인", "age": 78, "district": "41110", "groups": "single_elderly", "limit": 10}
    expected = _get(_search_url(api, **question))[1]
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        browser = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True, viewport={"width": 1100, "height": 1400},
            locale="ko-KR")  # fmt: skip
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{api.url}/")
        page.wait_for_selector("#district option[value='41110']", state="attached")
        page.fill("#q", "혼자 사는 어르신 안부 확인")
        page.fill("#age", "78")
        page.select_option("#district", "41110")
        page.check("input[name=groups][value=single_elderly]")
        page.click("button[type=submit]")
        page.wait_for_selector("#results li")
        shown = page.eval_on_selector_all("#results li", "items => items.map(i => i.dataset.policyId)")
        assert shown == [r["policy"]["policy_id"] for r in expected["results"]]
        assert "받을 수 있는 정책" in page.inner_text("#status")
        assert page.inner_text("#version").startswith("색인")
        page.screenshot(path=str(shots / "knowledge-search.png"), full_page=True)
        page.fill("#q", "   ")  # blank after trimming: the API's 422 shown in Korean
        page.evaluate("document.getElementById('q').removeAttribute('required')")
        page.click("button[type=submit]")
        page.wait_for_selector("#status.error")
        assert "검색할 수 없습니다" in page.inner_text("#status")
        browser.close()
    assert errors == []


def test_build_refuses_without_its_inputs(tmp_path):
    from gglake.knowledge.build import KnowledgeInputMissing

    with pytest.raises(KnowledgeInputMissing, match="silver.welfare_services is empty"):
        build(make_settings(tmp_path / "lakehouse"), "knowledge-empty")

