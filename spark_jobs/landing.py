"""Landing sources: where each feed's files are, and how to read one file into raw records.

Readers keep every record, however broken: a line that cannot be decoded or split is still a
bronze row, flagged in `_read_error`, so silver can quarantine it with a reason. Only a file that
cannot be read at all is rejected whole, and the manifest records why.

Record flags (`_read_error`, passed through as the quarantine reason):

  bad_encoding        the line is not valid text in the feed's encoding (kept with replacement chars)
  malformed_row       a CSV row with the wrong number of fields
  oversized_line      a line (or page record) over `max_line_bytes`; the payload keeps only its first
                      OVERSIZED_PREVIEW_BYTES, the rest is dropped while reading

File reasons (manifest status `failed`, reason):

  empty_file, corrupt_gzip, malformed_xml, malformed_json_page, api_error, bad_encoding (header)
  oversized_file      larger than `max_file_bytes` as delivered: never read
  decompression_bomb  a gzip that expands past `max_decompressed_bytes`: decompression stops there
  oversized_line      the CSV header line is over `max_line_bytes` (no row can be taken apart)
  outside_landing     a symlink (or a file under a symlinked folder) whose real path leaves the
                      landing root: never read (set by spark_jobs.bronze)
"""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import PurePosixPath

import pyarrow as pa
import pyarrow.compute as pc

from gglake.settings import Settings

KST = timezone(timedelta(hours=9))

# What an oversized line keeps as its payload (cut on a UTF-8 character boundary): enough to see what it
# was in the quarantine, small enough that no bronze page or Parquet statistic grows with the input.
OVERSIZED_PREVIEW_BYTES = 4096
_GUNZIP_CHUNK = 1024**2  # decompressed bytes per step: memory holds one step, never a whole oversized line
_GUNZIP_INPUT = 16 * 1024  # compressed bytes given to zlib at a time
_NON_ZERO = re.compile(b"[^\\x00]")


class FileRejected(Exception):
    """The whole file is unusable; `reason` is the manifest's reason code."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Limits:
    """Input limits (see Settings): past them a file is refused or a line cut, never held whole."""

    max_file_bytes: int = Settings.max_file_bytes
    max_decompressed_bytes: int = Settings.max_decompressed_bytes
    max_line_bytes: int = Settings.max_line_bytes

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.max_file_bytes, settings.max_decompressed_bytes, settings.max_line_bytes)


DEFAULT_LIMITS = Limits()


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


Reader = Callable[[bytes, str, Limits], Records]


class _CappedLines:
    """Collects a byte stream line by line, except that a line over `limit` bytes keeps only its first
    OVERSIZED_PREVIEW_BYTES (cut on a UTF-8 boundary) and the rest of it is dropped as it streams by.

    `buf` then holds every line (cut ones shortened, newlines kept, so line numbers do not move) and
    `oversized` the 1-based numbers of the cut lines. Normal input costs a find/rfind per step and one
    copy into `buf`; the per-line work happens only around a line that is too long.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.preview = min(OVERSIZED_PREVIEW_BYTES, limit)
        self.buf = bytearray()
        self.oversized: list[int] = []
        self._start = 0  # where the open (not yet ended) line begins in buf
        self._dropping = False  # the open line was cut: drop bytes up to its newline
        self._counted = 0  # buf[:_counted] has had its newlines counted …
        self._newlines = 0  # … and holds this many

    def feed(self, data: bytes, lo: int = 0, hi: int | None = None) -> None:
        hi = len(data) if hi is None else hi
        view = memoryview(data)
        pos = lo
        line_by_line = False
        while pos < hi:
            if self._dropping:
                nl = data.find(b"\n", pos, hi)
                if nl < 0:
                    return
                self._dropping = False
                pos = nl  # this newline ends the cut line
            nl = data.find(b"\n", pos, hi)
            end = hi if nl < 0 else nl
            if len(self.buf) - self._start + end - pos > self.limit:
                self._cut(view, pos, end)
                pos = end
                continue
            if nl < 0:
                self.buf += view[pos:hi]
                return
            # The open line ends at nl; take the complete lines after it in one go where none is too long.
            last = nl if line_by_line else data.rfind(b"\n", nl, hi)
            if last > nl and not self._fits(data, nl, last):
                line_by_line, last = True, nl
            self.buf += view[pos : last + 1]
            self._start = len(self.buf)
            pos = last + 1

    def feed_all(self, data: bytes, step: int = 4 * 1024**2) -> _CappedLines:
        for lo in range(0, len(data), step):
            self.feed(data, lo, min(lo + step, len(data)))
        return self

    def _fits(self, data: bytes, nl: int, last: int) -> bool:
        """Whether every line strictly between the newlines at `nl` and `last` is within the limit."""
        if last - nl - 1 <= self.limit:
            return True
        lines = pc.list_flatten(pc.split_pattern(pa.array([data[nl + 1 : last]], pa.binary()), "\n"))
        return pc.max(pc.binary_length(lines)).as_py() <= self.limit

    def _cut(self, view: memoryview, pos: int, end: int) -> None:
        """The open line (buf[_start:] + view[pos:end]) is over the limit: keep its preview only."""
        have = len(self.buf) - self._start
        if have <= self.preview:
            self.buf += view[pos : pos + self.preview + 1 - have]
        cut = self._start + _char_boundary(self.buf, self._start, self.preview)
        del self.buf[cut:]
        self._newlines += self.buf.count(b"\n", self._counted, self._start)
        self._counted = self._start
        self.oversized.append(self._newlines + 1)
        self._dropping = True


def _gunzip(data: bytes, cap: int) -> Iterator[bytes]:
    """Decompress a (possibly multi-member) gzip step by step, refusing it once it expands past `cap`.

    Input goes in in _GUNZIP_INPUT slices, so no step copies the rest of the file (many tiny members
    cost linear time, not quadratic)."""
    view = memoryview(data)
    total = pos = 0
    member = None
    pending: bytes | memoryview = b""
    try:
        while True:
            if member is None:
                if pos:  # as gzip.decompress: zero padding may follow a member
                    found = _NON_ZERO.search(data, pos)
                    pos = found.start() if found else len(data)
                if pos >= len(data):
                    return
                member = zlib.decompressobj(wbits=31)  # gzip header and trailer (CRC, length) checked by zlib
            if not pending and pos < len(data):
                pending = view[pos : pos + _GUNZIP_INPUT]
                pos += len(pending)
            out = member.decompress(pending, _GUNZIP_CHUNK)
            pending = member.unconsumed_tail
            if not out and not pending and not member.eof and pos >= len(data):
                raise FileRejected("corrupt_gzip", "compressed file ended before the end-of-stream marker")
            total += len(out)
            if total > cap:
                raise FileRejected("decompression_bomb", f"expands past {cap:,} bytes (max_decompressed_bytes)")
            if out:
                yield out
            if member.eof:
                pos -= len(member.unused_data) + len(pending)  # what followed the member in this slice
                member, pending = None, b""
    except zlib.error as exc:
        raise FileRejected("corrupt_gzip", str(exc)) from None


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


def _utf8_lines(raw: bytearray) -> Records:
    """One record per line; all in Arrow (no Python strings) when the whole text is valid UTF-8."""
    large = len(raw) >= 2**31 - 1
    offsets = pa.array([0, len(raw)], pa.int64() if large else pa.int32()).buffers()[1]
    blob = pa.Array.from_buffers(pa.large_binary() if large else pa.binary(), 1, [None, offsets, pa.py_buffer(raw)])
    try:
        text = blob.cast(pa.large_string() if large else pa.string())  # validates UTF-8 once, no copy
    except pa.ArrowInvalid:
        texts, errors = _decode_lines(bytes(raw), "utf-8")  # bytes split and decode faster than a bytearray
        return Records.from_lists(texts, errors, list(range(1, len(texts) + 1)))
    lines = pc.list_flatten(pc.split_pattern(text, "\n"))
    if raw.endswith(b"\n"):
        lines = lines.slice(0, len(lines) - 1)
    n = len(lines)
    return Records(lines, pa.nulls(n, pa.string()), pa.array(range(1, n + 1), pa.int64()))


def read_jsonl_gz(data: bytes, path: str, limits: Limits = DEFAULT_LIMITS) -> Records:
    if not data:
        raise FileRejected("empty_file", "0 bytes")
    capped = _CappedLines(limits.max_line_bytes)
    for chunk in _gunzip(data, limits.max_decompressed_bytes):
        capped.feed(chunk)
    raw = capped.buf
    if not raw or raw.isspace():
        raise FileRejected("empty_file", "no lines after decompression")
    records = _utf8_lines(raw)
    if capped.oversized:  # every line is a record here, so line n is row n - 1
        errors = records.errors.to_pylist()
        for number in capped.oversized:
            errors[number - 1] = "oversized_line"
        records.errors = pa.array(errors, pa.string())
    return records


def read_csv(data: bytes, path: str, limits: Limits = DEFAULT_LIMITS, encoding: str = "utf-8") -> Records:
    """One record per physical line (the contract forbids embedded newlines); header on line 1."""
    if not data or data.isspace():
        raise FileRejected("empty_file", "0 bytes" if not data else "only whitespace")
    capped = _CappedLines(limits.max_line_bytes).feed_all(data)
    oversized = set(capped.oversized)
    if 1 in oversized:
        raise FileRejected("oversized_line", f"the header line is over {limits.max_line_bytes:,} bytes")
    texts, errors = _decode_lines(bytes(capped.buf).removeprefix(b"\xef\xbb\xbf"), encoding)
    if errors[0] is not None:
        raise FileRejected("bad_encoding", f"header is not valid {encoding}")
    # A field may be as long as a line may be (the csv module's own default limit is 128 KiB).
    if csv.field_size_limit() < limits.max_line_bytes:
        csv.field_size_limit(limits.max_line_bytes)
    header = next(csv.reader([texts[0]]))
    payloads: list[str] = []
    read_errors: list[str | None] = []
    lines: list[int] = []
    for number, (text, error) in enumerate(zip(texts[1:], errors[1:]), start=2):
        if number in oversized:
            error = "oversized_line"  # the preview is not a row any more: keep it as text
        elif not text.strip():
            continue  # a blank line is not a record
        fields: list[str] = []
        if error is None:
            try:
                fields = next(csv.reader([text]))
            except csv.Error:
                error = "malformed_row"
        if error is None and len(fields) != len(header):
            error = "malformed_row"
        if error is None:
            payloads.append(json.dumps(dict(zip(header, fields)), ensure_ascii=False))
        else:
            payloads.append(text)
        read_errors.append(error)
        lines.append(number)
    return Records.from_lists(payloads, read_errors, lines)


def read_national_xml(data: bytes, path: str, limits: Limits = DEFAULT_LIMITS) -> Records:
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
    return _json_records(items, limits)


def read_provincial_json(data: bytes, path: str, limits: Limits = DEFAULT_LIMITS) -> Records:
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
    return _json_records(rows, limits)


def _json_records(items: list[dict], limits: Limits = DEFAULT_LIMITS) -> Records:
    """One JSON payload per page record; a record over the line limit keeps a preview and is flagged."""
    limit = limits.max_line_bytes
    payloads: list[str] = []
    errors: list[str | None] = []
    for item in items:
        payload = json.dumps(item, ensure_ascii=False)
        error = None
        if len(payload) > limit // 4 and len(encoded := payload.encode()) > limit:  # ≤ 4 bytes per character
            payload = _preview(encoded, min(OVERSIZED_PREVIEW_BYTES, limit))
            error = "oversized_line"
        payloads.append(payload)
        errors.append(error)
    return Records.from_lists(payloads, errors, list(range(1, len(payloads) + 1)))


def _preview(encoded: bytes, size: int) -> str:
    return encoded[: _char_boundary(encoded, 0, size)].decode("utf-8", errors="replace")


def _char_boundary(data: bytes | bytearray, start: int, size: int) -> int:
    """At most `size`: where to cut data[start:] (longer than `size`) without splitting a UTF-8 character."""
    cut = size
    while cut > max(0, size - 3) and data[start + cut] & 0xC0 == 0x80:  # continuation byte: back off (≤ 3)
        cut -= 1
    return cut


def _calls_reader(data: bytes, path: str, limits: Limits = DEFAULT_LIMITS) -> Records:
    # Encoding is a per-vendor contract (dasom exports CP949); guessing per file could silently
    # turn valid bytes into the wrong text.
    vendor = PurePosixPath(path).stem.split("-")[0]
    return read_csv(data, path, limits, CALL_VENDOR_ENCODINGS.get(vendor, "utf-8"))


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


def _kst(moment: datetime) -> datetime:
    return moment.replace(tzinfo=KST) if moment.tzinfo is None else moment.astimezone(KST)


def interval_folders(pattern: str, start: datetime, end: datetime) -> list[str]:
    """The landing folders of a source pattern that hold the deliveries for [start, end), '/'-terminated.

    Naive datetimes are KST. An hourly source (`date=*/hour=*`) gives one folder per hour, a daily one
    one per day, a quarterly one (`quarter=*`) each quarter the interval touches.
    """
    start, end = _kst(start), _kst(end)
    if end <= start:
        raise ValueError(f"interval end {end:%Y-%m-%d %H:%M} is not after its start {start:%Y-%m-%d %H:%M}")
    folders = pattern.split("/")[:-1]
    last = end - timedelta(microseconds=1)
    if "hour=*" in folders:
        step, moment = timedelta(hours=1), start.replace(minute=0, second=0, microsecond=0)
    elif "quarter=*" in folders:
        step, moment = None, datetime(start.year, 3 * ((start.month - 1) // 3) + 1, 1, tzinfo=KST)
    else:
        step, moment = timedelta(days=1), start.replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    while moment <= last:
        names = {
            "date=*": f"date={moment:%Y-%m-%d}",
            "hour=*": f"hour={moment:%H}",
            "quarter=*": f"quarter={moment.year}Q{(moment.month - 1) // 3 + 1}",
        }
        out.append("/".join(names.get(part, part) for part in folders) + "/")
        if step is None:  # the next quarter's first day
            month = moment.month + 3
            moment = moment.replace(year=moment.year + (month > 12), month=(month - 1) % 12 + 1)
        else:
            moment += step
    return out


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
