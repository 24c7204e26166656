"""Planted defects: how many to plant, where they land, and the log that lists each one.

The log (`_generator/defects/<partition>.jsonl`, concatenated into `_generator/defects.jsonl`)
lets tests check that ingest quarantined exactly what was planted.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sources.files import write_bytes

CLASSES = (
    "malformed_json",
    "truncated_gzip",
    "empty_file",
    "schema_drift",
    "duplicate_event",
    "late_event",
    "too_late",
    "future_timestamp",
    "impossible_value",
    "bad_encoding",
    "malformed_row",
    "invalid_code",
    "missing_key",
    "malformed_xml",
)
GENERATOR_DIR = "_generator"


@dataclass(frozen=True)
class Defect:
    cls: str
    source: str
    file: str  # path relative to the landing root, POSIX separators
    line: int | None  # 1-based physical line (a CSV header is line 1); None for a whole file
    key: str | None  # the record's natural key, when it has one

    def to_json(self) -> str:
        record = {"class": self.cls, "source": self.source, "file": self.file}
        record |= {"line": self.line, "key": self.key}
        return json.dumps(record, ensure_ascii=False)


@dataclass(frozen=True)
class Insert:
    """A planted line, placed before original line `at` (0-based among the data lines)."""

    at: int
    line: str | bytes
    cls: str
    key: str | None


def how_many(rng: np.random.Generator, records: int, rate: float, forced: bool = False) -> int:
    """Poisson count for `records` at `rate`; `forced` guarantees one when the rate is non-zero."""
    if rate <= 0:
        return 0
    count = int(rng.poisson(records * rate))
    return max(count, 1) if forced else count


def splice(
    lines: list[str | bytes], inserts: list[Insert], source: str, file: str, first_line: int
) -> tuple[list[str | bytes], list[Defect]]:
    """Merge planted lines into `lines`; `first_line` is the line number of `lines[0]`.

    Returns the merged lines and one Defect per insert, carrying its final line number.
    """
    merged: list[str | bytes] = []
    defects: list[Defect] = []
    done = 0
    for ins in sorted(inserts, key=lambda i: i.at):  # stable: ties keep their planting order
        merged.extend(lines[done : ins.at])
        done = ins.at
        defects.append(Defect(ins.cls, source, file, first_line + len(merged), ins.key))
        merged.append(ins.line)
    merged.extend(lines[done:])
    return merged, defects


def write_log(path: Path, records: list[str]) -> None:
    """One JSON document per line; an empty partition still gets its (empty) file."""
    write_bytes(path, "".join(r + "\n" for r in records).encode())


def rebuild_combined(out: Path, name: str) -> None:
    """Concatenate `_generator/<name>/*.jsonl` (in name order) into `_generator/<name>.jsonl`."""
    parts = sorted((out / GENERATOR_DIR / name).glob("*.jsonl"))
    write_bytes(out / GENERATOR_DIR / f"{name}.jsonl", b"".join(p.read_bytes() for p in parts))
