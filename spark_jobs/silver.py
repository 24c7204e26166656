"""Refine one bronze batch into silver: validate, quarantine, deduplicate, upsert.

Per entity and batch:
1. stage: parse and validate the batch's bronze rows once (one SQL query, see entities.py) and
   materialise the result, so later steps do not re-parse;
2. quarantine every rejected row with its reason code and raw payload;
3. deduplicate on the natural key (latest delivery wins) and upsert into silver:
   - facts: keys not yet in silver are appended; keys already there go through `MERGE INTO`.
     Splitting the two is the same result as one MERGE of everything, but the engine's MERGE
     rewrites whole files and costs ~10x an append, while re-deliveries are rare;
   - dimensions: SCD type 2 (a new version when the attributes' hash changes; the previous
     current version is closed with `MERGE INTO`).
The counts returned feed the reconciliation in audit.ingest_batches.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs

from gglake import delta
from gglake.catalog import Table, table
from gglake.engine import register_table
from gglake.pseudonym import resident_key
from gglake.settings import Settings
from spark_jobs.entities import Entity

log = logging.getLogger(__name__)

LATEST_FIRST = "_file_time desc, _source_file desc, _line desc"
UNVERSIONED = ("snapshot_quarter",)  # bookkeeping columns that must not open a new SCD2 version


@dataclass
class Counts:
    bronze: int = 0
    quarantined: int = 0
    duplicates: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def silver(self) -> int:
        return self.inserted + self.updated + self.unchanged


def _ensure(spark, settings: Settings, t: Table) -> None:
    if delta.open_table(settings, t) is None:
        delta.ensure_table(settings, t)
    register_table(spark, settings, t)


def _one(spark, sql: str):
    return spark.sql(sql).collect()[0]


@contextmanager
def timed(step: str):
    """Log each step's wall time at INFO (`gglake -v`): where a batch spends its time."""
    began = time.perf_counter()
    yield
    log.info("%-48s %6.2f s", step, time.perf_counter() - began)


class Refiner:
    """Runs entities for one batch; owns the batch's staging area."""

    def __init__(self, spark, settings: Settings, batch_id: str, ingest_date: str, run_id: str):
        self.spark = spark
        self.settings = settings
        self.batch_id = batch_id
        self.ingest_date = ingest_date
        # Per run: two runs refining different tables of one old batch must not delete each other's files.
        self.staging_root = settings.path("_staging", run_id, batch_id)

    # -- staging -----------------------------------------------------------------------------

    def _materialise(self, df, name: str):
        """Write a DataFrame once to the batch's staging area and return a view over it."""
        path = f"{self.staging_root}/{name}"
        with timed(f"materialise {name}"):
            df.write.mode("overwrite").parquet(path)
        staged = self.spark.read.parquet(path)
        staged.createOrReplaceTempView(name)
        return staged

    def _staging_fs(self, location: str) -> tuple[pafs.FileSystem, str]:
        return pafs.FileSystem.from_uri(location) if "://" in location else (pafs.LocalFileSystem(), location)

    def _redact(self, stage_name: str, columns: tuple[str, ...]) -> None:
        """Free text may carry PII: redact the staged rows in this process (it may read the restricted
        registry's names), rewrite them, and point the stage's view at the redacted copy. The raw text
        stays in bronze (and in quarantine's payload for rejected rows) only."""
        import pyarrow.dataset as pads
        import pyarrow.parquet as pq

        from gglake.redact import Redactor, redact_table

        with timed(f"redact {stage_name} ({', '.join(columns)})"):
            raw_path = f"{self.staging_root}/{stage_name}"
            fs, raw_root = self._staging_fs(raw_path)
            staged = pads.dataset(raw_root, format="parquet", filesystem=fs).to_table()
            people = delta.read(self.settings, table("restricted.resident_registry"), columns=["resident_key", "name"])
            names = dict(zip(people.column("resident_key").to_pylist(), people.column("name").to_pylist(), strict=True))
            redacted, found = redact_table(staged, columns, Redactor(names.values()), names)
            clean_root = f"{raw_root}_redacted"
            fs.create_dir(clean_root, recursive=True)
            # Microseconds, as Spark writes and reads them (it refuses Parquet nanosecond timestamps).
            pq.write_table(redacted, f"{clean_root}/part-00000.parquet", filesystem=fs, coerce_timestamps="us")
            self.spark.read.parquet(f"{raw_path}_redacted").createOrReplaceTempView(stage_name)
            fs.delete_dir(raw_root)
            log.info("redacted in %s: %s", stage_name, dict(found) or "nothing")

    def cleanup(self) -> None:
        fs, root = self._staging_fs(self.staging_root)
        if fs.get_file_info(root).type != pafs.FileType.NotFound:
            fs.delete_dir(root)

    # -- the common steps ----------------------------------------------------------------------

    def refine(self, entity: Entity) -> Counts:
        silver = table(entity.silver)
        quarantine = table(f"quarantine.{silver.short_name}")
        for t in (table(entity.bronze), silver, quarantine):
            _ensure(self.spark, self.settings, t)
        if entity.resident_field:
            registry = table("restricted.resident_registry")
            _ensure(self.spark, self.settings, registry)
            self.spark.sql(f"select resident_id, resident_key from {registry.name}").createOrReplaceTempView("resident_keys")
        bronze_filter = f"_ingest_date = date'{self.ingest_date}' and _batch_id = '{self.batch_id}'"
        stage_name = f"staged_{silver.short_name}_{entity.bronze.split('.')[1]}"
        self._materialise(self.spark.sql(entity.staged_sql(bronze_filter)), stage_name)
        if entity.free_text:
            self._redact(stage_name, entity.free_text)
        row = _one(self.spark, f"select count(*) as n, count_if(_reject is not null) as q from {stage_name}")
        counts = Counts(bronze=row.n, quarantined=row.q)
        with timed(f"quarantine {quarantine.name}"):
            self._quarantine(stage_name, quarantine)
        valid = f"(select * from {stage_name} where _reject is null)"
        if entity.kind == "upsert":
            self._upsert(valid, silver, entity.keys, counts, prune_partitions=entity.immutable_partition)
        elif entity.kind == "scd2":
            self._scd2(valid, silver, entity.keys, counts)
        else:
            self._registry(valid, silver, counts)
        return counts

    def _quarantine(self, stage_name: str, quarantine: Table) -> None:
        if _may_hold_batch(self.settings, quarantine, self.batch_id):  # only on a re-run of a half-done batch
            self.spark.sql(f"delete from {quarantine.name} where _batch_id = '{self.batch_id}'")
        self.spark.sql(
            f"""
            insert into {quarantine.name}
            select _reject, _detail, payload, _source_file, _line, _batch_id, _ingested_at
            from {stage_name}
            where _reject is not null
            """
        )

    def _upsert(self, valid: str, silver: Table, keys: tuple[str, ...], counts: Counts, *, prune_partitions: bool) -> None:
        """Latest delivery per key wins, then new keys are appended and known keys merged.

        Only keys that repeat within the batch go through the window sort: a hash aggregate
        finds them, ~3x cheaper than ranking every row when repeats are rare. When no key of the
        batch is in silver yet (a first load, or a normal new hour), the winners go straight into
        an append without being staged again.
        """
        cols = ", ".join(silver.column_names)
        key_list = ", ".join(keys)

        def match(left: str, right: str) -> str:
            return " and ".join(f"{left}.{k} = {right}.{k}" for k in keys)

        prune = self._partition_filter(silver, valid) if prune_partitions else ""
        winners = f"""
            with incoming as (select {cols}, _file_time from {valid}),
            repeated as (select {key_list} from incoming group by {key_list} having count(*) > 1),
            latest_of_repeated as (
                select * from (
                    select i.*, row_number() over (partition by {key_list} order by {LATEST_FIRST}) as _rank
                    from incoming as i left semi join repeated as d on {match("d", "i")}
                ) where _rank = 1
            )
            select {cols} from incoming as i left anti join repeated as d on {match("d", "i")}
            union all
            select {cols} from latest_of_repeated
        """
        existing = f"(select distinct {key_list} from {silver.name} as t where true {prune})"
        row = _one(
            self.spark,
            f"""
            with batch_keys as (select distinct {key_list} from {valid})
            select count(*) as n, count(e.{keys[0]}) as known
            from batch_keys as b left join {existing} as e on {match("e", "b")}
            """,
        )
        counts.duplicates = counts.bronze - counts.quarantined - row.n
        counts.updated = row.known
        counts.inserted = row.n - row.known
        if not counts.updated:
            with timed(f"append {silver.name}"):
                self.spark.sql(f"insert into {silver.name} {winners}")
            return
        winners_name = f"winners_{silver.short_name}"
        self._materialise(
            self.spark.sql(
                f"""
                select w.*, e.{keys[0]} is not null as _exists
                from ({winners}) as w left join {existing} as e on {match("e", "w")}
                """
            ),
            winners_name,
        )
        if counts.inserted:
            with timed(f"append {silver.name}"):
                self.spark.sql(f"insert into {silver.name} select {cols} from {winners_name} where not _exists")
        with timed(f"merge {silver.name}"):
            self.spark.sql(
                f"""
                merge into {silver.name} as t
                using (select {cols} from {winners_name} where _exists) as s
                on {match("t", "s")} {prune}
                when matched then update set *
                when not matched then insert *
                """
            )

    def _partition_filter(self, silver: Table, rows: str) -> str:
        """`and t.<part> in (...)` for the partitions a batch touches, so lookups and MERGE prune."""
        if not silver.partition_by:
            return ""
        part = silver.partition_by[0]
        values = [r[0] for r in self.spark.sql(f"select distinct {part} from {rows}").collect()]
        if not values or any(v is None for v in values):
            return ""
        literals = ", ".join(f"date'{v}'" for v in sorted(values))
        return f"and t.{part} in ({literals})"

    def _scd2(self, valid: str, silver: Table, keys: tuple[str, ...], counts: Counts) -> None:
        """Snapshots → versions; `valid` rows carry `snapshot_date` (the version's valid_from)."""
        attributes = [
            c
            for c in silver.column_names
            if c not in keys
            and c not in ("valid_from", "valid_to", "is_current", "row_hash")
            and not c.startswith("_")
            and c not in UNVERSIONED
        ]
        key_list = ", ".join(keys)
        on_key = " and ".join(f"c.{k} = w.{k}" for k in keys)
        row_hash = "sha2(concat_ws('|', " + ", ".join(f"coalesce(cast({a} as string), '∅')" for a in attributes) + "), 256)"
        versions_name = f"versions_{silver.short_name}"
        self._materialise(
            self.spark.sql(
                f"""
                with ranked as (
                    select *, {row_hash} as row_hash,
                        row_number() over (partition by {key_list}, snapshot_date order by {LATEST_FIRST}) as _rank
                    from {valid}
                ),
                winners as (select * from ranked where _rank = 1),
                current_rows as (
                    select {key_list}, valid_from, row_hash from {silver.name} where is_current
                ),
                newer as (
                    select w.* from winners as w left join current_rows as c on {on_key}
                    where c.valid_from is null or w.snapshot_date > c.valid_from
                ),
                timeline as (
                    select {key_list}, snapshot_date, row_hash, false as _existing from newer
                    union all
                    select c.{keys[0]}{"".join(f", c.{k}" for k in keys[1:])}, c.valid_from, c.row_hash, true
                    from current_rows as c join (select distinct {key_list} from newer) as w on {on_key}
                ),
                changes as (
                    select {key_list}, snapshot_date
                    from (
                        select *, lag(row_hash) over (partition by {key_list} order by snapshot_date) as prev_hash
                        from timeline
                    )
                    where not _existing and (prev_hash is null or prev_hash != row_hash)
                ),
                versions as (
                    select n.*,
                        lead(n.snapshot_date) over (partition by {", ".join(f"n.{k}" for k in keys)}
                                                    order by n.snapshot_date) as _next_from
                    from newer as n
                    join changes as ch on {" and ".join(f"ch.{k} = n.{k}" for k in keys)}
                        and ch.snapshot_date = n.snapshot_date
                )
                select * from versions
                """
            ),
            versions_name,
        )
        winners = _one(self.spark, f"select count(*) as n from (select distinct {key_list}, snapshot_date from {valid})").n
        inserted = _one(self.spark, f"select count(*) as n from {versions_name}").n
        counts.duplicates = counts.bronze - counts.quarantined - winners
        counts.inserted = inserted
        counts.unchanged = winners - inserted
        if not inserted:
            return
        on = " and ".join(f"t.{k} = s.{k}" for k in keys)
        self.spark.sql(
            f"""
            merge into {silver.name} as t
            using (select {key_list}, min(snapshot_date) as first_from from {versions_name} group by {key_list}) as s
            on {on} and t.is_current
            when matched then update set valid_to = s.first_from, is_current = false
            """
        )
        select = ", ".join(
            {
                "valid_from": "snapshot_date as valid_from",
                "valid_to": "_next_from as valid_to",
                "is_current": "_next_from is null as is_current",
            }.get(c, c)
            for c in silver.column_names
        )
        self.spark.sql(f"insert into {silver.name} select {select} from {versions_name}")

    def _registry(self, valid: str, silver: Table, counts: Counts) -> None:
        """The registry feeds two tables: PII to the restricted registry, pseudonymised SCD2 to silver."""
        registry = table("restricted.resident_registry")
        _ensure(self.spark, self.settings, registry)
        unseen = [
            r.resident_id
            for r in self.spark.sql(
                f"""
                select distinct v.resident_id from {valid} as v
                left anti join {registry.name} as r on r.resident_id = v.resident_id
                """
            ).collect()
        ]
        key = self.settings.pseudonym_key()
        new_keys = self.spark.createDataFrame(
            [(rid, resident_key(key, rid)) for rid in unseen], "resident_id string, resident_key string"
        )
        new_keys.createOrReplaceTempView("new_resident_keys")
        keyed_name = "registry_keyed"
        self._materialise(
            self.spark.sql(
                f"""
                with keys as (
                    select resident_id, resident_key from {registry.name}
                    union all
                    select resident_id, resident_key from new_resident_keys
                )
                select v.*, k.resident_key, year(v.birth_date) as birth_year
                from {valid} as v join keys as k on k.resident_id = v.resident_id
                """
            ),
            keyed_name,
        )
        cols = ", ".join(registry.column_names)
        self.spark.sql(
            f"""
            merge into {registry.name} as t
            using (
                select {cols} from (
                    select *, row_number() over (partition by resident_id order by snapshot_date desc, {LATEST_FIRST}) as _rank
                    from {keyed_name}
                ) where _rank = 1
            ) as s
            on t.resident_id = s.resident_id
            when matched and s.snapshot_date >= t.snapshot_date then update set *
            when not matched then insert *
            """
        )
        self._scd2(keyed_name, silver, ("resident_key",), counts)


def _may_hold_batch(settings: Settings, t: Table, batch_id: str) -> bool:
    """Whether any data file's _batch_id range (from the Delta log's stats) could contain the batch."""
    dt = delta.open_table(settings, t)
    if dt is None:
        return False
    actions = pa.table(dt.get_add_actions(flatten=True)).to_pydict()
    lows = actions.get("min._batch_id", [])
    highs = actions.get("max._batch_id", [])
    if len(lows) != len(actions.get("path", [])):
        return True  # no statistics: be safe
    return any(lo is None or hi is None or lo <= batch_id <= hi for lo, hi in zip(lows, highs))
