"""The table catalog: every lakehouse table is declared here once.

Jobs, the engine's table registration, `gglake tables`, and (later) dbt sources and quality
suites read this module; nothing else spells a table path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa

Layer = Literal["bronze", "silver", "quarantine", "restricted", "features", "gold", "audit"]
# restricted: direct identifiers (name, phone, address, birth date, raw ids, raw payloads);
# pseudonymised: keyed by resident_key only; public: no personal data.
PiiClass = Literal["restricted", "pseudonymised", "public"]

_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


@dataclass(frozen=True)
class Table:
    name: str  # "<layer>.<table>", the SQL name registered in the engine
    columns: tuple[tuple[str, str], ...]  # (name, Spark SQL type)
    pii: PiiClass
    description: str
    keys: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()

    @property
    def layer(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def short_name(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def relative_path(self) -> str:
        return f"{self.layer}/{self.short_name}"

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(name, _ARROW_TYPES[kind]) for name, kind in self.columns])

    def polars_schema(self) -> dict:
        import polars as pl

        kinds = {
            "string": pl.String,
            "bigint": pl.Int64,
            "int": pl.Int32,
            "double": pl.Float64,
            "boolean": pl.Boolean,
            "date": pl.Date,
            "timestamp": pl.Datetime("us", "UTC"),
        }
        return {name: kinds[kind] for name, kind in self.columns}


BRONZE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("payload", "string"),  # the raw record: a JSON line as delivered, or a CSV/XML record as a JSON object
    ("_read_error", "string"),  # set when the record could not be read faithfully (bad_encoding, malformed_row)
    ("_source_file", "string"),
    ("_line", "bigint"),  # 1-based physical line (CSV/JSONL) or record number (XML/JSON pages)
    ("_file_time", "timestamp"),  # the delivery time the landing path states (hour or day), if any
    ("_batch_id", "string"),
    ("_ingested_at", "timestamp"),
    ("_ingest_date", "date"),
)

QUARANTINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("reason", "string"),
    ("detail", "string"),
    ("payload", "string"),
    ("_source_file", "string"),
    ("_line", "bigint"),
    ("_batch_id", "string"),
    ("_ingested_at", "timestamp"),
)

LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_source_file", "string"),
    ("_line", "bigint"),
    ("_batch_id", "string"),
    ("_ingested_at", "timestamp"),
)

SCD2_COLUMNS: tuple[tuple[str, str], ...] = (
    ("valid_from", "date"),
    ("valid_to", "date"),  # exclusive; null while current
    ("is_current", "boolean"),
    ("row_hash", "string"),
)


def _bronze(short: str, description: str, pii: PiiClass = "restricted") -> Table:
    return Table(f"bronze.{short}", BRONZE_COLUMNS, pii, description, partition_by=("_ingest_date",))


def _quarantine(short: str) -> Table:
    return Table(
        f"quarantine.{short}",
        QUARANTINE_COLUMNS,
        "restricted",
        f"Rows rejected on their way to silver.{short}, with a reason code and the raw payload.",
    )


SILVER: tuple[Table, ...] = (
    Table(
        "silver.residents",
        (
            ("resident_key", "string"),
            ("sex", "string"),
            ("birth_year", "int"),
            ("district", "string"),
            ("living_alone", "boolean"),
            ("programmes", "string"),
            ("consent", "boolean"),
            ("enrolled_on", "date"),
            ("status", "string"),
            *SCD2_COLUMNS,
            *LINEAGE_COLUMNS,
        ),
        "pseudonymised",
        "Enrolled residents, SCD type 2 (one row per version); no direct identifiers.",
        keys=("resident_key", "valid_from"),
    ),
    Table(
        "silver.sensor_readings",
        (
            ("event_id", "string"),
            ("resident_key", "string"),
            ("device_id", "string"),
            ("device_type", "string"),
            ("metric", "string"),
            ("value", "double"),
            ("diastolic", "double"),
            ("unit", "string"),
            ("measured_at", "timestamp"),
            ("reading_hour", "int"),
            ("firmware", "string"),
            ("reading_date", "date"),
            *LINEAGE_COLUMNS,
        ),
        "pseudonymised",
        "Validated care-sensor readings, one row per event (latest delivery wins), by KST date.",
        keys=("event_id",),
        partition_by=("reading_date",),
    ),
    Table(
        "silver.care_calls",
        (
            ("call_id", "string"),
            ("resident_key", "string"),
            ("vendor", "string"),
            ("scheduled_at", "timestamp"),
            ("started_at", "timestamp"),
            ("ended_at", "timestamp"),
            ("outcome", "string"),
            ("answered", "boolean"),
            ("duration_sec", "int"),
            ("transcript", "string"),
            ("sentiment", "double"),
            ("keywords", "string"),
            ("escalation", "string"),
            ("call_date", "date"),
            *LINEAGE_COLUMNS,
        ),
        "pseudonymised",
        "AI care calls, one row per call (latest delivery wins), by KST scheduled date.",
        keys=("call_id",),
        partition_by=("call_date",),
    ),
    Table(
        "silver.visit_outcomes",
        (
            ("visit_id", "string"),
            ("resident_key", "string"),
            ("visited_at", "timestamp"),
            ("visit_date", "date"),
            ("worker_id", "string"),
            ("reason", "string"),
            ("outcome", "string"),
            ("is_adverse", "boolean"),
            ("notes", "string"),
            *LINEAGE_COLUMNS,
        ),
        "pseudonymised",
        "What care workers found on home visits: the label for risk models.",
        keys=("visit_id",),
    ),
    Table(
        "silver.welfare_services",
        (
            ("service_key", "string"),
            ("source", "string"),
            ("service_id", "string"),
            ("service_name", "string"),
            ("notice_type", "string"),
            ("summary", "string"),
            ("target_detail", "string"),
            ("selection_criteria", "string"),
            ("benefit", "string"),
            ("how_to_apply", "string"),
            ("agency", "string"),
            ("life_stages", "string"),
            ("target_groups", "string"),
            ("province", "string"),
            ("district", "string"),
            ("registered_on", "date"),
            ("snapshot_date", "date"),
            *LINEAGE_COLUMNS,
        ),
        "public",
        "Welfare services, notices and announcements from the national and provincial APIs (latest wins).",
        keys=("service_key",),
    ),
    Table(
        "silver.policy_search_ranking",
        (
            ("ranking_date", "date"),
            ("rank", "int"),
            ("keyword", "string"),
            ("service_id", "string"),
            ("search_count", "bigint"),
            *LINEAGE_COLUMNS,
        ),
        "public",
        "The welfare portal's daily search ranking.",
        keys=("ranking_date", "keyword"),
    ),
    Table(
        "silver.companies",
        (
            ("company_id", "string"),
            ("company_name", "string"),
            ("biz_reg_no", "string"),
            ("complex", "string"),
            ("district", "string"),
            ("sector", "string"),
            ("employees", "int"),
            ("revenue_krw_mn", "double"),
            ("investment_krw_mn", "double"),
            ("founded_year", "int"),
            ("is_startup", "boolean"),
            ("startup_support", "string"),
            ("status", "string"),
            ("snapshot_quarter", "string"),
            *SCD2_COLUMNS,
            *LINEAGE_COLUMNS,
        ),
        "public",
        "Companies of the AI knowledge-industry belt, SCD type 2 over quarterly snapshots.",
        keys=("company_id", "valid_from"),
    ),
)

RESTRICTED: tuple[Table, ...] = (
    Table(
        "restricted.resident_registry",
        (
            ("resident_key", "string"),
            ("resident_id", "string"),
            ("name", "string"),
            ("phone", "string"),
            ("address", "string"),
            ("birth_date", "date"),
            ("snapshot_date", "date"),
            *LINEAGE_COLUMNS,
        ),
        "restricted",
        "The only table with residents' names, phones, addresses and birth dates (current values).",
        keys=("resident_id",),
    ),
)

BRONZE: tuple[Table, ...] = (
    _bronze("registry_residents", "Raw enrolment-registry rows (PII)."),
    _bronze("sensor_readings", "Raw care-sensor JSON lines."),
    _bronze("care_calls", "Raw AI-call CSV rows from every vendor."),
    _bronze("visit_outcomes", "Raw home-visit outcome rows."),
    _bronze("welfare_national", "Raw national welfare API records (XML servList items).", "public"),
    _bronze("welfare_provincial", "Raw provincial open-data API rows (JSON pages).", "public"),
    _bronze("policy_search_ranking", "Raw portal search-ranking rows.", "public"),
    _bronze("companies", "Raw industrial-belt company snapshot rows.", "public"),
)

QUARANTINE: tuple[Table, ...] = tuple(_quarantine(t.short_name) for t in SILVER)

AUDIT: tuple[Table, ...] = (
    Table(
        "audit.ingest_manifest",
        (
            ("path", "string"),
            ("source", "string"),
            ("size_bytes", "bigint"),
            ("sha256", "string"),
            ("status", "string"),  # loaded | failed
            ("reason", "string"),
            ("rows", "bigint"),
            ("_batch_id", "string"),
            ("recorded_at", "timestamp"),
        ),
        "public",
        "Every landing file seen, once per (path, checksum): exactly-once ingestion and failed files.",
        keys=("path", "sha256"),
    ),
    Table(
        "audit.ingest_batches",
        (
            ("_batch_id", "string"),
            ("bronze_table", "string"),
            ("silver_table", "string"),
            ("files", "bigint"),
            ("failed_files", "bigint"),
            ("rows_landed", "bigint"),
            ("rows_bronze", "bigint"),
            ("rows_silver", "bigint"),
            ("rows_inserted", "bigint"),
            ("rows_updated", "bigint"),
            ("rows_unchanged", "bigint"),
            ("rows_quarantined", "bigint"),
            ("duplicates_merged", "bigint"),
            ("started_at", "timestamp"),
            ("finished_at", "timestamp"),
        ),
        "public",
        "Reconciliation per batch and table: landed = bronze = silver + quarantined + duplicates.",
        keys=("_batch_id", "bronze_table"),
    ),
    Table(
        "audit.quality_results",
        (
            ("run_id", "string"),  # one id per gate run
            ("run_date", "date"),  # the pipeline's run date (null when the gate ran without one)
            ("layer", "string"),  # bronze | silver | features | gold
            ("table_name", "string"),
            ("check_name", "string"),  # stable id of the check within its suite, e.g. keys_unique, volume_not_empty
            ("expectation", "string"),  # GX expectation type, e.g. expect_compound_columns_to_be_unique
            ("severity", "string"),  # critical | warning
            ("scope", "string"),  # table (whole table) | batch (the run date's partition)
            ("success", "boolean"),
            ("observed_value", "string"),  # JSON
            ("element_count", "bigint"),
            ("unexpected_count", "bigint"),
            ("sample_values", "string"),  # JSON list of at most 5 failing values or rows
            ("description", "string"),
            ("error", "string"),  # set when the expectation could not be evaluated
            ("checked_at", "timestamp"),
        ),
        "pseudonymised",  # samples may hold resident keys, never direct identifiers (restricted tables' samples are keys)
        "One row per expectation evaluated by a quality gate: severity, success, observed value, failing samples.",
        keys=("run_id", "table_name", "check_name"),
    ),
    Table(
        "audit.leases",
        (
            ("resource", "string"),  # what the holder may write, e.g. feed:sensors, gold:risk
            ("run_id", "string"),
            ("holder", "string"),  # host:pid of the holding process
            ("command", "string"),
            ("acquired_at", "timestamp"),
            ("expires_at", "timestamp"),  # renewed by the holder's heartbeat; a killed run's lease lapses here
        ),
        "public",
        "Who holds which write lease: runs that write the same tables are serialised through this table.",
        keys=("resource",),
    ),
    Table(
        "audit.pseudonym_keys",
        (
            ("fingerprint", "string"),  # HMAC of a fixed label under the key: identifies the key, reveals nothing
            ("env", "string"),
            ("first_used_at", "timestamp"),
            ("retired_at", "timestamp"),  # set by a re-keying; null for the key in use
        ),
        "public",
        "Fingerprint of the pseudonym key the lakehouse's resident keys were made with (never the key itself).",
        keys=("fingerprint",),
    ),
    Table(
        "audit.maintenance_runs",
        (
            ("run_id", "string"),
            ("table_name", "string"),
            ("files_before", "bigint"),  # active data files of the current version
            ("bytes_before", "bigint"),
            ("files_after", "bigint"),
            ("bytes_after", "bigint"),
            ("files_compacted", "bigint"),  # compaction: small files rewritten …
            ("files_added", "bigint"),  # … into these
            ("files_vacuumed", "bigint"),  # unreferenced files older than the retention, deleted
            ("version_before", "bigint"),
            ("version_after", "bigint"),
            ("retention_days", "int"),
            ("started_at", "timestamp"),
            ("finished_at", "timestamp"),
            ("error", "string"),  # set when this table's maintenance failed (the others still ran)
        ),
        "public",
        "One row per table and maintenance run: compaction, vacuum and checkpoint, files and bytes before and after.",
        keys=("run_id", "table_name"),
    ),
    Table(
        "audit.publications",
        (
            ("run_id", "string"),  # the publishing run (an Airflow run id, or the CLI's)
            ("release", "string"),  # risk (scores and alerts) or marts (the dbt gold marts)
            ("table_name", "string"),
            ("version", "bigint"),  # the Delta version released: readers time-travel to exactly this state
            ("published_at", "timestamp"),
        ),
        "public",
        "Which version of each gold table a run released to its readers (serving store, knowledge tables).",
        keys=("run_id", "table_name"),
    ),
)


def _columns(kind: str, *names: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, kind) for name in names)


FEATURE_TABLES: tuple[Table, ...] = (
    Table(
        "features.resident_daily",
        (
            ("resident_key", "string"),
            ("feature_date", "date"),
            ("age", "int"),
            ("district", "string"),
            ("living_alone", "boolean"),
            *_columns(
                "double",
                "hr_mean",
                "hr_min",
                "hr_max",
                "sys_mean",
                "sys_min",
                "sys_max",
                "dia_mean",
                "dia_max",
                "spo2_mean",
                "spo2_min",
                "temp_max",
                "resp_mean",
                "stress_mean",
            ),
            *_columns(
                "double", "hr_mean_7d", "hr_mean_30d", "sys_mean_7d", "sys_mean_30d", "spo2_mean_7d", "steps_7d", "steps_30d"
            ),
            *_columns("int", "news2_resp", "news2_spo2", "news2_sys", "news2_pulse", "news2_temp", "news2_total"),
            ("news2_any_3", "boolean"),
            ("news2_risk", "string"),
            ("bp_category", "string"),
            ("bp_screening_grade", "boolean"),
            ("hypertensive_crisis", "boolean"),
            *_columns(
                "double",
                "hr_baseline_mean",
                "hr_baseline_std",
                "hr_z",
                "sys_z",
                "steps_baseline_mean",
                "steps_z",
                "power_baseline_mean",
                "power_z",
                "stress_baseline_mean",
                "stress_z",
            ),
            *_columns("double", "steps", "motion_events", "door_events", "power_kwh"),
            ("power_low", "boolean"),
            *_columns(
                "int", "activity_windows_anomalous", "no_activity_hours", "longest_stationary_hours", "calls_unanswered_streak"
            ),
            *_columns("double", "answer_rate_7d", "answer_rate_28d", "sentiment_28d", "sentiment_trend"),
            *_columns("int", "kw_pain_7d", "kw_loneliness_7d", "kw_help_7d", "kw_fall_7d", "kw_meal_7d", "readings"),
            ("completeness", "double"),
            ("home_visit_flag", "boolean"),
        ),
        "pseudonymised",
        "One row per enrolled resident per day: vitals, NEWS2, BP category, personal baselines and z-scores, "
        "activity, calls, data completeness.",
        keys=("resident_key", "feature_date"),
        partition_by=("feature_date",),
    ),
)

GOLD_RISK: tuple[Table, ...] = (
    Table(
        "gold.risk_scores",
        (
            ("resident_key", "string"),
            ("score_date", "date"),
            ("probability", "double"),  # calibrated P(adverse visit outcome within the horizon)
            ("model_grade", "string"),  # grade from the probability alone
            ("grade", "string"),  # after the rules' hard overrides: 정상/관심/주의/경계/심각
            ("rule_flags", "string"),  # comma-separated override flags, '' if none
            ("top_factors", "string"),  # JSON list of {feature, value, contribution}, largest first
            ("model_version", "string"),
            # The alert decision lives in the same row, so it commits with the score: gold.risk_alerts is
            # rewritten from these columns and repaired from them if a run died between the two writes.
            ("alert_id", "string"),  # null below 주의
            ("next_step", "string"),  # null below 주의
        ),
        "pseudonymised",
        "Daily risk score per resident: calibrated probability, grade after rule overrides, top factors, "
        "and the alert (id, next step) for 주의 and above.",
        keys=("resident_key", "score_date"),
        partition_by=("score_date",),
    ),
    Table(
        "gold.risk_alerts",
        (
            ("alert_id", "string"),  # stable across reruns: hash of resident_key and score_date
            ("resident_key", "string"),
            ("score_date", "date"),
            ("grade", "string"),
            ("probability", "double"),
            ("rule_flags", "string"),
            ("next_step", "string"),  # ai_call → monitoring_centre_call → public_official → home_visit_or_119
            ("top_factors", "string"),
            ("model_version", "string"),
        ),
        "pseudonymised",
        "Residents graded 주의 or above on a day, with the next step on the escalation ladder.",
        keys=("alert_id",),
        partition_by=("score_date",),
    ),
)

# The chatbot's knowledge tables (gglake.knowledge): public policy text and its eligibility facets, no
# resident data. List-valued facets are comma-separated codes, as in gold.risk_scores.rule_flags.
GOLD_KNOWLEDGE: tuple[Table, ...] = (
    Table(
        "gold.policy_documents",
        (
            ("policy_id", "string"),  # silver.welfare_services.service_key: "<source>:<source id>"
            ("version", "int"),  # 1, 2, … : a new version each time the source text changes
            ("content_hash", "string"),
            ("is_current", "boolean"),  # the latest version of the policy
            ("is_active", "boolean"),  # current, still listed by its source and its application period open
            ("inactive_reason", "string"),  # superseded / delisted / application_closed; null when active
            ("source", "string"),
            ("source_id", "string"),
            ("source_url", "string"),
            ("notice_type", "string"),
            ("title", "string"),
            ("agency", "string"),
            ("department", "string"),
            ("summary", "string"),
            ("target_detail", "string"),
            ("selection_criteria", "string"),
            ("benefit", "string"),
            ("how_to_apply", "string"),
            ("text", "string"),  # the clean full text, by section, that the chunks are cut from
            ("target_groups", "string"),  # comma-separated codes (gglake.knowledge.facets.TARGET_GROUPS)
            ("min_age", "int"),
            ("max_age", "int"),
            ("age_rule", "string"),  # bounded / any; null: the source states no age rule
            ("district_scope", "string"),  # nationwide / province / district; null: not parseable
            ("district_codes", "string"),  # comma-separated 5-digit codes for district scope
            ("income_criterion", "string"),  # none / median_pct / bottom_pct / recipient
            ("income_threshold_pct", "int"),
            ("benefit_type", "string"),  # cash / voucher / medical / in_kind / service
            ("application_methods", "string"),  # comma-separated: visit, online, phone
            ("application_start", "date"),
            ("application_end", "date"),
            ("always_open", "boolean"),  # the source says applications are taken all year
            ("unparsed_facets", "string"),  # comma-separated facets the source text did not state parseably
            ("popularity_rank", "int"),  # best rank of the policy in the portal's latest search ranking
            ("popularity_date", "date"),
            ("registered_on", "date"),
            ("last_listed", "date"),  # the latest delivery that listed it
            ("valid_from", "timestamp"),  # when this version was built
            ("valid_to", "timestamp"),  # when a newer version replaced it
            ("run_id", "string"),
        ),
        "public",
        "Welfare policies, notices and announcements, one row per version: clean text, eligibility facets "
        "parsed from the source fields, popularity and whether the policy can be retrieved (is_active).",
        keys=("policy_id", "version"),
    ),
    Table(
        "gold.policy_chunks",
        (
            ("chunk_id", "string"),  # hash of policy id and text: the same passage keeps its id across rebuilds
            ("policy_id", "string"),
            ("version", "int"),
            ("chunk_no", "int"),
            ("sections", "string"),  # comma-separated sections the passage covers
            ("text", "string"),  # the passage, headed by the policy title
            ("tokens", "string"),  # Kiwi morphemes the BM25 index is built from, space-separated
            ("run_id", "string"),
        ),
        "public",
        "Passages of the current version of every policy, with their Korean tokens, for retrieval.",
        keys=("chunk_id",),
    ),
)

# dbt owns the gold marts' schemas and docs (dbt/models/marts/_marts.yml); they are listed here so
# every session registers them and `gglake tables` shows them.
DBT_PROJECT = Path(__file__).resolve().parent.parent / "dbt"


def _mart_keys() -> dict[str, tuple[str, ...]]:
    """Each mart's grain key as dbt declares it: the first column with a `unique` test in _marts.yml."""
    import yaml

    doc = yaml.safe_load((DBT_PROJECT / "models" / "marts" / "_marts.yml").read_text(encoding="utf-8"))
    keys: dict[str, tuple[str, ...]] = {}
    for model in doc.get("models", []):
        unique = [c["name"] for c in model.get("columns", []) if "unique" in (c.get("data_tests") or [])]
        if unique:
            keys[model["name"]] = (unique[0],)
    return keys


MART_KEYS = _mart_keys()
PUBLIC_MARTS = frozenset({"dim_districts", "districts", "dim_companies", "kpi_industry_quarterly", "mart_policy_popularity"})
GOLD_MARTS: tuple[Table, ...] = tuple(
    Table(
        f"gold.{path.stem}",
        (),
        "public" if path.stem in PUBLIC_MARTS else "pseudonymised",
        f"dbt {kind}: see dbt/{path.relative_to(DBT_PROJECT)}",
        keys=MART_KEYS.get(path.stem, ()),
    )
    for kind, folder in (("mart", "models/marts"), ("seed", "seeds"))
    for path in sorted((DBT_PROJECT / folder).glob("*.sql" if kind == "mart" else "*.csv"))
)

TABLES: tuple[Table, ...] = (
    BRONZE + SILVER + RESTRICTED + QUARANTINE + FEATURE_TABLES + GOLD_RISK + GOLD_KNOWLEDGE + GOLD_MARTS + AUDIT
)
_BY_NAME = {t.name: t for t in TABLES}


def table(name: str) -> Table:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(sorted(_BY_NAME))}") from None
