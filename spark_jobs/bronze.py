"""Land files into bronze: append-only Delta tables, exactly once per landing file.

The manifest (audit.ingest_manifest) holds one row per (path, sha256) ever seen. A file whose
checksum is already there is skipped, so re-running ingest adds nothing and new or changed files
are picked up incrementally. Bronze rows are written first, the manifest second; a crash between
the two leaves bronze rows of a batch the manifest does not know, which `discard_orphans` removes
before the next run lands anything.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
from deltalake import DeltaTable

from gglake import delta
from gglake.catalog import table
from gglake.settings import Settings
from spark_jobs.landing import SOURCES, FileRejected, Records, Source, file_time

log = logging.getLogger(__name__)

MANIFEST = table("audit.ingest_manifest")
CHUNK_BYTES = 256 * 1024 * 1024  # bound memory: write bronze every ~256 MB of raw payload


@dataclass
class LandingFile:
    source: Source
    path: str  # relative to the landing root, posix
    size: int
    data: bytes = field(repr=False)
    sha256: str = ""


@dataclass
class FileResult:
    file: LandingFile
    status: str  # loaded | failed
    reason: str | None
    rows: int


@dataclass
class BronzeBatch:
    batch_id: str
    ingested_at: datetime
    results: list[FileResult]


def new_batch_id(now: datetime) -> str:
    return now.strftime("b%Y%m%dT%H%M%S%fZ")


def _open_landing(landing: str) -> tuple[pafs.FileSystem, str]:
    if "://" in landing:
        return pafs.FileSystem.from_uri(landing)
    return pafs.LocalFileSystem(), str(pafs.LocalFileSystem().normalize_path(landing))


def discover(landing: str) -> Iterator[tuple[Source, str, str]]:
    """(source, relative path, full path) for every landing file, sources in landing order.

    Any path component starting with '_' or '.' is not part of the feed (e.g. `_generator/`).
    """
    fs, root = _open_landing(landing)
    info = fs.get_file_info(root)
    if info.type != pafs.FileType.Directory:
        raise FileNotFoundError(f"landing folder {landing} does not exist")
    entries = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    relative = sorted(e.path[len(root) :].lstrip("/") for e in entries if e.type == pafs.FileType.File)
    relative = [p for p in relative if not any(part[:1] in "_." for part in p.split("/"))]
    for source in SOURCES:
        for rel in relative:
            if fnmatch.fnmatch(rel, source.pattern):
                yield source, rel, f"{root}/{rel}"


def known_checksums(settings: Settings) -> set[tuple[str, str]]:
    seen = delta.read(settings, MANIFEST, columns=["path", "sha256"])
    return set(zip(seen.column("path").to_pylist(), seen.column("sha256").to_pylist()))


def _read(landing: str, entries: list[tuple[Source, str, str]], known: set[tuple[str, str]]) -> Iterator[LandingFile]:
    fs, _ = _open_landing(landing)

    def load(entry: tuple[Source, str, str]) -> LandingFile:
        source, rel, full = entry
        with fs.open_input_stream(full, compression=None) as stream:  # bytes as delivered
            data = stream.read()
        return LandingFile(source, rel, len(data), data, hashlib.sha256(data).hexdigest())

    with ThreadPoolExecutor(max_workers=4) as pool:
        for landed in pool.map(load, entries):
            if (landed.path, landed.sha256) not in known:
                yield landed


def _parse(landed: LandingFile) -> tuple[FileResult, Records | None]:
    try:
        records = landed.source.reader(landed.data, landed.path)
    except FileRejected as exc:
        log.info("landing file %s rejected: %s", landed.path, exc)  # summarised by the caller
        return FileResult(landed, "failed", exc.reason, 0), None
    return FileResult(landed, "loaded", None, len(records)), records


def land(
    settings: Settings,
    landing: str,
    batch_id: str,
    ingested_at: datetime,
    progress: Callable[[str, int, int], None] | None = None,
) -> BronzeBatch:
    """Read every new landing file into bronze and record each file in the manifest."""
    known = known_checksums(settings)
    entries = list(discover(landing))
    results: list[FileResult] = []
    pending: dict[str, list[tuple[LandingFile, Records]]] = {}
    pending_bytes = 0

    def flush() -> None:
        nonlocal pending_bytes
        for bronze_name, parts in pending.items():
            delta.append(settings, table(bronze_name), _bronze_rows(parts, batch_id, ingested_at))
        pending.clear()
        pending_bytes = 0

    with ThreadPoolExecutor(max_workers=2) as parsers:
        for done, (result, records) in enumerate(parsers.map(_parse, _read(landing, entries, known)), start=1):
            results.append(result)
            if records is not None and len(records):
                pending.setdefault(result.file.source.bronze, []).append((result.file, records))
                pending_bytes += result.file.size * 8  # decompressed text is several times the file
            result.file.data = b""  # release the raw bytes early
            if pending_bytes >= CHUNK_BYTES:
                flush()
            if progress:
                progress("land", done, len(entries))
    flush()
    if results:
        delta.append(settings, MANIFEST, _manifest_rows(results, batch_id, ingested_at))
    return BronzeBatch(batch_id, ingested_at, results)


def _bronze_rows(parts: list[tuple[LandingFile, Records]], batch_id: str, ingested_at: datetime) -> pa.Table:
    def constant(value, kind: pa.DataType, n: int) -> pa.Array:
        return pa.repeat(pa.scalar(value, kind), n)

    timestamp = pa.timestamp("us", tz="UTC")
    tables = []
    for landed, records in parts:
        n = len(records)
        tables.append(
            pa.table(
                {
                    "payload": records.payloads,
                    "_read_error": records.errors,
                    "_source_file": constant(landed.path, pa.string(), n),
                    "_line": records.lines,
                    "_file_time": constant(file_time(landed.path), timestamp, n),
                    "_batch_id": constant(batch_id, pa.string(), n),
                    "_ingested_at": constant(ingested_at, timestamp, n),
                    "_ingest_date": constant(ingested_at.date(), pa.date32(), n),
                }
            )
        )
    return pa.concat_tables(tables)


def _manifest_rows(results: list[FileResult], batch_id: str, recorded_at: datetime) -> pa.Table:
    return pa.table(
        {
            "path": [r.file.path for r in results],
            "source": [r.file.source.name for r in results],
            "size_bytes": pa.array([r.file.size for r in results], pa.int64()),
            "sha256": [r.file.sha256 for r in results],
            "status": [r.status for r in results],
            "reason": [r.reason for r in results],
            "rows": pa.array([r.rows for r in results], pa.int64()),
            "_batch_id": [batch_id] * len(results),
            "recorded_at": pa.array([recorded_at] * len(results), pa.timestamp("us", tz="UTC")),
        }
    )


def discard_orphans(settings: Settings) -> list[str]:
    """Delete bronze rows of batches the manifest never recorded (a crash between the two writes)."""
    recorded = set(delta.read(settings, MANIFEST, columns=["_batch_id"]).column("_batch_id").to_pylist())
    discarded: list[str] = []
    for source in SOURCES:
        bronze = table(source.bronze)
        dt: DeltaTable | None = delta.open_table(settings, bronze)
        if dt is None:
            continue
        batches = set(pc.unique(dt.to_pyarrow_table(columns=["_batch_id"]).column("_batch_id")).to_pylist())
        for orphan in sorted(batches - recorded):
            log.warning("discarding bronze rows of unrecorded batch %s in %s", orphan, bronze.name)
            dt.delete(f"_batch_id = '{orphan}'")
            discarded.append(f"{bronze.name}:{orphan}")
    return discarded


def utc_now() -> datetime:
    return datetime.now(UTC)
