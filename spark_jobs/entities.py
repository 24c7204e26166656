"""How each bronze table becomes typed, validated silver rows.

An entity lists the contract's fields, the typed projection, and validation checks in priority
order; `staged_sql` turns that into one SQL query whose rows carry `_reject` (a reason code, or
null for a good row) and `_detail` (what was wrong, for the quarantine). Reason codes:

  bad_encoding, malformed_row   the reader could not take the record apart (set in bronze)
  oversized_line                the record is longer than GGLAKE_MAX_LINE_BYTES (bronze keeps a preview)
  malformed_json                the record is not a JSON object
  unknown_field                 fields outside the contract (schema drift; could carry PII)
  missing_key, missing_field    the natural key / a required field is empty
  bad_type                      a value does not parse as its type
  invalid_code                  a code outside its list (metric, outcome, district, …)
  unknown_resident              no such resident in the registry
  impossible_value              physically impossible reading (device fault)
  invalid_value                 a value outside its allowed range
  future_timestamp, too_late    measured after delivery / before the lateness window
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gglake import domain
from gglake.districts import DISTRICT_NAMES_KO
from gglake.settings import Settings
from spark_jobs.landing import PATH_DATE, PATH_QUARTER

Kind = Literal["upsert", "scd2", "registry"]


def _in(values) -> str:
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(values)) + ")"


@dataclass(frozen=True)
class Check:
    reason: str
    condition: str
    detail: str = "''"


@dataclass(frozen=True)
class Entity:
    bronze: str
    silver: str
    fields: tuple[str, ...]  # the contract's fields, all read as strings first
    key_field: str  # contract field holding the natural key (empty → missing_key)
    required: tuple[str, ...]  # contract fields that must be non-empty
    select: tuple[str, ...]  # typed projection: "expr as column", may use j.<field>
    checks: tuple[Check, ...]  # after the generic ones, in priority order
    keys: tuple[str, ...]  # silver natural key (for scd2: the business key, without valid_from)
    kind: Kind = "upsert"
    strict_fields: bool = True  # unknown fields are quarantined (schema drift may carry PII)
    resident_field: str | None = "resident_id"  # joined to the registry for resident_key
    # True when a key's partition value can never change between deliveries (a reading's time is
    # part of the event), so key lookups may prune to the batch's partitions. A call can be
    # rescheduled: its re-delivery must find the old row wherever it is.
    immutable_partition: bool = False
    # Free-text columns of the typed projection that may carry PII (names, phones, addresses …): the
    # ingest redacts them in the staged rows before anything reaches silver (gglake/redact.py).
    free_text: tuple[str, ...] = ()

    def staged_sql(self, bronze_filter: str) -> str:
        schema = ", ".join(f"`{f}` string" for f in self.fields)
        j = {f: f"nullif(trim(j.`{f}`), '')" for f in self.fields}
        generic = [
            Check("malformed_json", "_keys is null", "'not a JSON object'"),
        ]
        if self.strict_fields:
            unknown = f"filter(_keys, k -> not array_contains(array{_in(self.fields)}, k))"
            generic.append(Check("unknown_field", f"size({unknown}) > 0", f"array_join({unknown}, ',')"))
        generic.append(Check("missing_key", f"{j[self.key_field]} is null", f"'{self.key_field}'"))
        for field in self.required:
            generic.append(Check("missing_field", f"{j[field]} is null", f"'{field}'"))
        if self.resident_field:
            generic.append(Check("unknown_resident", "resident_key is null", f"j.`{self.resident_field}`"))
        checks = generic + list(self.checks)
        # One single-branch CASE per check, first non-null wins: cheaper in the engine than one
        # many-branch CASE. The detail is only computed for the few rejected rows.
        reject = (
            "coalesce(\n        _read_error,\n        "
            + ",\n        ".join(f"case when {c.condition} then '{c.reason}' end" for c in checks)
            + "\n    )"
        )
        detail = (
            "case when _reject = _read_error then _read_error\n"
            + "\n".join(
                f"        when _reject = '{c.reason}' and ({c.condition}) then cast({c.detail} as string)" for c in checks
            )
            + "\n    end"
        )
        resident_join = (
            f"left join resident_keys as rk on rk.resident_id = {j[self.resident_field]}" if self.resident_field else ""
        )
        resident_col = "rk.resident_key," if self.resident_field else ""
        typed = ",\n        ".join(self.select)
        outputs = ", ".join(
            [
                "case when _reject is not null then payload end as payload",
                "_read_error",
                "_source_file",
                "_line",
                "_file_time",
                "_batch_id",
                "_ingested_at",
            ]
            + (["resident_key"] if self.resident_field else [])
            + [expr.rsplit(" as ", 1)[1] for expr in self.select]
            + ["_reject"]
        )
        return f"""
with parsed as (
    select
        payload, _read_error, _source_file, _line, _file_time, _batch_id, _ingested_at,
        from_json(payload, '{schema}') as j,
        json_object_keys(payload) as _keys
    from {self.bronze}
    where {bronze_filter}
),
typed as (
    select
        parsed.*,
        {resident_col}
        {typed}
    from parsed
    {resident_join}
),
checked as (
    select typed.*, {reject} as _reject
    from typed
)
select
    {outputs},
    case when _reject is not null then {detail} end as _detail
from checked
"""


# The KST date the landing path states (a quarter's first day for quarterly files), parsed from the path
# itself: `to_date(_file_time)` gives the UTC date of KST midnight (a day early) on engines that read a
# timestamp column in its stored UTC zone rather than the session's (Sail does).
PATH_LOCAL_DATE = (
    f"coalesce(try_cast(nullif(regexp_extract(_source_file, '{PATH_DATE}', 1), '') as date), "
    f"make_date(try_cast(nullif(regexp_extract(_source_file, '{PATH_QUARTER}', 1), '') as int), "
    f"3 * try_cast(nullif(regexp_extract(_source_file, '{PATH_QUARTER}', 2), '') as int) - 2, 1))"
)


def _text(field: str, alias: str | None = None) -> str:
    """A contract field as trimmed text, empty meaning missing."""
    return f"nullif(trim(j.`{field}`), '') as {alias or field}"


def _ts(field: str) -> str:
    return f"try_cast(nullif(trim(j.`{field}`), '') as timestamp)"


def _bad_type(*pairs: tuple[str, str]) -> Check:
    """A field present in the payload whose typed value came out null did not parse."""
    condition = " or ".join(f"(nullif(trim(j.`{f}`), '') is not null and {col} is null)" for f, col in pairs)
    detail = (
        "concat_ws(',', "
        + ", ".join(
            f"case when nullif(trim(j.`{f}`), '') is not null and {col} is null then '{f}=' || j.`{f}` end" for f, col in pairs
        )
        + ")"
    )
    return Check("bad_type", condition, detail)


def _metric_limits() -> str:
    cases = " ".join(
        f"when '{metric}' then value < {low} or value > {high}" for metric, (_, _, low, high) in domain.SENSOR_METRICS.items()
    )
    low, high = domain.DIASTOLIC_RANGE
    bp = f"(metric = 'blood_pressure' and (diastolic is null or diastolic < {low} or diastolic > {high} or diastolic >= value))"
    return f"(case metric {cases} else false end) or {bp}"


def sensor_readings(settings: Settings) -> Entity:
    future = settings.future_tolerance_hours + 1  # the hour's own span plus tolerance
    return Entity(
        bronze="bronze.sensor_readings",
        silver=domain.SILVER_TABLES["sensors"],
        fields=(
            "event_id",
            "device_id",
            "device_type",
            "resident_id",
            "metric",
            "value",
            "diastolic",
            "unit",
            "measured_at",
            "firmware",
        ),
        key_field="event_id",
        required=("resident_id", "metric", "value", "measured_at"),
        select=(
            _text("event_id"),
            _text("device_id"),
            _text("device_type"),
            _text("metric"),
            "try_cast(j.value as double) as value",
            "try_cast(j.diastolic as double) as diastolic",
            _text("unit"),
            f"{_ts('measured_at')} as measured_at",
            f"hour({_ts('measured_at')}) as reading_hour",
            _text("firmware"),
            f"to_date({_ts('measured_at')}) as reading_date",
        ),
        checks=(
            _bad_type(("value", "value"), ("diastolic", "diastolic"), ("measured_at", "measured_at")),
            Check("invalid_code", f"metric not in {_in(domain.SENSOR_METRICS)}", "'metric=' || metric"),
            Check(
                "invalid_code",
                f"coalesce(device_type, '') not in {_in(domain.DEVICE_TYPES)}",
                "'device_type=' || coalesce(device_type, '')",
            ),
            Check(
                "impossible_value",
                _metric_limits(),
                "metric || '=' || cast(value as string) || coalesce('/' || cast(diastolic as string), '')",
            ),
            Check("future_timestamp", f"measured_at > _file_time + interval {future} hours", "cast(measured_at as string)"),
            Check(
                "too_late", f"measured_at < _file_time - interval {settings.late_window_days} days", "cast(measured_at as string)"
            ),
        ),
        keys=("event_id",),
        immutable_partition=True,
    )


def care_calls(settings: Settings) -> Entity:
    return Entity(
        bronze="bronze.care_calls",
        silver=domain.SILVER_TABLES["calls"],
        fields=(
            "call_id",
            "resident_id",
            "vendor",
            "scheduled_at",
            "started_at",
            "ended_at",
            "outcome",
            "duration_sec",
            "transcript",
            "sentiment",
            "keywords",
            "escalation",
        ),
        key_field="call_id",
        required=("resident_id", "vendor", "scheduled_at", "outcome"),
        select=(
            _text("call_id"),
            _text("vendor"),
            f"{_ts('scheduled_at')} as scheduled_at",
            f"{_ts('started_at')} as started_at",
            f"{_ts('ended_at')} as ended_at",
            _text("outcome"),
            "nullif(trim(j.outcome), '') = 'answered' as answered",
            "coalesce(try_cast(nullif(trim(j.duration_sec), '') as int), 0) as duration_sec",
            _text("transcript"),
            "try_cast(nullif(trim(j.sentiment), '') as double) as sentiment",
            "coalesce(nullif(trim(j.keywords), ''), '') as keywords",
            "coalesce(nullif(trim(j.escalation), ''), 'none') as escalation",
            f"to_date({_ts('scheduled_at')}) as call_date",
        ),
        checks=(
            _bad_type(
                ("scheduled_at", "scheduled_at"),
                ("started_at", "started_at"),
                ("ended_at", "ended_at"),
                ("duration_sec", "try_cast(nullif(trim(j.duration_sec), '') as int)"),
                ("sentiment", "sentiment"),
            ),
            Check("invalid_code", f"outcome not in {_in(domain.CALL_OUTCOMES)}", "'outcome=' || outcome"),
            Check("invalid_code", f"escalation not in {_in(domain.ESCALATIONS)}", "'escalation=' || escalation"),
            Check("invalid_code", f"vendor not in {_in(domain.CALL_VENDORS)}", "'vendor=' || vendor"),
            Check("invalid_value", "duration_sec < 0 or duration_sec > 7200", "'duration_sec=' || duration_sec"),
            Check("invalid_value", "sentiment < -1 or sentiment > 1", "'sentiment=' || sentiment"),
            Check("invalid_value", "answered and started_at is null", "'answered without started_at'"),
            Check("invalid_value", "ended_at < started_at", "'ended_at before started_at'"),
        ),
        keys=("call_id",),
        free_text=("transcript",),
    )


def visit_outcomes(settings: Settings) -> Entity:
    return Entity(
        bronze="bronze.visit_outcomes",
        silver=domain.SILVER_TABLES["visits"],
        fields=("visit_id", "resident_id", "visited_at", "worker_id", "reason", "outcome", "notes"),
        key_field="visit_id",
        required=("resident_id", "visited_at", "outcome"),
        select=(
            _text("visit_id"),
            f"{_ts('visited_at')} as visited_at",
            f"to_date({_ts('visited_at')}) as visit_date",
            _text("worker_id"),
            _text("reason"),
            _text("outcome"),
            f"nullif(trim(j.outcome), '') in {_in(domain.ADVERSE_VISIT_OUTCOMES)} as is_adverse",
            _text("notes"),
        ),
        checks=(
            _bad_type(("visited_at", "visited_at")),
            Check("invalid_code", f"outcome not in {_in(domain.VISIT_OUTCOMES)}", "'outcome=' || outcome"),
            Check("invalid_code", f"coalesce(reason, 'routine') not in {_in(domain.VISIT_REASONS)}", "'reason=' || reason"),
        ),
        keys=("visit_id",),
        free_text=("notes",),
    )


def registry(settings: Settings) -> Entity:
    booleans = ("living_alone", "consent")
    return Entity(
        bronze="bronze.registry_residents",
        silver=domain.SILVER_TABLES["registry"],
        fields=(
            "resident_id",
            "name",
            "phone",
            "address",
            "birth_date",
            "sex",
            "district",
            "living_alone",
            "programmes",
            "consent",
            "enrolled_on",
            "status",
        ),
        key_field="resident_id",
        required=("name", "birth_date", "sex", "district", "status"),
        select=(
            _text("resident_id"),
            _text("name"),
            _text("phone"),
            _text("address"),
            "try_cast(nullif(trim(j.birth_date), '') as date) as birth_date",
            _text("sex"),
            _text("district"),
            *(f"try_cast(nullif(trim(j.{b}), '') as boolean) as {b}" for b in booleans),
            "coalesce(nullif(trim(j.programmes), ''), '') as programmes",
            "try_cast(nullif(trim(j.enrolled_on), '') as date) as enrolled_on",
            _text("status"),
            f"{PATH_LOCAL_DATE} as snapshot_date",
        ),
        checks=(
            _bad_type(("birth_date", "birth_date"), ("enrolled_on", "enrolled_on"), *((b, b) for b in booleans)),
            Check("invalid_code", f"district not in {_in(DISTRICT_NAMES_KO)}", "'district=' || district"),
            Check("invalid_code", "sex not in ('M', 'F')", "'sex=' || sex"),
            Check("invalid_code", f"status not in {_in(domain.RESIDENT_STATUSES)}", "'status=' || status"),
            Check(
                "invalid_code",
                "size(filter(split(programmes, '[|]'), "
                f"p -> p != '' and not array_contains(array{_in(domain.PROGRAMMES)}, p))) > 0",
                "'programmes=' || programmes",
            ),
            Check("invalid_value", "birth_date > snapshot_date or year(birth_date) < 1900", "'birth_date'"),
        ),
        keys=("resident_id",),
        kind="registry",
        resident_field=None,
    )


def welfare_national(settings: Settings) -> Entity:
    return Entity(
        bronze="bronze.welfare_national",
        silver=domain.SILVER_TABLES["welfare_national"],
        fields=(
            "servId",
            "servNm",
            "jurMnofNm",
            "servDgst",
            "tgtrDtlCn",
            "slctCritCn",
            "alwServCn",
            "aplyMtdCn",
            "lifeArray",
            "trgterIndvdlArray",
            "ctpvNm",
            "sggNm",
            "svcfrstRegTs",
        ),
        key_field="servId",
        required=("servNm",),
        select=(
            "'national:' || trim(j.servId) as service_key",
            "'national' as source",
            "trim(j.servId) as service_id",
            _text("servNm", "service_name"),
            "'복지서비스' as notice_type",
            _text("servDgst", "summary"),
            _text("tgtrDtlCn", "target_detail"),
            _text("slctCritCn", "selection_criteria"),
            _text("alwServCn", "benefit"),
            _text("aplyMtdCn", "how_to_apply"),
            _text("jurMnofNm", "agency"),
            _text("lifeArray", "life_stages"),
            _text("trgterIndvdlArray", "target_groups"),
            _text("ctpvNm", "province"),
            _text("sggNm", "district"),
            # yyyyMMdd; Sail has no try_to_date, so reshape to ISO and try_cast
            "try_cast(regexp_replace(trim(j.svcfrstRegTs), '^([0-9]{4})([0-9]{2})([0-9]{2})$', '$1-$2-$3') as date)"
            " as registered_on",
            f"{PATH_LOCAL_DATE} as snapshot_date",
        ),
        checks=(_bad_type(("svcfrstRegTs", "registered_on")),),
        keys=("service_key",),
        strict_fields=False,  # public API fields: new ones are ignored, not a privacy risk
        resident_field=None,
    )


def welfare_provincial(settings: Settings) -> Entity:
    return Entity(
        bronze="bronze.welfare_provincial",
        silver=domain.SILVER_TABLES["welfare_provincial"],
        fields=(
            "SVC_ID",
            "SVC_NM",
            "SIGUN_NM",
            "SVC_SUMRY",
            "TGT_DTL",
            "SLCT_CRIT",
            "SUPRT_CN",
            "APLY_MTH",
            "INST_NM",
            "NOTICE_TYPE",
            "REGIST_DE",
        ),
        key_field="SVC_ID",
        required=("SVC_NM",),
        select=(
            "'provincial:' || trim(j.SVC_ID) as service_key",
            "'provincial' as source",
            "trim(j.SVC_ID) as service_id",
            _text("SVC_NM", "service_name"),
            "coalesce(nullif(trim(j.NOTICE_TYPE), ''), '복지서비스') as notice_type",
            _text("SVC_SUMRY", "summary"),
            _text("TGT_DTL", "target_detail"),
            _text("SLCT_CRIT", "selection_criteria"),
            _text("SUPRT_CN", "benefit"),
            _text("APLY_MTH", "how_to_apply"),
            _text("INST_NM", "agency"),
            "cast(null as string) as life_stages",
            "cast(null as string) as target_groups",
            "'경기도' as province",
            _text("SIGUN_NM", "district"),
            "try_cast(nullif(trim(j.REGIST_DE), '') as date) as registered_on",
            f"{PATH_LOCAL_DATE} as snapshot_date",
        ),
        checks=(
            _bad_type(("REGIST_DE", "registered_on")),
            Check("invalid_code", f"notice_type not in {_in(domain.NOTICE_TYPES)}", "'NOTICE_TYPE=' || notice_type"),
        ),
        keys=("service_key",),
        strict_fields=False,
        resident_field=None,
    )


def search_ranking(settings: Settings) -> Entity:
    return Entity(
        bronze="bronze.policy_search_ranking",
        silver=domain.SILVER_TABLES["search_ranking"],
        fields=("ranking_date", "rank", "keyword", "service_id", "search_count"),
        key_field="keyword",
        required=("ranking_date", "rank", "search_count"),
        select=(
            "try_cast(nullif(trim(j.ranking_date), '') as date) as ranking_date",
            "try_cast(nullif(trim(j.rank), '') as int) as rank",
            _text("keyword"),
            _text("service_id"),
            "try_cast(nullif(trim(j.search_count), '') as bigint) as search_count",
        ),
        checks=(
            _bad_type(("ranking_date", "ranking_date"), ("rank", "rank"), ("search_count", "search_count")),
            Check("invalid_value", "rank < 1 or search_count < 0", "'rank=' || rank || ' count=' || search_count"),
        ),
        keys=("ranking_date", "keyword"),
        resident_field=None,
    )


def companies(settings: Settings) -> Entity:
    return Entity(
        bronze="bronze.companies",
        silver=domain.SILVER_TABLES["industry"],
        fields=(
            "company_id",
            "company_name",
            "biz_reg_no",
            "complex",
            "district",
            "sector",
            "employees",
            "revenue_krw_mn",
            "investment_krw_mn",
            "founded_year",
            "is_startup",
            "startup_support",
            "status",
            "snapshot_quarter",
        ),
        key_field="company_id",
        required=("company_name", "sector", "status"),
        select=(
            _text("company_id"),
            _text("company_name"),
            _text("biz_reg_no"),
            _text("complex"),
            _text("district"),
            _text("sector"),
            "try_cast(nullif(trim(j.employees), '') as int) as employees",
            "try_cast(nullif(trim(j.revenue_krw_mn), '') as double) as revenue_krw_mn",
            "try_cast(nullif(trim(j.investment_krw_mn), '') as double) as investment_krw_mn",
            "try_cast(nullif(trim(j.founded_year), '') as int) as founded_year",
            "try_cast(nullif(trim(j.is_startup), '') as boolean) as is_startup",
            _text("startup_support"),
            _text("status"),
            "coalesce(nullif(trim(j.snapshot_quarter), ''), '') as snapshot_quarter",
            f"{PATH_LOCAL_DATE} as snapshot_date",
        ),
        checks=(
            _bad_type(
                ("employees", "employees"),
                ("revenue_krw_mn", "revenue_krw_mn"),
                ("investment_krw_mn", "investment_krw_mn"),
                ("founded_year", "founded_year"),
                ("is_startup", "is_startup"),
            ),
            Check("invalid_code", f"sector not in {_in(domain.SECTORS)}", "'sector=' || sector"),
            Check("invalid_code", f"status not in {_in(domain.COMPANY_STATUSES)}", "'status=' || status"),
            Check("invalid_code", f"coalesce(district, '') not in {_in(DISTRICT_NAMES_KO)}", "'district=' || district"),
            Check(
                "invalid_value",
                "employees < 0 or revenue_krw_mn < 0 or investment_krw_mn < 0",
                "'employees=' || employees || ' revenue=' || revenue_krw_mn",
            ),
        ),
        keys=("company_id",),
        kind="scd2",
        strict_fields=False,
        resident_field=None,
    )


def entities(settings: Settings) -> list[Entity]:
    """In processing order: the registry first, so other feeds find their resident keys."""
    return [
        registry(settings),
        sensor_readings(settings),
        care_calls(settings),
        visit_outcomes(settings),
        welfare_national(settings),
        welfare_provincial(settings),
        search_ranking(settings),
        companies(settings),
    ]
