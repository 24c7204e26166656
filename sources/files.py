"""Deterministic, atomic file writers: same content in, byte-identical file out."""

import csv
import gzip
import io
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

GZIP_LEVEL = 3  # fast enough for ~1M lines a week; landing files are not archives


def write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary name and rename, so a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def gzip_bytes(data: bytes) -> bytes:
    """gzip with mtime 0 and no file name in the header, so output depends on content only."""
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


def join_lines(lines: Iterable[str | bytes], encoding: str = "utf-8") -> bytes:
    """Newline-terminated lines; `bytes` items are written verbatim (planted encoding errors)."""
    return b"".join((x if isinstance(x, bytes) else x.encode(encoding)) + b"\n" for x in lines)


_buffer = io.StringIO()
_writer = csv.writer(_buffer, lineterminator="")


def csv_line(fields: Sequence[object]) -> str:
    """One CSV record without its line terminator (fields never contain newlines)."""
    _buffer.seek(0)
    _buffer.truncate()
    _writer.writerow(fields)
    return _buffer.getvalue()


def clear_dir(path: Path) -> None:
    """Remove a partition before rewriting it, so no file from an earlier run survives."""
    if path.exists():
        shutil.rmtree(path)
