"""JVM Apache Spark (classic pyspark, local mode) baseline for the sensor feed, in its own process.

`python -m tests.benchmarks.spark_baseline LANDING HOME OUT` prints one JSON line. It runs apart
from the bench because a Spark Connect session (the lakehouse's) switches pyspark into Connect
mode for the rest of the process. Spark SQL is this engine's idiom, so it runs the lakehouse's own
validation query (`sensor_readings().staged_sql`) over the raw lines, then keeps the latest
delivery per event_id and writes plain Parquet partitioned by reading_date (no Delta: the
delta-spark jars cannot be downloaded here).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from gglake.engine import SESSION_TIME_ZONE
from gglake.settings import Settings
from spark_jobs.entities import sensor_readings
from tests.benchmarks.baselines import read_registry, sensor_files


def main(landing: Path, home: str, out: Path, cores: int = 2) -> dict:
    began = time.perf_counter()
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(f"local[{cores}]").appName("ingest-bench")
        .config("spark.ui.enabled", "false").config("spark.driver.memory", "4g")
        .config("spark.sql.session.timeZone", SESSION_TIME_ZONE).config("spark.sql.shuffle.partitions", str(4 * cores))
        .config("spark.sql.files.ignoreCorruptFiles", "true")  # truncated gzip files are skipped whole (wholetext)
        .getOrCreate()
    )  # fmt: skip
    spark.sparkContext.setLogLevel("ERROR")
    started = time.perf_counter()
    spark.createDataFrame(read_registry(home).to_pandas()).createOrReplaceTempView("resident_keys")
    files = sensor_files(landing)  # only counted: Spark lists the glob itself
    raw = spark.read.text(f"{landing.resolve()}/sensors/date=*/hour=*/*.jsonl.gz", wholetext=True)  # one row per file
    raw = raw.select("value", "_metadata.file_path")
    raw.where("trim(value) != ''").createOrReplaceTempView("raw_files")
    spark.sql(
        """
        select payload, case when instr(payload, '\ufffd') > 0 then 'bad_encoding' end as _read_error,
            regexp_extract(file_path, 'sensors/.*', 0) as _source_file, pos + 1 as _line,
            to_timestamp(regexp_extract(file_path, 'date=([0-9-]+)/hour=([0-9]+)', 1) || ' '
                         || regexp_extract(file_path, 'date=([0-9-]+)/hour=([0-9]+)', 2), 'yyyy-MM-dd HH') as _file_time,
            'bench' as _batch_id, current_timestamp() as _ingested_at
        from raw_files lateral view posexplode(split(regexp_replace(value, '\\n$', ''), '\\n')) as pos, payload
        """
    ).createOrReplaceTempView("raw_lines")  # the reader decodes bad UTF-8 as U+FFFD: flag it as ingest does
    entity = sensor_readings(Settings(home=home))
    staged = spark.sql(entity.staged_sql("true").replace(f"from {entity.bronze}", "from raw_lines"))
    staged.write.mode("overwrite").parquet(str(out / "staged"))
    spark.read.parquet(str(out / "staged")).createOrReplaceTempView("staged")
    spark.sql("select * from staged where _reject is not null").write.mode("overwrite").parquet(str(out / "quarantine"))
    winners = spark.sql(
        """
        select * from (
            select *, row_number() over (partition by event_id order by _file_time desc, _source_file desc, _line desc) as _rank
            from staged where _reject is null
        ) where _rank = 1
        """
    )
    silver_columns = ["event_id", "resident_key", "device_id", "device_type", "metric", "value", "diastolic", "unit",
                      "measured_at", "reading_hour", "firmware", "reading_date", "_source_file", "_line"]  # fmt: skip
    winners.select(*silver_columns).write.mode("overwrite").partitionBy("reading_date").parquet(str(out / "silver"))
    by_reason = spark.sql("select _reject, count(*) as n, count(distinct event_id) as keys from staged group by 1").collect()
    spark_files = spark.sql("select count(distinct _source_file) from staged").collect()[0][0]
    finished = time.perf_counter()
    jvm_cpu = _cpu_seconds(spark.sparkContext._gateway.proc.pid)  # the JVM is not our child's waited-for child
    spark.stop()
    reasons = {r._reject: r.n for r in by_reason if r._reject is not None}
    return {"startup": started - began, "seconds": finished - started, "rows_read": sum(r.n for r in by_reason),
            "accepted": sum(r.keys for r in by_reason if r._reject is None), "rejected": sum(reasons.values()),
            "files_skipped": len(files) - spark_files, "reasons": reasons, "jvm_cpu_seconds": jvm_cpu}  # fmt: skip


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process, from /proc (None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))))
