"""Free-text PII redaction: the redactor on hand-written Korean, the planted PII of a generated
landing (recall and precision), and the ingest, which must keep every planted value out of silver
and gold while bronze keeps the raw text."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import make_settings, read_rows

from gglake import delta, redact
from gglake.catalog import GOLD_MARTS, GOLD_RISK, SILVER, table
from gglake.redact import PLACEHOLDERS, Redactor, own_names, redact_table
from sources import pii
from sources.generate import generate
from spark_jobs.ingest import ingest

START = date(2026, 11, 1)


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor(["김영자", "박철수"])


# -- the redactor on hand-written text --------------------------------------------------------------

REDACTED = [
    # phone: mobile, landline, +82, with hyphens, spaces, dots or nothing
    ("우리 딸 번호는 010-3456-7890이에요.", "우리 딸 번호는 <전화번호>이에요."),
    ("010 3456 7890으로 전화 주세요", "<전화번호>으로 전화 주세요"),
    ("연락처 01034567890", "연락처 <전화번호>"),
    ("010.3456.7890 맞아요", "<전화번호> 맞아요"),
    ("010 - 3456 - 7890", "<전화번호>"),
    ("+82 10-3456-7890 입니다", "<전화번호> 입니다"),
    ("+82-10-3456-7890", "<전화번호>"),
    ("+821034567890로 문자", "<전화번호>로 문자"),
    ("집 전화는 031-234-5678이에요", "집 전화는 <전화번호>이에요"),
    ("집 전화는 (031) 234-5678", "집 전화는 <전화번호>"),
    ("031 234 5678로 걸었어요", "<전화번호>로 걸었어요"),
    ("서울 02-345-6789", "서울 <전화번호>"),
    ("0312345678 번호", "<전화번호> 번호"),
    ("인터넷 전화 070-1234-5678", "인터넷 전화 <전화번호>"),
    # resident registration number
    ("주민번호요? 450312-2345678이에요.", "주민번호요? <주민등록번호>이에요."),
    ("주민등록번호 4503122345678 확인", "주민등록번호 <주민등록번호> 확인"),
    ("450312 - 1234567", "<주민등록번호>"),
    ("뒷자리는 가리고 450312-2****** 로", "뒷자리는 가리고 <주민등록번호> 로"),
    # e-mail
    ("손자가 minsu.kim@naver.com으로 사진 보내 준대요.", "손자가 <이메일>으로 사진 보내 준대요."),
    ("메일 lee_sm85@hanmail.net 로 안내", "메일 <이메일> 로 안내"),
    # road-name addresses
    ("우리 집은 경기도 수원시 팔달구 효원로 123이에요.", "우리 집은 <주소>이에요."),
    ("경기도 수원시 팔달구 효원로 123 105동 1203호예요", "<주소>예요"),
    ("아들네는 중앙로 45번길 6에 살아요", "아들네는 <주소>에 살아요"),
    ("성남시 분당구 황새울로45번길 6", "<주소>"),
    ("경기도 연천군 연천읍 평화로 45", "<주소>"),
    ("효원로 12-3에서 만나요", "<주소>에서 만나요"),
    # lot-number addresses and villages
    ("예전에는 매탄동 123-4에 살았어요", "예전에는 <주소>에 살았어요"),
    ("○○동 123-4", "<주소>"),
    ("인계동 45번지 단독주택", "<주소> 단독주택"),
    ("청평면 대성리 123 농가", "<주소> 농가"),
    # apartments
    ("딸은 래미안아파트 101동 1203호에 살아요", "딸은 <주소>에 살아요"),
    ("101동 1203호 앞", "<주소> 앞"),
    ("현대빌라 2동 301호", "<주소>"),
    # names: registry names (no cue needed), others by cue + Kiwi
    ("[어르신] 네, 저 김영자예요.", "[어르신] 네, 저 <이름>예요."),
    ("박철수 어르신 댁 방문", "<이름> 어르신 댁 방문"),
    ("[어르신] 아들 이성민이가 주말에 다녀갔어요.", "[어르신] 아들 <이름>이가 주말에 다녀갔어요."),
    ("딸 박지영한테 연락 좀 해 주세요", "딸 <이름>한테 연락 좀 해 주세요"),
    ("요양보호사 최은정 선생님이 오셨어요", "요양보호사 <이름> 선생님이 오셨어요"),
    ("사회복지사 정민호 님과 사례 회의", "사회복지사 <이름> 님과 사례 회의"),
    ("옆집 송말순 할머니가 반찬을 주셨어요", "옆집 <이름> 할머니가 반찬을 주셨어요"),
    ("며느리 윤미경 씨가 같이 왔어요", "며느리 <이름> 씨가 같이 왔어요"),
    ("이순자님 본인 확인", "<이름>님 본인 확인"),
    ("조카 황보민수가 왔어요", "조카 <이름>가 왔어요"),
    ("미경 씨가 전화했어요", "<이름> 씨가 전화했어요"),
    ("손녀 준호가 놀러 왔어요", "손녀 <이름>가 놀러 왔어요"),
    # several kinds in one text
    (
        "보호자(아들 김민호, 010-1234-5678)에게 상황 공유, 주소지(고양시 일산동구 중앙로 12) 확인",
        "보호자(아들 <이름>, <전화번호>)에게 상황 공유, 주소지(<주소>) 확인",
    ),
]

LOOK_ALIKES = [
    "3번 버스 타고 시장 다녀왔어요.",
    "101번 버스가 자주 안 와요.",
    "3호선 타고 시내 나갔다 왔어요.",
    "아침에 혈압 재 보니 140/90 나왔어요.",
    "혈압 140/90, 맥박 78회",
    "10월 5일에 보건소 예약했어요.",
    "2026-11-05 재방문",
    "경로당에서 오후 2시 30분까지 있다 왔어요.",
    "운동 30분 하고 왔어요.",
    "체온 재 보니 36.5도예요.",
    "걸음 수가 3,000보 넘었어요.",
    "약은 하루에 2번, 한 번에 3알씩 먹어요.",
    "복지관 2층에서 노래 교실 해요.",
    "센터 대표번호 1661-2129로 연락 주세요.",
    "119 이송",
    "수원에 사는 동생이 다음 주에 온대요.",
    "동생 집이 수원시 팔달구예요.",
    "수원 할머니가 오셨어요.",
    "경수대로 쪽으로 산책 다녀왔어요.",
    "병원으로 3시에 가요.",
    "이웃 할머니랑 공원을 30분 걸었어요.",
    "옆집 할아버지가 고구마를 갖다 줬어요.",
    "복지사 선생님이 다음 주에 오신대요.",
    "정말 고마워요, 선생님.",
    "이분 할머니가 챙겨 주세요.",
    "이마트에서 장 보고 왔어요.",
    "김장 김치 담갔어요.",
    "한국전력에서 검침 나왔어요.",
    "남대문 시장 구경 갔다 왔어요.",
    "신세계 백화점 앞에서 친구 만났어요.",
    "강원도에 사는 친구가 전화했어요.",
    "딸 가족이랑 여행 다녀왔어요.",
    "이웃 주민이 인사하러 왔어요.",
    "아들 회사가 판교에 있어요.",
    "김 할머니가 오셨어요.",
    "우리 2명이 갔어요.",
    "<이름> 씨가 <전화번호>로 연락함",  # already redacted text stays as it is
]


@pytest.mark.parametrize(("text", "expected"), REDACTED)
def test_each_pii_type_is_replaced_by_its_placeholder(redactor: Redactor, text: str, expected: str) -> None:
    assert redactor.redact(text)[0] == expected


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_are_left_alone(redactor: Redactor, text: str) -> None:
    assert redactor.redact(text) == (text, Counter())


def test_a_rows_own_name_and_given_name_are_redacted_without_a_cue() -> None:
    text = "[어르신] 저 정순자예요. 순자가 제 이름이에요. 순자야, 정자동 아니고요."
    redacted, counts = Redactor().redact(text, own_names("정순자"))
    assert redacted == "[어르신] 저 <이름>예요. <이름>가 제 이름이에요. <이름>야, 정자동 아니고요."
    assert counts == Counter(name=3)
    assert own_names("황보민수") == ("황보민수", "민수") and own_names(None) == ()


def test_counts_are_by_type_and_redaction_is_idempotent(redactor: Redactor) -> None:
    text = "김영자 어르신 010-1234-5678, a@b.com, 450312-2345678, 효원로 12, 딸 박지영 씨"
    redacted, counts = redactor.redact(text)
    assert counts == Counter(name=2, phone=1, email=1, rrn=1, address=1)
    assert set(PLACEHOLDERS.values()) <= set(redacted.replace(",", " ").split())
    assert redactor.redact(redacted) == (redacted, Counter())


def test_kiwi_only_sees_texts_with_a_name_cue(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setattr(redact, "_tokenize", lambda windows: seen.extend(windows) or [[] for _ in windows])
    Redactor().redact_many(["혈압 140/90, 010-1234-5678", "오늘 날씨가 좋아요", None, ""])
    assert seen == []
    Redactor().redact("딸 박지영한테")
    assert seen == ["딸 박지영한테"]


def test_arrays_and_tables_keep_nulls_types_and_each_rows_own_name() -> None:
    r = Redactor()
    array = pa.array(["순자 왔어요", None, "010-1234-5678"], type=pa.large_string())
    out, counts = r.redact_array(array, [own_names("김순자"), (), ()])
    assert out.type == pa.large_string() and out.to_pylist() == ["<이름> 왔어요", None, "<전화번호>"]
    assert counts == Counter(name=1, phone=1)
    staged = pa.table({"resident_key": ["k1", "k2", None], "notes": ["영자 씨 댁", "영자가 왔다", "-"], "n": [1, 2, 3]})
    table_out, counts = redact_table(staged, ["notes", "missing"], r, {"k1": "김영자", "k2": "이철수"})
    assert table_out.column("notes").to_pylist() == ["<이름> 씨 댁", "영자가 왔다", "-"]  # k2 is 이철수
    assert table_out.schema == staged.schema and counts == Counter(name=1)


# -- the planted set of a generated landing ---------------------------------------------------------


def _landing_texts(root: Path) -> dict[tuple[str, int], tuple[str, str]]:
    """(file, line) → (resident_id, free text) of every readable call/visit row the generator did not
    plant as a defect, read straight from the landing files."""
    defects = {
        (d["file"], d["line"])
        for p in (root / "_generator" / "defects").glob("*.jsonl")
        for d in map(json.loads, p.read_text().splitlines())
    }
    out = {}
    for path in sorted(root.glob("calls/date=*/*.csv")) + sorted(root.glob("visits/date=*/visits.csv")):
        rel, encoding = path.relative_to(root).as_posix(), "cp949" if path.name.startswith("dasom") else "utf-8"
        raw = path.read_bytes().split(b"\n")
        header = raw[0].decode(encoding).split(",") if raw[0] else []
        field = "transcript" if "transcript" in header else "notes"
        for n, line in enumerate(raw[1:], 2):
            if line and (rel, n) not in defects:
                row = dict(zip(header, next(csv.reader([line.decode(encoding)])), strict=True))
                if row[field]:
                    out[(rel, n)] = (row["resident_id"], row[field])
    return out


def _registry_names(root: Path) -> dict[str, str]:
    names = {}
    for path in sorted(root.glob("registry/date=*/residents.csv")):
        names |= {r["resident_id"]: r["name"] for r in csv.DictReader(path.open(encoding="utf-8"))}
    return names


def evaluate(root: Path) -> dict[str, Counter]:
    """Recall (planted values fully covered by redacted spans) and precision (redacted spans that
    overlap a planted value) per type, the redactor seeing what the ingest sees."""
    texts, names = _landing_texts(root), _registry_names(root)
    planted: dict[tuple[str, int], list[dict]] = {}
    for record in pii.load(root):
        planted.setdefault((record["file"], record["line"]), []).append(record)
    keys = list(texts)
    found = Redactor(names.values()).spans_many([texts[k][1] for k in keys], [own_names(names.get(texts[k][0])) for k in keys])
    result = {"planted": Counter(), "recalled": Counter(), "true": Counter(), "false": Counter(), "texts": Counter()}
    result["texts"]["all"] = len(keys)
    for key, spans in zip(keys, found, strict=True):
        marks = planted.get(key, [])
        for m in marks:
            start, end = m["start"], m["start"] + len(m["value"])
            covered = {i for s in spans for i in range(max(start, s.start), min(end, s.end))}
            result["planted"][m["type"]] += 1
            result["recalled"][m["type"]] += len(covered) == end - start
        for s in spans:
            hit = any(s.start < m["start"] + len(m["value"]) and s.end > m["start"] for m in marks)
            result["true" if hit else "false"][s.kind] += 1
    assert sum(result["planted"].values()) == sum(map(len, planted.values())), "every planted value was read back"
    return result


@pytest.fixture(scope="module")
def planted_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pii-landing")
    generate(out, residents=150, days=14, start=START, seed=21, defect_rate=0.01)
    return out


def test_the_pii_log_names_exactly_what_was_planted(planted_landing: Path) -> None:
    records = pii.load(planted_landing)
    assert {r["type"] for r in records} == set(pii.TYPES)
    assert {r["source"] for r in records} == {"calls", "visits"}
    texts = _landing_texts(planted_landing)
    for r in records:
        resident, text = texts[(r["file"], r["line"])]
        assert text[r["start"] : r["start"] + len(r["value"])] == r["value"], r
        assert resident == r["resident_id"]
        assert r["field"] == ("transcript" if r["source"] == "calls" else "notes")
    names = _registry_names(planted_landing)
    assert any(r["value"] == names[r["resident_id"]] for r in records)  # the resident's own registry name
    # look-alikes are planted too (so precision means something)
    assert sum("140/90" in t or "3번 버스" in t or "경로당" in t for _, t in texts.values()) > 20


def test_recall_and_precision_on_the_planted_set(planted_landing: Path) -> None:
    result = evaluate(planted_landing)
    report = {
        kind: (
            result["planted"][kind],
            result["recalled"][kind] / max(result["planted"][kind], 1),
            result["true"][kind] / max(result["true"][kind] + result["false"][kind], 1),
        )
        for kind in pii.TYPES
    }
    print("\nplanted, recall, precision by type:", report)
    assert all(planted >= 5 for planted, _, _ in report.values()), report
    for kind, (_, recall, precision) in report.items():
        assert recall >= (0.95 if kind == "name" else 1.0), (kind, report)
        assert precision >= 0.97, (kind, report)


# -- the ingest ------------------------------------------------------------------------------------


def _strings(settings, names: list[str]) -> list[tuple[str, str]]:
    out = []
    for name in names:
        if delta.open_table(settings, table(name)) is None:
            continue
        out += [(name, v) for row in read_rows(settings, name) for v in row.values() if isinstance(v, str)]
    return out


def test_no_planted_pii_reaches_silver_or_gold(ingested, landing: Path) -> None:
    settings, _ = ingested
    planted = pii.load(landing)
    assert planted, "the shared test landing carries planted PII"
    rows = {r["call_id"]: r["transcript"] for r in read_rows(settings, "silver.care_calls", ["call_id", "transcript"])}
    rows |= {r["visit_id"]: r["notes"] for r in read_rows(settings, "silver.visit_outcomes", ["visit_id", "notes"])}
    for p in planted:
        if p["key"] in rows:  # rows of a drifted export are quarantined whole
            assert p["value"] not in rows[p["key"]], p
            assert PLACEHOLDERS[p["type"]] in rows[p["key"]], p
    assert sum(p["key"] in rows for p in planted) >= len(planted) // 2
    scanned = _strings(settings, [t.name for t in SILVER + GOLD_RISK + GOLD_MARTS] + ["features.resident_daily"])
    assert len(scanned) > 1000
    long_values = {p["value"] for p in planted if len(p["value"]) >= 5}  # names are checked in their own row above
    leaks = [(name, v) for name, v in scanned for value in long_values if value in v]
    assert leaks == []
    bronze = " ".join(r["payload"] for r in read_rows(settings, "bronze.care_calls", ["payload"]))
    assert all(p["value"] in bronze for p in planted if p["source"] == "calls")  # the raw text stays in bronze


def test_ingest_redacts_hand_written_transcripts_and_notes(tmp_path: Path, landing: Path) -> None:
    """Rows appended to a copy of the shared landing: every PII type, in both free-text columns."""
    own = tmp_path / "landing"
    shutil.copytree(landing, own)
    day = f"date={START.isoformat()}"
    registry = next(csv.DictReader((own / "registry" / day / "residents.csv").open(encoding="utf-8")))
    name, resident = registry["name"], registry["resident_id"]
    text = (
        f"[어르신] 저 {name}이에요. {name[1:]}가 제 이름이에요. 딸 박지영한테 010 9876 5432로 연락 주세요. "
        "주민번호는 450312-2345678, 메일은 jiyoung.park@naver.com, 집은 경기도 수원시 팔달구 효원로 123 105동 1203호예요. "
        "[어르신] 3번 버스 타고 경로당 다녀왔어요, 혈압 140/90."
    )
    expected = (
        "[어르신] 저 <이름>이에요. <이름>가 제 이름이에요. 딸 <이름>한테 <전화번호>로 연락 주세요. "
        "주민번호는 <주민등록번호>, 메일은 <이메일>, 집은 <주소>예요. "
        "[어르신] 3번 버스 타고 경로당 다녀왔어요, 혈압 140/90."
    )
    answered = [
        (path, dict(zip(columns, row, strict=True)))
        for path in sorted(own.glob("calls/date=*/hyodol.csv"))
        for columns in [path.read_text(encoding="utf-8").splitlines()[0].split(",")]
        for row in csv.reader(path.read_text(encoding="utf-8").splitlines()[1:])
        if len(row) == len(columns) and row[columns.index("outcome")] == "answered"
    ]
    calls, template = answered[0]
    columns = list(template)
    call = template | {"call_id": "HYD-20261102-pii00001", "resident_id": resident, "transcript": text}
    visits = own / "visits" / day / "visits.csv"
    visit = {
        "visit_id": "V20261101-9901",
        "resident_id": resident,
        "visited_at": f"{START.isoformat()} 10:00:00",
        "worker_id": "W41110-01",
        "reason": "routine",
        "outcome": "no_issue",
        "notes": text,
    }
    for path, row, names in ((calls, call, columns), (visits, visit, list(visit))):
        with path.open("a", encoding="utf-8", newline="") as out:
            csv.writer(out, lineterminator="\n").writerow([row[c] for c in names])

    settings = make_settings(tmp_path / "lakehouse")
    ingest(settings, str(own))
    (transcript,) = [r["transcript"] for r in read_rows(settings, "silver.care_calls") if r["call_id"] == call["call_id"]]
    (notes,) = [r["notes"] for r in read_rows(settings, "silver.visit_outcomes") if r["visit_id"] == visit["visit_id"]]
    assert transcript == expected and notes == expected
    bronze = [r["payload"] for r in read_rows(settings, "bronze.visit_outcomes", ["payload"])]
    assert any("450312-2345678" in p for p in bronze)  # raw text only in the restricted zone
