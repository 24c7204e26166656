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
import os
from collections import deque
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
from deltalake import DeltaTable

from gglake import delta
from gglake.catalog import table
from gglake.lease import Lease
from gglake.settings import Settings
from spark_jobs.landing import DEFAULT_LIMITS, SOURCES, FileRejected, Limits, Records, Source, file_time

log = logging.getLogger(__name__)

MANIFEST = table("audit.ingest_manifest")
CHUNK_BYTES = 256 * 1024 * 1024  # bound memory: write bronze every ~256 MB of payload
READ_AHEAD_FILES = 8  # files read and parsed ahead of the bronze writer …
READ_AHEAD_BYTES = 64 * 1024**2  # … and their size as delivered (one larger file goes alone)
# Attempts per S3 request when listing and reading landing files: pyarrow's default (AWS standard
# retries); tests lower it so that an unreachable endpoint fails at once.
S3_ATTEMPTS = 3


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
    try:
        if "://" in landing:
            fs, root = pafs.FileSystem.from_uri(landing)
            return (_with_retries(fs) if isinstance(fs, pafs.S3FileSystem) else fs), root.rstrip("/")
        local = pafs.LocalFileSystem()
        return local, str(local.normalize_path(landing))
    except (OSError, ValueError) as exc:  # e.g. resolving the region of a bucket that does not exist
        raise FileNotFoundError(f"landing folder {landing} cannot be opened: {_one_line(exc)}") from None


def _with_retries(fs: pafs.S3FileSystem) -> pafs.S3FileSystem:
    """The same S3 filesystem with S3_ATTEMPTS attempts per request (from_uri takes no retry option)."""
    try:
        _, (options,) = fs.__reduce__()
        return pafs.S3FileSystem(**{**options, "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=S3_ATTEMPTS)})
    except (TypeError, ValueError):  # a pyarrow whose options differ: keep its defaults
        return fs


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class LandingEntry(NamedTuple):
    """One path `scan` found: a landing file, or a symlinked folder refused whole."""

    source: Source
    path: str  # relative to the landing root, posix; a refused folder ends in '/'
    full: str  # where to read it (for a symlink inside the root: its real path)
    size: int
    mtime_ns: int
    refused: str | None = None  # why it must not be read at all (outside_landing)
    target: str = ""  # a refused symlink's real path


@dataclass
class _Found:
    path: str
    full: str
    size: int
    mtime_ns: int
    refused: str | None = None
    target: str = ""
    folder: bool = False


def scan(landing: str, folders: Sequence[str] | None = None) -> list[LandingEntry]:
    """Every landing path of a known source, sources in landing order, paths sorted within each.

    `folders` ('/'-terminated, relative to the root) limits the listing to those partitions, so an
    interval's run lists and hashes its own folders, not the landing history.

    Any path component starting with '_' or '.' is not part of the feed (e.g. `_generator/`). On a
    local landing folder, symlinks are resolved: one whose real path stays inside the root is read as
    a normal file or folder (each real folder once, so links cannot loop); one that leads outside is
    refused as `outside_landing` without being read (a symlinked folder as one '/'-terminated entry).
    """
    fs, root = _open_landing(landing)
    try:
        if fs.get_file_info(root).type != pafs.FileType.Directory:
            raise FileNotFoundError(f"landing folder {landing} does not exist")
        if isinstance(fs, pafs.LocalFileSystem):
            found = _walk_local(root, folders)
        else:
            selectors = [
                pafs.FileSelector(f"{root}/{f}".rstrip("/"), recursive=True, allow_not_found=True) for f in folders or [""]
            ]
            found = [
                _Found(e.path[len(root) :].lstrip("/"), e.path, e.size, e.mtime_ns or 0)
                for selector in selectors
                for e in fs.get_file_info(selector)
                if e.type == pafs.FileType.File
            ]
            found = [f for f in found if not any(part[:1] in "_." for part in f.path.split("/"))]
    except FileNotFoundError:
        raise
    except OSError as exc:  # an unreachable endpoint, a bucket that does not exist, no permission
        raise FileNotFoundError(f"landing folder {landing} cannot be read: {_one_line(exc)}") from None
    found.sort(key=lambda f: f.path)
    entries: list[LandingEntry] = []
    claimed: set[str] = set()
    for source in SOURCES:
        for f in found:
            if f.path in claimed or not _belongs(f, source.pattern):
                continue
            if f.folder:
                claimed.add(f.path)  # a refused folder is recorded once, for the first source it could hold
            entries.append(LandingEntry(source, f.path, f.full, f.size, f.mtime_ns, f.refused, f.target))
    return entries


def _belongs(found: _Found, pattern: str) -> bool:
    if not found.folder:
        return fnmatch.fnmatch(found.path, pattern)
    parts, wanted = found.path.rstrip("/").split("/"), pattern.split("/")
    if len(parts) < len(wanted):  # a folder above the files: each of its levels matches the pattern's
        return all(fnmatch.fnmatch(p, w) for p, w in zip(parts, wanted))
    return fnmatch.fnmatch("/".join(parts), "/".join(wanted[:-1]))  # at or below the files' level


def _on_the_way(rel: str, folders: Sequence[str] | None) -> bool:
    """Whether `rel` (a file, or a '/'-terminated folder) lies in one of `folders` or on the way to one."""
    return folders is None or any(rel.startswith(f) or f.startswith(rel) for f in folders)


def _walk_local(root: str, folders: Sequence[str] | None = None) -> list[_Found]:
    boundary = os.path.realpath(root)
    prefix = boundary.rstrip("/") + "/"
    seen: set[str] = set()  # real folders walked
    links: list[tuple[str, str]] = []  # symlinked folders inside the root: (real path, relative path)
    found: list[_Found] = []

    def walk(real_dir: str, rel_dir: str) -> None:
        seen.add(real_dir)
        with os.scandir(real_dir) as listing:
            children = sorted(listing, key=lambda e: e.name)
        for child in children:
            if child.name[:1] in "_.":
                continue
            rel = rel_dir + child.name
            if not _on_the_way(rel + "/" * child.is_dir(), folders):
                continue
            if child.is_symlink():
                real = os.path.realpath(child.path)
                if real != boundary and not real.startswith(prefix):
                    folder = os.path.isdir(child.path)  # the target's type only; nothing in it is read
                    link = child.stat(follow_symlinks=False)
                    found.append(_Found(rel + "/" * folder, child.path, 0, link.st_mtime_ns, "outside_landing", real, folder))
                elif os.path.isdir(real):
                    links.append((real, rel))
                elif os.path.isfile(real):
                    st = os.stat(real)
                    found.append(_Found(rel, real, st.st_size, st.st_mtime_ns))
            elif child.is_dir(follow_symlinks=False):
                walk(child.path, rel + "/")
            elif child.is_file(follow_symlinks=False):
                st = child.stat(follow_symlinks=False)
                found.append(_Found(rel, child.path, st.st_size, st.st_mtime_ns))

    walk(boundary, "")
    while links:  # after the real tree, so a folder reachable both ways is read under its real path
        real, rel = links.pop(0)
        if real not in seen:
            walk(real, rel + "/")
    return found


@dataclass(frozen=True)
class Known:
    """What the manifest holds: (path, sha256) pairs, and (path, size) pairs to skip before hashing."""

    checksums: set[tuple[str, str]]
    sizes: set[tuple[str, int]]

    def __contains__(self, pair: tuple[str, str]) -> bool:
        return pair in self.checksums


def known_files(settings: Settings, by_size: bool) -> Known:
    seen = delta.read(settings, MANIFEST, columns=["path", "sha256", "size_bytes"]).to_pydict()
    sizes = set(zip(seen["path"], seen["size_bytes"])) if by_size else set()
    return Known(set(zip(seen["path"], seen["sha256"])), sizes)


def _read_bytes(fs: pafs.FileSystem, entry: LandingEntry, limit: int) -> bytes | None:
    """The file as delivered, or None once it turns out longer than `limit` (it grew since listing)."""
    with fs.open_input_stream(entry.full, compression=None) as stream:
        data = stream.read(min(entry.size, limit) + 1)
        if len(data) <= entry.size:
            return data
        parts, total = [data], len(data)
        while total <= limit and (piece := stream.read(min(8 * 1024**2, limit + 1 - total))):
            parts.append(piece)
            total += len(piece)
    return None if total > limit else b"".join(parts)


def _refused(entry: LandingEntry, reason: str, known: Known) -> tuple[FileResult, None] | None:
    """A file refused unread has no checksum: its manifest key is a digest of what was refused (reason, link
    target, size, mtime), so an unchanged refused file is recorded once and a replaced one again."""
    identity = f"{reason}|{entry.target}|{entry.size}|{entry.mtime_ns}"
    key = "unread:" + hashlib.sha256(identity.encode()).hexdigest()
    if (entry.path, key) in known:
        return None
    log.warning("landing file %s refused unread: %s", entry.path, reason)
    return FileResult(LandingFile(entry.source, entry.path, entry.size, b"", key), "failed", reason, 0), None


def _read(
    fs: pafs.FileSystem, entries: list[LandingEntry], known: Known, limits: Limits
) -> Iterator[tuple[FileResult, Records | None] | None]:
    """Read, checksum and parse each entry, in order; None for a file the manifest already holds.

    At most READ_AHEAD_FILES files (READ_AHEAD_BYTES as delivered, or one larger file) are in flight,
    so memory holds a few files and never the landing folder."""

    def load(entry: LandingEntry) -> tuple[FileResult, Records | None] | None:
        if (entry.path, entry.size) in known.sizes:
            return None  # recorded with this size: not read or hashed again
        if entry.refused:
            return _refused(entry, entry.refused, known)
        if entry.size > limits.max_file_bytes:
            return _refused(entry, "oversized_file", known)  # checked from the listing: never read
        data = _read_bytes(fs, entry, limits.max_file_bytes)
        if data is None:
            return _refused(entry, "oversized_file", known)
        landed = LandingFile(entry.source, entry.path, len(data), data, hashlib.sha256(data).hexdigest())
        if (landed.path, landed.sha256) in known:
            return None
        outcome = _parse(landed, limits)
        landed.data = b""  # release the raw bytes early
        return outcome

    window: deque[tuple[Future, int]] = deque()
    held = 0
    with ThreadPoolExecutor(max_workers=4) as pool:
        for entry in entries:
            cost = 0 if entry.refused or entry.size > limits.max_file_bytes else entry.size
            while window and (len(window) >= READ_AHEAD_FILES or held + cost > READ_AHEAD_BYTES):
                future, done = window.popleft()
                held -= done
                yield future.result()
            window.append((pool.submit(load, entry), cost))
            held += cost
        while window:
            yield window.popleft()[0].result()


def _parse(landed: LandingFile, limits: Limits = DEFAULT_LIMITS) -> tuple[FileResult, Records | None]:
    try:
        records = landed.source.reader(landed.data, landed.path, limits)
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
    *,
    sources: Sequence[Source] = SOURCES,
    folders: Sequence[str] | None = None,
    verify_checksums: bool = False,
    lease: Lease | None = None,
) -> BronzeBatch:
    """Read every new landing file of `sources` (in `folders`, when given) into bronze and record each
    file in the manifest.

    A file the manifest holds with the same path and size is skipped without being read; with
    `verify_checksums` every file is read and hashed, which also finds a same-size rewrite.
    """
    known = known_files(settings, by_size=not verify_checksums)
    limits = Limits.of(settings)
    entries = [entry for entry in scan(landing, folders) if entry[0] in sources]
    fs, _ = _open_landing(landing)
    results: list[FileResult] = []
    pending: dict[str, list[tuple[LandingFile, Records]]] = {}
    pending_bytes = 0

    def flush() -> None:
        nonlocal pending_bytes
        for bronze_name, parts in pending.items():
            delta.append(settings, table(bronze_name), _bronze_rows(parts, batch_id, ingested_at))
        pending.clear()
        pending_bytes = 0

    for done, outcome in enumerate(_read(fs, entries, known, limits), start=1):
        if outcome is not None:  # None: a file the manifest already holds
            result, records = outcome
            results.append(result)
            if records is not None and len(records):
                pending.setdefault(result.file.source.bronze, []).append((result.file, records))
                pending_bytes += records.payloads.nbytes
            if pending_bytes >= CHUNK_BYTES:
                flush()
        if progress:
            progress("land", done, len(entries))
    flush()
    if results:
        if lease is not None:
            lease.ensure_held()  # a run whose lease lapsed must not record files another run may be landing
        results = _record_files(settings, results, batch_id, ingested_at)
    return BronzeBatch(batch_id, ingested_at, results)


def _record_files(settings: Settings, results: list[FileResult], batch_id: str, recorded_at: datetime) -> list[FileResult]:
    """Record the files in the manifest, inserting only (path, sha256) pairs it does not hold yet.

    Runs on one feed hold its lease, so a pair is never landed twice; should a run without the lease
    have recorded some first, this batch's bronze rows of those files are deleted again, so bronze,
    manifest and reconciliation stay exactly-once whatever the interleaving.
    """
    rows = _manifest_rows(results, batch_id, recorded_at)
    if delta.insert_new(settings, MANIFEST, rows) == len(results):
        return results
    ours = delta.read(settings, MANIFEST, columns=["path", "sha256", "_batch_id"]).to_pylist()
    recorded = {(r["path"], r["sha256"]) for r in ours if r["_batch_id"] == batch_id}
    lost = [r for r in results if (r.file.path, r.file.sha256) not in recorded]
    for bronze_name in {r.file.source.bronze for r in lost}:
        paths = ", ".join("'" + r.file.path.replace("'", "''") + "'" for r in lost if r.file.source.bronze == bronze_name)
        log.warning("%s: %d files were recorded by another run first; removing this batch's copy", bronze_name, len(lost))
        dt = delta.open_table(settings, table(bronze_name))
        if dt is not None:
            dt.delete(f"_batch_id = '{batch_id}' and _source_file in ({paths})")
    return [r for r in results if (r.file.path, r.file.sha256) in recorded]


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


def discard_orphans(settings: Settings, bronze_tables: Collection[str]) -> list[str]:
    """Delete bronze rows of batches the manifest never recorded (a crash between the two writes).

    Only in `bronze_tables`, the tables whose feeds this run holds: another feed's run may be between
    its bronze and manifest writes right now."""
    recorded = set(delta.read(settings, MANIFEST, columns=["_batch_id"]).column("_batch_id").to_pylist())
    discarded: list[str] = []
    for source in SOURCES:
        if source.bronze not in bronze_tables:
            continue
        bronze = table(source.bronze)
        dt: DeltaTable | None = delta.open_table(settings, bronze)
        if dt is None:
            continue
        batches = set(pc.unique(delta.to_arrow(dt, columns=["_batch_id"]).column("_batch_id")).to_pylist())
        for orphan in sorted(batches - recorded):
            log.warning("discarding bronze rows of unrecorded batch %s in %s", orphan, bronze.name)
            dt.delete(f"_batch_id = '{orphan}'")
            discarded.append(f"{bronze.name}:{orphan}")
    return discarded


def utc_now() -> datetime:
    return datetime.now(UTC)
