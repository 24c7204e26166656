"""What a user would write instead of the lakehouse, for the sensor feed only: pandas and DuckDB.

Each baseline does the sensor pipeline's work in its own idiom: read every `sensors/**/*.jsonl.gz`
(files that do not decompress or are empty are skipped), parse each line as JSON, apply the same
validation rules as `spark_jobs.entities.sensor_readings` in the same priority order (rejected
lines are written out with a reason), look up resident_key in the lakehouse's registry, keep the
latest delivery per event_id (file path desc, line desc) and write partitioned by KST reading_date.
"""

from __future__ import annotations

import gzip
import json
import re
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from gglake.domain import DEVICE_TYPES, DIASTOLIC_RANGE, SENSOR_METRICS
from gglake.settings import Settings

KST = timezone(timedelta(hours=9))
FIELDS = ("event_id", "device_id", "device_type", "resident_id", "metric", "value", "diastolic", "unit",
          "measured_at", "firmware")  # the landing contract's sensor fields  # fmt: skip
FIELD_SET = frozenset(FIELDS)
FUTURE_HOURS = Settings(home="").future_tolerance_hours + 1  # the file's own hour plus the tolerance
LATE_DAYS = Settings(home="").late_window_days
_FILE_HOUR = re.compile(r"date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})")


@dataclass
class Result:
    seconds: float
    rows_read: int  # lines in readable files
    accepted: int  # distinct valid events written
    rejected: int
    files_skipped: int
    reasons: dict[str, int] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def duplicates(self) -> int:
        return self.rows_read - self.rejected - self.accepted


def sensor_files(landing: Path) -> list[Path]:
    """Sorted by path, so file order is delivery order (date, hour, gateway)."""
    return sorted(landing.glob("sensors/date=*/hour=*/*.jsonl.gz"), key=lambda p: p.as_posix())


def read_registry(home: str) -> pa.Table:
    return DeltaTable(f"{home}/restricted/resident_registry").to_pyarrow_table(columns=["resident_id", "resident_key"])


def _decompress(path: Path) -> bytes | None:
    """The decompressed file, or None when it is truncated, not gzip, or empty (skipped, as ingest does)."""
    try:
        raw = gzip.decompress(path.read_bytes())
    except (EOFError, OSError, zlib.error):
        return None
    return raw if raw.strip() else None


def run_pandas(landing: Path, home: str, out: Path) -> Result:
    began = time.perf_counter()
    registry = read_registry(home).to_pandas().set_index("resident_id")["resident_key"]
    records: list[dict] = []
    drifted: list[bool] = []
    file_of: list[int] = []
    line_of: list[int] = []
    bad: list[tuple[str, str, int, str]] = []  # (reason, file, line, text) of lines that do not parse
    names: list[str] = []
    hours: list[datetime] = []
    files = sensor_files(landing)
    for path in files:
        raw = _decompress(path)
        if raw is None:
            continue
        name = path.relative_to(landing).as_posix()
        day, hour = _FILE_HOUR.search(name).groups()
        names.append(name)
        hours.append(datetime.fromisoformat(f"{day}T{hour}:00:00+09:00"))
        for number, line in enumerate(raw.removesuffix(b"\n").split(b"\n"), start=1):
            try:
                obj = json.loads(line)
            except UnicodeDecodeError:
                bad.append(("bad_encoding", name, number, line.decode(errors="replace")))
                continue
            except ValueError:
                obj = None
            if not isinstance(obj, dict):
                bad.append(("malformed_json", name, number, line.decode(errors="replace")))
                continue
            records.append(obj)
            drifted.append(not obj.keys() <= FIELD_SET)
            file_of.append(len(names) - 1)
            line_of.append(number)

    df = pd.DataFrame.from_records(records, columns=list(FIELDS))
    text = {f: df[f].astype("string").str.strip().replace("", pd.NA) for f in FIELDS}
    value = pd.to_numeric(df["value"], errors="coerce")
    diastolic = pd.to_numeric(df["diastolic"], errors="coerce")
    measured = pd.to_datetime(text["measured_at"], utc=True, errors="coerce", format="ISO8601")
    file_hour = pd.Series(pd.DatetimeIndex(hours).tz_convert("UTC")[np.array(file_of)], index=df.index)
    source_file = np.array(names, dtype=object)[np.array(file_of, dtype=np.int64)]
    resident_key = text["resident_id"].map(registry)
    low = text["metric"].map({m: limits[2] for m, limits in SENSOR_METRICS.items()})
    high = text["metric"].map({m: limits[3] for m, limits in SENSOR_METRICS.items()})
    dia_low, dia_high = DIASTOLIC_RANGE
    bad_bp = diastolic.isna() | (diastolic < dia_low) | (diastolic > dia_high) | (diastolic >= value)
    checks = {  # first match wins, in the lakehouse's priority order
        "unknown_field": pd.Series(drifted, index=df.index),
        "missing_key": text["event_id"].isna(),
        "missing_field": text["resident_id"].isna() | text["metric"].isna() | text["value"].isna() | text["measured_at"].isna(),
        "unknown_resident": resident_key.isna(),
        "bad_type": (text["value"].notna() & value.isna())
        | (text["diastolic"].notna() & diastolic.isna())
        | (text["measured_at"].notna() & measured.isna()),
        "invalid_code": ~text["metric"].isin(list(SENSOR_METRICS)).fillna(False)
        | ~text["device_type"].isin(DEVICE_TYPES).fillna(False),
        "impossible_value": (value < low) | (value > high) | (text["metric"].eq("blood_pressure").fillna(False) & bad_bp),
        "future_timestamp": measured > file_hour + pd.Timedelta(hours=FUTURE_HOURS),
        "too_late": measured < file_hour - pd.Timedelta(days=LATE_DAYS),
    }
    reason = pd.Series(np.select([c.to_numpy(bool) for c in checks.values()], list(checks), ""), index=df.index)
    local = measured.dt.tz_convert("Asia/Seoul")
    silver = pd.DataFrame({
        "event_id": text["event_id"], "resident_key": resident_key, "device_id": text["device_id"],
        "device_type": text["device_type"], "metric": text["metric"], "value": value, "diastolic": diastolic,
        "unit": text["unit"], "measured_at": measured.dt.as_unit("us"), "reading_hour": local.dt.hour,
        "firmware": text["firmware"], "reading_date": local.dt.date,
        "_source_file": source_file, "_line": line_of,
    })[reason.eq("")]  # fmt: skip
    silver = silver.drop_duplicates("event_id", keep="last")  # rows are in (file, line) order: last = latest
    write_deltalake(out / "silver", pa.Table.from_pandas(silver, preserve_index=False), partition_by=["reading_date"])

    rejected = reason.ne("").to_numpy()
    quarantine = pd.concat([
        pd.DataFrame(bad, columns=["reason", "_source_file", "_line", "payload"]),
        pd.DataFrame({"reason": reason[rejected], "_source_file": source_file[rejected], "_line": np.array(line_of)[rejected],
                      "payload": [json.dumps(records[i], ensure_ascii=False) for i in np.flatnonzero(rejected)]}),
    ])  # fmt: skip
    write_deltalake(out / "quarantine", pa.Table.from_pandas(quarantine, preserve_index=False))
    reasons = quarantine["reason"].value_counts().to_dict()
    rows_read, skipped = len(records) + len(bad), len(files) - len(names)
    return Result(time.perf_counter() - began, rows_read, len(silver), len(quarantine), skipped, reasons)


_TEXT_FIELDS = ", ".join(f"nullif(trim(f[{i}]), '') as {f}" for i, f in enumerate(FIELDS, 1) if f not in ("value", "diastolic"))
_LIMITS = " ".join(f"when '{metric}' then value not between {lo} and {hi}" for metric, (*_, lo, hi) in SENSOR_METRICS.items())
DUCKDB_CHECKS = f"""
with fields as (
    select _source_file, _line, line, is_object,
        case when is_object then json_keys(line) end as keys,
        case when is_object then json_extract_string(line, {list(FIELDS)}) end as f,
        strptime(regexp_extract(_source_file, '{_FILE_HOUR.pattern}', ['d', 'h']).d || ' '
                 || regexp_extract(_source_file, '{_FILE_HOUR.pattern}', ['d', 'h']).h, '%Y-%m-%d %H')::timestamptz as file_hour
    from (select *, json_valid(line) and starts_with(ltrim(line), '{{') as is_object from lines)
),
typed as (
    select _source_file, _line, line, is_object, keys, file_hour, f[6] as raw_value, f[7] as raw_diastolic,
        {_TEXT_FIELDS},
        try_cast(f[6] as double) as value, try_cast(f[7] as double) as diastolic
    from fields
),
keyed as (
    select typed.*, try_cast(measured_at as timestamptz) as measured, r.resident_key
    from typed left join registry as r using (resident_id)
)
select *,
    case
        when not is_object then 'malformed_json'
        when not list_has_all({list(FIELDS)}, keys) then 'unknown_field'
        when event_id is null then 'missing_key'
        when resident_id is null or metric is null or nullif(trim(raw_value), '') is null or measured_at is null
            then 'missing_field'
        when resident_key is null then 'unknown_resident'
        when (nullif(trim(raw_value), '') is not null and value is null)
          or (nullif(trim(raw_diastolic), '') is not null and diastolic is null)
          or measured is null then 'bad_type'
        when metric not in {tuple(SENSOR_METRICS)} or coalesce(device_type, '') not in {DEVICE_TYPES} then 'invalid_code'
        when (case metric {_LIMITS} end)
          or (metric = 'blood_pressure' and (diastolic is null or diastolic >= value
                                             or diastolic not between {DIASTOLIC_RANGE[0]} and {DIASTOLIC_RANGE[1]}))
            then 'impossible_value'
        when measured > file_hour + interval {FUTURE_HOURS} hours then 'future_timestamp'
        when measured < file_hour - interval {LATE_DAYS} days then 'too_late'
    end as reason
from keyed
"""


def run_duckdb(landing: Path, home: str, out: Path) -> Result:
    """DuckDB → plain partitioned Parquet (DuckDB writes no Delta log without an extension)."""
    began = time.perf_counter()
    files = sensor_files(landing)
    # DuckDB reads a truncated gzip silently (the lines before the cut) and fails the whole
    # query on an empty one, so each file is checked with Python's gzip first.
    with ThreadPoolExecutor() as pool:
        readable = [str(p) for p, raw in zip(files, pool.map(_decompress, files)) if raw is not None]
    con = duckdb.connect()
    con.execute("set TimeZone = 'Asia/Seoul'")
    con.register("registry", read_registry(home))
    # One VARCHAR column per line, so malformed JSON stays countable; lines that are not UTF-8
    # are skipped by the reader and land in reject_errors. row_number() over () is scan order.
    con.execute(
        """
        create table scanned as
        select regexp_extract(filename, 'sensors/.*') as _source_file, row_number() over () as _row, line
        from read_csv($files, columns = {'line': 'VARCHAR'}, delim = '\x1f', quote = '', escape = '', new_line = '\\n',
                      header = false, filename = true, ignore_errors = true, store_rejects = true)
        """,
        {"files": readable},
    )
    con.execute(
        """
        create table skipped as
        select regexp_extract(s.file_path, 'sensors/.*') as _source_file, e.line as _line, e.csv_line, e.error_type,
            e.line - row_number() over (partition by s.file_path order by e.line) as good_before
        from reject_errors as e join reject_scans as s using (scan_id, file_id);
        -- the file's line number: position among the lines read, plus the skipped lines before it
        create table lines as
        select s._source_file, s._pos + coalesce(len(list_filter(k.gaps, g -> g < s._pos)), 0) as _line, s.line
        from (select *, _row - min(_row) over (partition by _source_file) + 1 as _pos from scanned) as s
        left join (select _source_file, list(good_before) as gaps from skipped group by all) as k using (_source_file)
        """
    )
    con.execute(f"create table checked as {DUCKDB_CHECKS}")
    silver = out / "silver"
    accepted = con.execute(
        f"""
        copy (
            select event_id, resident_key, device_id, device_type, metric, value, diastolic, unit,
                measured as measured_at, hour(measured) as reading_hour, firmware, measured::date as reading_date,
                _source_file, _line
            from checked where reason is null
            qualify row_number() over (partition by event_id order by _source_file desc, _line desc) = 1
        ) to '{silver}' (format parquet, partition_by (reading_date))
        """
    ).fetchone()[0]
    rejected = con.execute(
        f"""
        copy (
            select reason, _source_file, _line, line as payload from checked where reason is not null
            union all
            select case error_type when 'INVALID ENCODING' then 'bad_encoding' else 'malformed_row' end,
                _source_file, _line, csv_line
            from skipped
        ) to '{out / "quarantine.parquet"}' (format parquet)
        """
    ).fetchone()[0]
    reasons = dict(con.execute(f"select reason, count(*) from '{out / 'quarantine.parquet'}' group by all").fetchall())
    rows_read = con.execute("select (select count(*) from lines) + (select count(*) from skipped)").fetchone()[0]
    return Result(time.perf_counter() - began, rows_read, accepted, rejected, len(files) - len(readable), reasons)
