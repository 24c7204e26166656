"""Landing readers: every record is kept (flagged if unreadable); only unusable files are rejected."""

from __future__ import annotations

import gzip
import json
from datetime import datetime

import pytest

from spark_jobs.bronze import scan
from spark_jobs.landing import (
    KST,
    FileRejected,
    _calls_reader,
    file_time,
    read_csv,
    read_jsonl_gz,
    read_national_xml,
    read_provincial_json,
)


def test_jsonl_keeps_every_line_and_flags_undecodable_ones():
    raw = b'{"a": 1}\n{"a": "\xff\xfe"}\n{broken\n'
    records = read_jsonl_gz(gzip.compress(raw), "x.jsonl.gz")
    assert records.lines.to_pylist() == [1, 2, 3]
    assert records.errors.to_pylist() == [None, "bad_encoding", None]
    assert records.payloads.to_pylist()[2] == "{broken"


def test_jsonl_fast_path_matches_line_numbers():
    lines = [json.dumps({"i": i, "t": "가나다"}, ensure_ascii=False) for i in range(1000)]
    records = read_jsonl_gz(gzip.compress(("\n".join(lines) + "\n").encode()), "x.jsonl.gz")
    assert len(records) == 1000 and records.payloads.to_pylist() == lines
    assert records.lines.to_pylist()[-1] == 1000 and records.errors.null_count == 1000


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty_file"), (gzip.compress(b""), "empty_file"), (gzip.compress(b'{"a": 1}\n' * 50)[:-12], "corrupt_gzip")],
)
def test_unusable_gzip_files_are_rejected_with_a_reason(data, reason):
    with pytest.raises(FileRejected) as info:
        read_jsonl_gz(data, "x.jsonl.gz")
    assert info.value.reason == reason


def test_csv_rows_become_json_objects_and_bad_rows_are_flagged():
    data = b'a,b\n1,2\n3\n\n4,"x,y"\n'
    records = read_csv(data, "x.csv")
    assert records.lines.to_pylist() == [2, 3, 5]  # the blank line is not a record
    assert records.errors.to_pylist() == [None, "malformed_row", None]
    assert json.loads(records.payloads[2].as_py()) == {"a": "4", "b": "x,y"}


def test_cp949_vendor_is_read_as_cp949_and_a_foreign_line_is_flagged():
    header = "call_id,transcript\n"
    good = header + "C1,안녕하세요 식사는 하셨어요\n"
    records = _calls_reader(good.encode("cp949"), "calls/date=2026-11-01/dasom.csv")
    assert json.loads(records.payloads[0].as_py())["transcript"] == "안녕하세요 식사는 하셨어요"
    mixed = header.encode() + "C1,안녕\n".encode("cp949") + "C2,네\n".encode()
    records = _calls_reader(mixed, "calls/date=2026-11-01/hyodol.csv")
    assert records.errors.to_pylist() == ["bad_encoding", None]


def test_national_xml_items_and_malformed_pages():
    page = (
        "<wantedList><totalCount>2</totalCount><resultCode>0</resultCode>"
        "<servList><servId>WLF1</servId><servNm>노인 돌봄</servNm></servList>"
        "<servList><servId>WLF2</servId><servNm>긴급 복지</servNm></servList></wantedList>"
    ).encode()
    records = read_national_xml(page, "p.xml")
    assert [json.loads(p)["servId"] for p in records.payloads.to_pylist()] == ["WLF1", "WLF2"]
    with pytest.raises(FileRejected) as info:
        read_national_xml(page[:-20], "p.xml")
    assert info.value.reason == "malformed_xml"


def test_provincial_pages_no_data_and_errors():
    page = {
        "GgWelfareSvc": [
            {"head": [{"list_total_count": 1}, {"RESULT": {"CODE": "INFO-000"}}]},
            {"row": [{"SVC_ID": "G1", "SVC_NM": "경기 돌봄"}]},
        ]
    }
    assert len(read_provincial_json(json.dumps(page).encode(), "p.json")) == 1
    empty = {"RESULT": {"CODE": "INFO-200", "MESSAGE": "해당하는 데이터가 없습니다."}}
    assert len(read_provincial_json(json.dumps(empty).encode(), "p.json")) == 0
    with pytest.raises(FileRejected) as info:
        read_provincial_json(json.dumps({"RESULT": {"CODE": "ERROR-300"}}).encode(), "p.json")
    assert info.value.reason == "api_error"


def test_file_time_comes_from_the_landing_path():
    assert file_time("sensors/date=2026-11-03/hour=07/gw-01.jsonl.gz") == datetime(2026, 11, 3, 7, tzinfo=KST)
    assert file_time("calls/date=2026-11-03/dasom.csv") == datetime(2026, 11, 3, tzinfo=KST)
    assert file_time("industry/quarter=2026Q3/companies.csv") == datetime(2026, 7, 1, tzinfo=KST)
    assert file_time("elsewhere/x.csv") is None


def test_scan_skips_generator_side_files_and_unknown_paths(tmp_path):
    (tmp_path / "calls" / "date=2026-11-01").mkdir(parents=True)
    (tmp_path / "calls" / "date=2026-11-01" / "hyodol.csv").write_text("a\n")
    (tmp_path / "_generator").mkdir()
    (tmp_path / "_generator" / "truth.csv").write_text("a\n")
    (tmp_path / "notes.txt").write_text("hello")
    found = [(entry.source.name, entry.path) for entry in scan(str(tmp_path))]
    assert found == [("calls", "calls/date=2026-11-01/hyodol.csv")]
    with pytest.raises(FileNotFoundError):
        scan(str(tmp_path / "missing"))
