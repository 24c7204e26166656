"""Landing sources: where each feed's files are, and how to read one file into raw records.

Readers keep every record, however broken: a line that cannot be decoded or split is still a
bronze row, flagged in `_read_error`, so silver can quarantine it with a reason. Only a file that
cannot be read at all (corrupt gzip, unparseable page, zero bytes) is rejected whole, and the
manifest records why.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import PurePosixPath

import pyarrow as pa
import pyarrow.compute as pc

KST = timezone(timedelta(hours=9))


class FileRejected(Exception):
    """The whole file is unusable; `reason` is the manifest's reason code."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class Records:
    """What a reader found in one file, as parallel Arrow arrays."""

    payloads: pa.Array  # string
    errors: pa.Array  # string, null where the record was read faithfully
    lines: pa.Array  # int64

    @classmethod
    def from_lists(cls, payloads: list[str], errors: list[str | None], lines: list[int]) -> Records:
        return cls(pa.array(payloads, pa.string()), pa.array(errors, pa.string()), pa.array(lines, pa.int64()))

    def __len__(self) -> int:
        return len(self.payloads)


Reader = Callable[[bytes, str], Records]


def _decode_lines(raw: bytes, encoding: str) -> tuple[list[str], list[str | None]]:
    """Split into lines and decode; a line that does not decode is kept (replacement chars) and flagged."""
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        lines_b = raw.split(b"\n")
        if lines_b and lines_b[-1] == b"":
            lines_b.pop()
        texts: list[str] = []
        errors: list[str | None] = []
        for line in lines_b:
            try:
                texts.append(line.decode(encoding))
                errors.append(None)
            except UnicodeDecodeError:
                texts.append(line.decode(encoding, errors="replace"))
                errors.append("bad_encoding")
        return texts, errors
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines, [None] * len(lines)


def read_jsonl_gz(data: bytes, path: str) -> Records:
    if not data:
        raise FileRejected("empty_file", "0 bytes")
    try:
        raw = gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as exc:
        raise FileRejected("corrupt_gzip", str(exc)) from None
    if not raw.strip():
        raise FileRejected("empty_file", "no lines after decompression")
    try:
        # Fast path, all in Arrow: validate UTF-8 once and split without Python strings.
        text = pa.array([raw], pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:
        texts, errors = _decode_lines(raw, "utf-8")
        return Records.from_lists(texts, errors, list(range(1, len(texts) + 1)))
    lines = pc.list_flatten(pc.split_pattern(text, "\n"))
    if raw.endswith(b"\n"):
        lines = lines.slice(0, len(lines) - 1)
    n = len(lines)
    return Records(lines, pa.nulls(n, pa.string()), pa.array(range(1, n + 1), pa.int64()))


def read_csv(data: bytes, path: str, encoding: str = "utf-8") -> Records:
    """One record per physical line (the contract forbids embedded newlines); header on line 1."""
    if not data.strip():
        raise FileRejected("empty_file", "0 bytes" if not data else "only whitespace")
    texts, errors = _decode_lines(data.removeprefix(b"\xef\xbb\xbf"), encoding)
    if errors[0] is not None:
        raise FileRejected("bad_encoding", f"header is not valid {encoding}")
    header = next(csv.reader([texts[0]]))
    payloads: list[str] = []
    read_errors: list[str | None] = []
    lines: list[int] = []
    for number, (text, error) in enumerate(zip(texts[1:], errors[1:]), start=2):
        if not text.strip():
            continue  # a blank line is not a record
        fields = next(csv.reader([text]))
        if error is None and len(fields) != len(header):
            error = "malformed_row"
        if error is None:
            payloads.append(json.dumps(dict(zip(header, fields)), ensure_ascii=False))
        else:
            payloads.append(text)
        read_errors.append(error)
        lines.append(number)
    return Records.from_lists(payloads, read_errors, lines)


def read_national_xml(data: bytes, path: str) -> Records:
    """National welfare open API page: each <servList> item becomes one record."""
    if not data.strip():
        raise FileRejected("empty_file")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise FileRejected("malformed_xml", str(exc)) from None
    code = (root.findtext("resultCode") or "0").strip()
    if code not in ("0", "00"):
        raise FileRejected("api_error", f"resultCode={code} {root.findtext('resultMessage') or ''}".strip())
    items = [{child.tag: (child.text or "").strip() for child in item} for item in root.iter("servList")]
    return _json_records(items)


def read_provincial_json(data: bytes, path: str) -> Records:
    """Provincial open-data page: `{SVC: [{head: [...]}, {row: [...]}]}`; INFO-200 means no data."""
    if not data.strip():
        raise FileRejected("empty_file")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileRejected("malformed_json_page", str(exc)) from None
    result = doc.get("RESULT") if isinstance(doc, dict) else None
    if result is not None:
        if result.get("CODE") == "INFO-200":
            return Records.from_lists([], [], [])
        raise FileRejected("api_error", f"{result.get('CODE')} {result.get('MESSAGE', '')}".strip())
    try:
        (sections,) = doc.values()
        rows = next(part["row"] for part in sections if "row" in part)
    except (ValueError, StopIteration, TypeError, AttributeError):
        raise FileRejected("malformed_json_page", "expected {SVC: [{head: …}, {row: […]}]}") from None
    return _json_records(rows)


def _json_records(items: list[dict]) -> Records:
    payloads = [json.dumps(item, ensure_ascii=False) for item in items]
    return Records.from_lists(payloads, [None] * len(payloads), list(range(1, len(payloads) + 1)))


def _calls_reader(data: bytes, path: str) -> Records:
    # Encoding is a per-vendor contract (dasom exports CP949); guessing per file could silently
    # turn valid bytes into the wrong text.
    vendor = PurePosixPath(path).stem.split("-")[0]
    return read_csv(data, path, CALL_VENDOR_ENCODINGS.get(vendor, "utf-8"))


CALL_VENDOR_ENCODINGS = {"dasom": "cp949"}

# The delivery date or quarter a landing path states, e.g. `date=2026-10-01/hour=07` or `quarter=2026Q3`.
# Written with [0-9] so the same patterns work as Python and as engine (Java/Rust) regular expressions.
PATH_DATE = "date=([0-9]{4}-[0-9]{2}-[0-9]{2})"
PATH_QUARTER = "quarter=([0-9]{4})Q([1-4])"
_PATH_TIME = re.compile(f"{PATH_DATE}(?:/hour=([0-9]{{2}}))?|{PATH_QUARTER}")


def file_time(path: str) -> datetime | None:
    """The delivery time a landing path states: its hour, day or quarter start, in KST."""
    match = _PATH_TIME.search(path)
    if not match:
        return None
    day, hour, year, quarter = match.groups()
    if day:
        moment = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=KST)
        return moment + timedelta(hours=int(hour)) if hour else moment
    return datetime(int(year), 3 * int(quarter) - 2, 1, tzinfo=KST)


@dataclass(frozen=True)
class Source:
    name: str
    pattern: str  # glob under the landing root
    bronze: str  # bronze table name
    reader: Reader


# Landing order matters: the registry comes first so that every other feed finds its residents.
SOURCES: tuple[Source, ...] = (
    Source("registry", "registry/date=*/*.csv", "bronze.registry_residents", read_csv),
    Source("sensors", "sensors/date=*/hour=*/*.jsonl.gz", "bronze.sensor_readings", read_jsonl_gz),
    Source("calls", "calls/date=*/*.csv", "bronze.care_calls", _calls_reader),
    Source("visits", "visits/date=*/*.csv", "bronze.visit_outcomes", read_csv),
    Source("welfare_national", "policies/national/date=*/*.xml", "bronze.welfare_national", read_national_xml),
    Source("welfare_provincial", "policies/provincial/date=*/*.json", "bronze.welfare_provincial", read_provincial_json),
    Source("search_ranking", "policies/search_ranking/date=*/*.csv", "bronze.policy_search_ranking", read_csv),
    Source("industry", "industry/quarter=*/*.csv", "bronze.companies", read_csv),
)
