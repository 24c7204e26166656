"""Input limits: oversized lines are quarantined as previews, oversized files and gzip bombs refused
unread, symlinks out of the landing root refused, an unreachable landing URL is one clear line."""

from __future__ import annotations

import gzip
import json
import random
import shutil
import socket
import threading
import tracemalloc
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import count, read_rows

from gglake.catalog import QUARANTINE
from gglake.cli import main
from gglake.settings import Settings
from sources.generate import generate
from spark_jobs import bronze, landing
from spark_jobs.ingest import ingest
from spark_jobs.landing import (
    DEFAULT_LIMITS,
    OVERSIZED_PREVIEW_BYTES,
    FileRejected,
    Limits,
    _calls_reader,
    read_csv,
    read_jsonl_gz,
    read_national_xml,
    read_provincial_json,
)

MiB = 1024**2
DAY = datetime(2026, 11, 1).date()


def _preview(line: bytes, limit: int) -> bytes:
    """The expected payload of an oversized line: its first bytes, cut before a split UTF-8 character."""
    cut = min(OVERSIZED_PREVIEW_BYTES, limit)
    for _ in range(3):
        if line[cut] & 0xC0 != 0x80:
            break
        cut -= 1
    return line[:cut]


def _reference(raw: bytes, limit: int) -> tuple[list[str], list[str | None]]:
    """What a JSONL reader must return, computed the slow obvious way."""
    lines = raw.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    payloads, errors = [], []
    for line in lines:
        error = None
        if len(line) > limit:
            line, error = _preview(line, limit), "oversized_line"
        try:
            text = line.decode()
        except UnicodeDecodeError:
            text, error = line.decode(errors="replace"), error or "bad_encoding"
        payloads.append(text)
        errors.append(error)
    return payloads, errors


def _peak_while(read) -> tuple[object, int]:
    """What `read()` returns, and the most Python memory it held at once (pyarrow warmed up first: its
    first array lazily imports modules, a one-time cost that is not the reader's)."""
    read_jsonl_gz(gzip.compress(b"{}\n"), "warm-up.jsonl.gz")
    tracemalloc.start()
    try:
        try:
            result = read()
        except FileRejected as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _read(raw: bytes, limits: Limits) -> tuple[list[str], list[str | None]]:
    records = read_jsonl_gz(gzip.compress(raw, 1), "x.jsonl.gz", limits)
    assert records.lines.to_pylist() == list(range(1, len(records) + 1))
    return records.payloads.to_pylist(), records.errors.to_pylist()


# -- readers -----------------------------------------------------------------------------------------


def test_jsonl_oversized_line_is_a_flagged_preview_and_the_other_lines_load():
    limits = Limits(max_line_bytes=64 * 1024)
    long = json.dumps({"note": "가나다" * 30_000}, ensure_ascii=False).encode()  # ~270 KB, 3-byte characters
    raw = b'{"a": 1}\n' + long + b'\n{"a": 2}\n'
    payloads, errors = _read(raw, limits)
    assert errors == [None, "oversized_line", None]
    assert payloads[0] == '{"a": 1}' and payloads[2] == '{"a": 2}'
    assert long.startswith(payloads[1].encode()) and OVERSIZED_PREVIEW_BYTES - 3 <= len(payloads[1].encode()) <= 4096
    assert payloads[1] == _preview(long, limits.max_line_bytes).decode()  # whole characters only


def test_a_line_at_the_limit_is_kept_and_one_byte_more_is_cut():
    limits = Limits(max_line_bytes=10_000)
    at, over = b"x" * 10_000, b"y" * 10_001
    assert _read(at + b"\n" + over, limits) == ([at.decode(), "y" * 4096], [None, "oversized_line"])


@pytest.mark.parametrize("chunk", [7, 4096, 100_000])
def test_lines_are_cut_the_same_wherever_decompression_steps_fall(monkeypatch, chunk):
    monkeypatch.setattr(landing, "_GUNZIP_CHUNK", chunk)
    rng = random.Random(chunk)
    limit = 5_000
    pieces = []
    for _ in range(300):
        kind = rng.random()
        size = rng.choice([0, 1, 50, 4_999, 5_000, 5_001, 12_345, 60_000]) if kind < 0.3 else rng.randrange(200)
        pieces.append(("가" * (size // 3 + 1)).encode()[:size] if kind < 0.6 else b"z" * size)
    valid = b"\n".join(pieces) + b"\n"
    assert _read(valid, Limits(max_line_bytes=limit)) == _reference(valid, limit)
    broken = valid + b'{"bad": "\xff\xfe"}\n' + b"q" * 9_000  # one undecodable line: the per-line path
    expected = _reference(broken, limit)
    assert "bad_encoding" in expected[1] and _read(broken, Limits(max_line_bytes=limit)) == expected


def test_default_limits_cut_a_200_mb_line_without_ever_holding_it():
    """The issue's shape: a ~1 MB gzip (here 25 gzip members) holding one 200 MB garbage line."""
    member = gzip.compress(b"A" * (8 * MiB), 1)
    data = gzip.compress(b'{"a": 1}\n', 1) + member * 25 + gzip.compress(b'\n{"a": 2}\n', 1)
    assert len(data) < 1 * MiB
    records, peak = _peak_while(lambda: read_jsonl_gz(data, "x.jsonl.gz", DEFAULT_LIMITS))
    assert records.errors.to_pylist() == [None, "oversized_line", None]
    assert records.payloads.to_pylist()[1] == "A" * OVERSIZED_PREVIEW_BYTES
    assert 200 * MiB > 100 * DEFAULT_LIMITS.max_line_bytes  # far over the default, as in the issue
    assert peak < 16 * MiB, f"peak {peak / MiB:.0f} MiB: the line was held"


def test_gzip_bomb_is_refused_once_it_expands_past_the_cap():
    line = b"0" * 1023 + b"\n"
    bomb = gzip.compress(line * (50 * 1024), 9)  # 50 MiB in ~50 KB
    refused, peak = _peak_while(lambda: read_jsonl_gz(bomb, "x.jsonl.gz", Limits(max_decompressed_bytes=16 * MiB)))
    assert isinstance(refused, FileRejected) and refused.reason == "decompression_bomb"
    assert peak < 32 * MiB, f"peak {peak / MiB:.0f} MiB"  # the 16 MiB read before the cap, not the 50 MiB
    assert len(read_jsonl_gz(bomb, "x.jsonl.gz", Limits(max_decompressed_bytes=64 * MiB))) == 50 * 1024


def test_multi_member_and_zero_padded_gzip_still_read_and_broken_ones_are_corrupt():
    data = gzip.compress(b'{"a": 1}\n') + b"\x00" * 16 + gzip.compress(b'{"a": 2}\n')
    assert read_jsonl_gz(data, "x.jsonl.gz").payloads.to_pylist() == ['{"a": 1}', '{"a": 2}']
    for broken in (data + b"garbage", data[:-3], b"not a gzip at all"):
        with pytest.raises(FileRejected) as info:
            read_jsonl_gz(broken, "x.jsonl.gz")
        assert info.value.reason == "corrupt_gzip"


def test_csv_oversized_rows_are_flagged_previews_in_utf8_and_cp949():
    limits = Limits(max_line_bytes=20_000)
    long = "C2," + "안녕하세요" * 5_000
    text = f"call_id,transcript\nC1,네\n{long}\nC3,식사는 하셨어요\n"
    for vendor, encoding in (("hyodol", "utf-8"), ("dasom", "cp949")):
        records = _calls_reader(text.encode(encoding), f"calls/date=2026-11-01/{vendor}.csv", limits)
        assert records.errors.to_pylist() == [None, "oversized_line", None], vendor
        assert records.lines.to_pylist() == [2, 3, 4]
        payloads = records.payloads.to_pylist()
        assert json.loads(payloads[2]) == {"call_id": "C3", "transcript": "식사는 하셨어요"}
        assert len(payloads[1].encode(encoding, errors="replace")) <= OVERSIZED_PREVIEW_BYTES
        assert payloads[1].startswith("C2,안녕하세요"), vendor
    with pytest.raises(FileRejected) as info:
        read_csv(("h" * 30_000 + "\n1\n").encode(), "x.csv", limits)
    assert info.value.reason == "oversized_line"


def test_a_csv_field_longer_than_the_csv_modules_default_is_not_an_error():
    transcript = "가" * 200_000  # 600 KB, under the 1 MiB line limit; csv's own default field limit is 128 KiB
    records = read_csv(f"id,transcript\n1,{transcript}\n".encode(), "x.csv")
    assert records.errors.to_pylist() == [None]
    assert json.loads(records.payloads[0].as_py())["transcript"] == transcript


def test_page_records_over_the_line_limit_are_flagged_previews():
    limits = Limits(max_line_bytes=10_000)
    big = "노인 돌봄 " * 3_000
    xml = (
        "<wantedList><resultCode>0</resultCode>"
        f"<servList><servId>WLF1</servId><servDgst>{big}</servDgst></servList>"
        "<servList><servId>WLF2</servId><servNm>긴급 복지</servNm></servList></wantedList>"
    ).encode()
    records = read_national_xml(xml, "p.xml", limits)
    assert records.errors.to_pylist() == ["oversized_line", None]
    assert len(records.payloads[0].as_py().encode()) <= OVERSIZED_PREVIEW_BYTES
    assert json.loads(records.payloads[1].as_py())["servId"] == "WLF2"
    page = {"Svc": [{"head": []}, {"row": [{"SVC_ID": "G1", "SVC_SUMRY": big}, {"SVC_ID": "G2"}]}]}
    records = read_provincial_json(json.dumps(page, ensure_ascii=False).encode(), "p.json", limits)
    assert records.errors.to_pylist() == ["oversized_line", None]


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("GGLAKE_MAX_FILE_BYTES", "111")
    monkeypatch.setenv("GGLAKE_MAX_DECOMPRESSED_BYTES", "222")
    monkeypatch.setenv("GGLAKE_MAX_LINE_BYTES", "333")
    assert Limits.of(Settings.from_env()) == Limits(111, 222, 333)
    defaults = Settings(home="x")
    assert defaults.max_line_bytes >= 64 * 1024 and defaults.max_file_bytes >= 64 * MiB
    assert defaults.max_decompressed_bytes >= defaults.max_file_bytes


# -- bronze: files refused unread --------------------------------------------------------------------


def _sensor_file(folder: Path, name: str, lines: list[bytes]) -> Path:
    path = folder / "sensors" / "date=2026-11-01" / "hour=05" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(b"".join(line + b"\n" for line in lines)))
    return path


def _land(settings: Settings, folder: Path) -> dict[str, dict]:
    now = datetime.now(UTC)
    batch = bronze.land(settings, str(folder), bronze.new_batch_id(now), now)
    return {r.file.path: {"status": r.status, "reason": r.reason, "rows": r.rows} for r in batch.results}


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """Every file bronze opens, by the path it opens."""
    opened: list[str] = []
    real = bronze._read_bytes

    def spy(fs, entry, limit):
        opened.append(entry.full)
        return real(fs, entry, limit)

    monkeypatch.setattr(bronze, "_read_bytes", spy)
    return opened


def test_a_file_over_max_file_bytes_is_refused_from_its_listed_size_without_being_read(tmp_path, reads):
    folder = tmp_path / "landing"
    rng = random.Random(1)
    noise = [json.dumps({"n": rng.random()}).encode() for _ in range(20_000)]  # ~500 KB packed
    big = _sensor_file(folder, "gw-01.jsonl.gz", noise)
    small = _sensor_file(folder, "gw-02.jsonl.gz", [b'{"a": 1}'])
    settings = Settings(home=str(tmp_path / "lake"), max_file_bytes=64 * 1024)
    assert big.stat().st_size > settings.max_file_bytes
    rel = "sensors/date=2026-11-01/hour=05/gw-01.jsonl.gz"
    results = _land(settings, folder)
    assert results[rel] == {"status": "failed", "reason": "oversized_file", "rows": 0}
    assert results[rel.replace("gw-01", "gw-02")]["status"] == "loaded"
    assert reads == [str(small)]
    manifest = {r["path"]: r for r in read_rows(settings, "audit.ingest_manifest")}
    assert manifest[rel]["size_bytes"] == big.stat().st_size and manifest[rel]["sha256"].startswith("unread:")
    assert _land(settings, folder) == {}, "an unchanged refused file is recorded once"
    _sensor_file(folder, "gw-01.jsonl.gz", [b'{"a": 2}'])
    assert _land(settings, folder) == {rel: {"status": "loaded", "reason": None, "rows": 1}}


def test_symlinks_leading_out_of_the_landing_root_are_refused_unread(tmp_path, reads):
    folder = tmp_path / "landing"
    outside = tmp_path / "elsewhere"
    secret = _sensor_file(outside, "gw-09.jsonl.gz", [b'{"secret": 1}'])
    _sensor_file(folder, "gw-01.jsonl.gz", [b'{"a": 1}'])
    hour = folder / "sensors" / "date=2026-11-01" / "hour=05"
    (hour / "gw-02.jsonl.gz").symlink_to(secret)  # a file link out
    (folder / "sensors" / "date=2026-11-02").symlink_to(outside / "sensors" / "date=2026-11-01")  # a folder link out
    spare = folder / "_spare"
    spare.mkdir()
    (spare / "gw-03.jsonl.gz").write_bytes(gzip.compress(b'{"a": 3}\n'))
    (hour / "gw-03.jsonl.gz").symlink_to(spare / "gw-03.jsonl.gz")  # a file link that stays inside
    (spare / "day" / "hour=06").mkdir(parents=True)
    (spare / "day" / "hour=06" / "gw-04.jsonl.gz").write_bytes(gzip.compress(b'{"a": 4}\n'))
    (folder / "sensors" / "date=2026-11-03").symlink_to(spare / "day")  # a folder link that stays inside
    (folder / "sensors" / "date=2026-11-04").symlink_to(hour.parent)  # a second way to a folder: read once
    (hour / "loop").symlink_to(folder)  # a link back to the root: must not loop
    settings = Settings(home=str(tmp_path / "lake"))
    results = _land(settings, folder)
    assert results == {
        "sensors/date=2026-11-01/hour=05/gw-01.jsonl.gz": {"status": "loaded", "reason": None, "rows": 1},
        "sensors/date=2026-11-01/hour=05/gw-02.jsonl.gz": {"status": "failed", "reason": "outside_landing", "rows": 0},
        "sensors/date=2026-11-01/hour=05/gw-03.jsonl.gz": {"status": "loaded", "reason": None, "rows": 1},
        "sensors/date=2026-11-02/": {"status": "failed", "reason": "outside_landing", "rows": 0},
        "sensors/date=2026-11-03/hour=06/gw-04.jsonl.gz": {"status": "loaded", "reason": None, "rows": 1},
    }
    assert not [p for p in reads if str(outside) in p], "nothing outside the root is opened"
    payloads = [r["payload"] for r in read_rows(settings, "bronze.sensor_readings")]
    assert '{"secret": 1}' not in payloads and len(payloads) == 3
    assert _land(settings, folder) == {}, "refused links are recorded once"


# -- the whole ingest: planted files, then a normal day ------------------------------------------------


def _reconciles(settings: Settings, batch_id: str) -> list[dict]:
    rows = [r for r in read_rows(settings, "audit.ingest_batches") if r["_batch_id"] == batch_id]
    assert rows
    for r in rows:
        assert r["rows_landed"] == r["rows_bronze"], r
        assert r["rows_bronze"] == r["rows_silver"] + r["rows_quarantined"] + r["duplicates_merged"], r
    return rows


def test_oversized_line_and_gzip_bomb_are_handled_and_later_ingests_keep_working(tmp_path):
    folder = tmp_path / "landing"
    generate(folder, 6, 1, DAY, 11, defect_rate=0)
    settings = Settings(home=str(tmp_path / "lake"), max_line_bytes=1 * MiB, max_decompressed_bytes=16 * MiB)

    # a sensor file with a 2 MB garbage line in the middle
    planted = sorted(folder.glob("sensors/date=*/hour=*/*.jsonl.gz"))[0]
    lines = gzip.decompress(planted.read_bytes()).splitlines()
    garbage = b'{"event_id": "' + b"x" * (2 * MiB) + b'"}'
    planted.write_bytes(gzip.compress(b"\n".join([*lines[:3], garbage, *lines[3:]]) + b"\n"))
    planted_rel = planted.relative_to(folder).as_posix()
    # a CP949 call file with an oversized row, and a gzip bomb (50 MiB unpacked against a 16 MiB cap)
    calls = sorted(folder.glob("calls/date=*/dasom*.csv"))[0]
    calls_rel = calls.relative_to(folder).as_posix()
    calls.write_bytes(calls.read_bytes() + ("CX," + "가" * (MiB // 2 + 10)).encode("cp949") + b"\n")
    bomb = planted.with_name("gw-78.jsonl.gz")
    bomb.write_bytes(gzip.compress(b"0" * (50 * MiB), 9))

    first = ingest(settings, str(folder))
    assert dict(first.failed_files) == {bomb.relative_to(folder).as_posix(): "decompression_bomb"}
    manifest = {r["path"]: r for r in read_rows(settings, "audit.ingest_manifest")}
    assert manifest[planted_rel]["status"] == "loaded" and manifest[planted_rel]["rows"] == len(lines) + 1
    _reconciles(settings, first.batch_id)
    quarantined = [r for q in QUARANTINE for r in read_rows(settings, q.name)]
    assert {(r["_source_file"], r["reason"]) for r in quarantined} == {
        (planted_rel, "oversized_line"),
        (calls_rel, "oversized_line"),
    }
    by_file = {r["_source_file"]: r for r in quarantined}
    assert by_file[planted_rel]["_line"] == 4
    assert by_file[planted_rel]["payload"] == garbage[:OVERSIZED_PREVIEW_BYTES].decode()
    assert by_file[calls_rel]["payload"].startswith("CX,가가가")
    silver = read_rows(settings, "silver.sensor_readings", ["_source_file"])
    assert sum(r["_source_file"] == planted_rel for r in silver) == len(lines), "the rest of the file loads"
    assert max(len(r["payload"]) for r in read_rows(settings, "bronze.sensor_readings", ["payload"])) <= 4096

    before = count(settings, "silver.sensor_readings")
    generate(folder, 6, 1, DAY + timedelta(days=1), 11, defect_rate=0)
    second = ingest(settings, str(folder))
    assert second.failed_files == [] and second.new_files > 0
    runs = _reconciles(settings, second.batch_id)
    assert {r["bronze_table"] for r in runs} >= {"bronze.sensor_readings", "bronze.care_calls"}
    assert count(settings, "silver.sensor_readings") > before
    days = {r["reading_date"] for r in read_rows(settings, "silver.sensor_readings", ["reading_date", "_batch_id"])}
    assert max(days) == DAY + timedelta(days=1)


# -- a landing URL that cannot be reached ------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _s3_env(monkeypatch, tmp_path, endpoint: str) -> None:
    monkeypatch.setenv("GGLAKE_HOME", str(tmp_path / "lake"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setattr(bronze, "S3_ATTEMPTS", 1)  # fail at once instead of backing off


def _one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # a handled error, not a crash
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_unreachable_landing_bucket_is_one_clear_line(tmp_path, monkeypatch):
    _s3_env(monkeypatch, tmp_path, f"http://127.0.0.1:{_closed_port()}")
    result = CliRunner().invoke(main, ["ingest", "--landing", "s3://no-such-bucket/landing"])
    line = _one_line_error(result)
    assert "s3://no-such-bucket/landing" in line and "cannot be read" in line


class _NoSuchBucket(BaseHTTPRequestHandler):
    BODY = (
        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucket</Code>'
        b"<Message>The specified bucket does not exist</Message></Error>"
    )

    def _answer(self) -> None:
        self.send_response(404)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(self.BODY)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(self.BODY)

    do_GET = do_HEAD = do_PUT = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


def test_landing_bucket_that_does_not_exist_is_one_clear_line(tmp_path, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoSuchBucket)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _s3_env(monkeypatch, tmp_path, f"http://127.0.0.1:{server.server_port}")
        result = CliRunner().invoke(main, ["ingest", "--landing", "s3://no-such-bucket/landing"])
    finally:
        server.shutdown()
        server.server_close()
    line = _one_line_error(result)
    assert "s3://no-such-bucket/landing" in line and "does not exist" in line
    shutil.rmtree(tmp_path / "lake", ignore_errors=True)
