"""The serving store: the public-facing datasets Superset, analysts and the KPI report read.

Each dataset is declared once below: DuckDB SQL over the gold tables it may use, its key, and which of
its columns count residents (suppressed below gglake.disclosure.SMALL_CELL, with every figure derived
from them). No dataset carries a resident-level identifier. A publish computes every dataset from the
gold tables at the versions a run released and writes them to a target:

- DuckDB (default): a new file, swapped in with one rename. A reader keeps reading the file it opened
  (the old inode lives until its last reader closes it), a new reader opens the new one: no query sees a
  half-published store and none meets the writer's lock.
- PostgreSQL: each dataset is loaded into a temporary staging table and every table is swapped in one
  transaction (readers keep seeing the previous rows until it commits); datasets keyed by day are
  upserted by key from the last LOOKBACK_DAYS days only.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from gglake.disclosure import FLAG, suppress
from gglake.settings import ConfigError, Settings

log = logging.getLogger(__name__)

SCHEMA = "serving"
META_TABLE = "_publication"
# Days a day-keyed dataset re-sends to PostgreSQL on each publish: the marts re-merge this many days of
# late data (dbt var lookback_days), so older rows cannot have changed.
LOOKBACK_DAYS = 14

# The gold (and public silver) tables datasets read, under the names their SQL uses.
SOURCES: dict[str, str] = {
    "dim_districts": "gold.dim_districts",
    "dim_residents": "gold.dim_residents",
    "fct_care_calls_daily": "gold.fct_care_calls_daily",
    "fct_risk_daily": "gold.fct_risk_daily",
    "fct_alert_response": "gold.fct_alert_response",
    "kpi_care_monthly": "gold.kpi_care_monthly",
    "kpi_industry_quarterly": "gold.kpi_industry_quarterly",
    "mart_policy_popularity": "gold.mart_policy_popularity",
    "risk_scores": "gold.risk_scores",
    "resident_daily": "features.resident_daily",
    "welfare_services": "silver.welfare_services",  # public policy catalogue, no resident data
}

# Model features that appear as an alert's top factor, in words a dashboard reader understands.
FACTOR_LABELS: dict[str, str] = {
    "hr_z": "심박수 개인 기준 이탈 (heart rate vs own baseline)",
    "sys_z": "수축기 혈압 개인 기준 이탈 (systolic BP vs own baseline)",
    "steps_z": "걸음 수 개인 기준 이탈 (steps vs own baseline)",
    "power_z": "전력 사용 개인 기준 이탈 (power use vs own baseline)",
    "stress_z": "스트레스 개인 기준 이탈 (stress vs own baseline)",
    "answer_rate_7d": "AI 안부전화 응답률 7일 (call answer rate, 7 days)",
    "answer_rate_28d": "AI 안부전화 응답률 28일 (call answer rate, 28 days)",
    "calls_unanswered_streak": "연속 미응답 (unanswered call streak)",
    "sentiment_28d": "통화 감정 28일 (call sentiment, 28 days)",
    "sentiment_trend": "통화 감정 추세 (call sentiment trend)",
    "no_activity_hours": "무활동 시간 (hours without activity)",
    "longest_stationary_hours": "최장 정지 시간 (longest stationary period)",
    "resp_mean": "호흡수 (respiration rate)",
    "spo2_mean": "산소포화도 (SpO2)",
    "spo2_min": "최저 산소포화도 (lowest SpO2)",
    "stress_mean": "스트레스 지수 (stress index)",
    "hr_mean": "평균 심박수 (mean heart rate)",
    "hr_max": "최고 심박수 (highest heart rate)",
    "temp_max": "최고 체온 (highest temperature)",
    "sys_mean": "평균 수축기 혈압 (mean systolic BP)",
    "news2_total": "NEWS2 점수 (NEWS2 score)",
    "kw_loneliness_7d": "통화 중 외로움 언급 (loneliness mentioned in calls)",
    "kw_pain_7d": "통화 중 통증 언급 (pain mentioned in calls)",
    "kw_help_7d": "통화 중 도움 요청 (help asked for in calls)",
    "power_kwh": "전력 사용량 (power use)",
    "steps": "걸음 수 (steps)",
}


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str  # Korean (English)
    sql: str  # DuckDB SQL over SOURCES
    key: tuple[str, ...]
    resident_counts: tuple[str, ...] = ()  # suppressed below SMALL_CELL
    derived: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # column -> the counts it is computed from
    upsert_on: str | None = None  # a day column: PostgreSQL upserts the last LOOKBACK_DAYS days by key

    @property
    def table(self) -> str:
        return f"{SCHEMA}.{self.name}"


_NAMES = "d.district_name_ko, d.district_name_en"
_CALL_SUMS = """sum(calls_scheduled) as calls_scheduled, sum(calls_answered) as calls_answered,
    round(sum(calls_answered) / sum(calls_scheduled), 4) as answer_rate,
    sum(unanswered_streaks_3plus) as unanswered_streaks_3plus, sum(escalations) as escalations"""
_CALL_COUNTS = ("calls_scheduled", "calls_answered", "unanswered_streaks_3plus", "escalations")
_CALL_RATE = {"answer_rate": ("calls_scheduled", "calls_answered")}
_GRADES = ("grade_normal", "grade_attention", "grade_caution", "grade_warning", "grade_serious")
_GRADE_SUMS = ", ".join(f"sum({g}) as {g}" for g in (*_GRADES, "residents_scored", "alerts"))
# The resident's district on the score date (their record version valid that day).
_SCORES_DISTRICTED = """
    select s.resident_key, s.score_date, s.grade, r.district_code
    from risk_scores s
    join dim_residents r
      on s.resident_key = r.resident_key and s.score_date >= cast(r.valid_from as date)
     and (r.valid_to is null or s.score_date < cast(r.valid_to as date))"""

DATASETS: tuple[Dataset, ...] = (
    Dataset(
        "districts",
        "시군 현황 (districts)",
        """select district_code, district_name_ko, district_name_en, district_kind, population,
                  elderly_living_alone, enrolled_residents, enrolled_living_alone
           from dim_districts""",
        ("district_code",),
        ("enrolled_residents", "enrolled_living_alone"),
    ),
    Dataset(
        "care_calls_daily",
        "AI 안부전화 일별 (AI care calls by district and day)",
        f"""select c.district_day_key, c.district_code, {_NAMES}, c.call_date, c.calls_scheduled,
                   c.calls_answered, c.answer_rate, c.unanswered_streaks_3plus, c.escalations
            from fct_care_calls_daily c join dim_districts d using (district_code)""",
        ("district_day_key",),
        _CALL_COUNTS,
        _CALL_RATE,
        upsert_on="call_date",
    ),
    Dataset(
        "care_calls_monthly",
        "AI 안부전화 월별 (AI care calls by district and month)",
        f"""select concat(c.district_code, '|', strftime(date_trunc('month', call_date), '%Y-%m')) as district_month_key,
                   c.district_code, {_NAMES}, cast(date_trunc('month', call_date) as date) as month_start, {_CALL_SUMS}
            from fct_care_calls_daily c join dim_districts d using (district_code)
            group by all""",
        ("district_month_key",),
        _CALL_COUNTS,
        _CALL_RATE,
    ),
    Dataset(
        "care_calls_province_daily",
        "AI 안부전화 경기도 일별 (AI care calls, province, by day)",
        f"select call_date, {_CALL_SUMS} from fct_care_calls_daily group by call_date",
        ("call_date",),
        _CALL_COUNTS,
        _CALL_RATE,
        upsert_on="call_date",
    ),
    Dataset(
        "risk_grades_daily",
        "위험등급 분포 시군 일별 (risk grades by district and day)",
        f"""select f.district_day_key, f.district_code, {_NAMES}, f.score_date, f.residents_scored,
                   {", ".join("f." + g for g in _GRADES)}, f.alerts, f.mean_probability
            from fct_risk_daily f join dim_districts d using (district_code)""",
        ("district_day_key",),
        ("residents_scored", *_GRADES, "alerts"),
        {"mean_probability": ("residents_scored",)},
        upsert_on="score_date",
    ),
    Dataset(
        "risk_grades_province_daily",
        "위험등급 분포 경기도 일별 (risk grades, province, by day)",
        f"select score_date, {_GRADE_SUMS} from fct_risk_daily group by score_date",
        ("score_date",),
        ("residents_scored", *_GRADES, "alerts"),
        upsert_on="score_date",
    ),
    Dataset(
        "risk_residents_monthly",
        "경계·심각 대상자 시군 월별 (residents at warning or serious, by district and month)",
        f"""with scores as ({_SCORES_DISTRICTED})
            select concat(s.district_code, '|', strftime(date_trunc('month', score_date), '%Y-%m')) as district_month_key,
                   s.district_code, {_NAMES}, cast(date_trunc('month', score_date) as date) as month_start,
                   count(distinct resident_key) as residents_scored,
                   count(distinct case when grade in ('경계', '심각') then resident_key end) as residents_warning_or_serious,
                   count(distinct case when grade = '심각' then resident_key end) as residents_serious
            from scores s join dim_districts d using (district_code)
            group by all""",
        ("district_month_key",),
        ("residents_scored", "residents_warning_or_serious", "residents_serious"),
    ),
    Dataset(
        "risk_factors_monthly",
        "경보 주요 위험요인 월별 (top risk factor of alerts, by month)",
        """with alerts as (
                select cast(date_trunc('month', score_date) as date) as month_start,
                       json_extract_string(top_factors, '$[0].feature') as factor
                from risk_scores where alert_id is not null)
            select concat(strftime(month_start, '%Y-%m'), '|', a.factor) as month_factor_key, month_start,
                   a.factor, coalesce(l.label, a.factor) as factor_label, count(*) as alerts
            from alerts a left join factor_labels l on a.factor = l.factor
            where a.factor is not null
            group by all""",
        ("month_factor_key",),
        ("alerts",),
    ),
    Dataset(
        "health_signals_province_daily",
        "NEWS2·혈압 분류 경기도 일별 (NEWS2 risk and BP category mix, province, by day)",
        """select concat(strftime(feature_date, '%Y-%m-%d'), '|', signal, '|', category) as day_signal_category_key,
                  feature_date, signal, category, count(*) as residents
           from (select feature_date, 'NEWS2' as signal, news2_risk as category from resident_daily
                 union all
                 select feature_date, 'BP' as signal, bp_category as category from resident_daily)
           where category is not null
           group by all""",
        ("day_signal_category_key",),
        ("residents",),
        upsert_on="feature_date",
    ),
    Dataset(
        "alert_response_monthly",
        "경보 대응 시군 월별 (alert response by district and month)",
        f"""select concat(a.district_code, '|', strftime(date_trunc('month', score_date), '%Y-%m')) as district_month_key,
                   a.district_code, {_NAMES}, cast(date_trunc('month', score_date) as date) as month_start,
                   count(*) as alerts, count(resolved_at) as alerts_resolved,
                   count(*) filter (where resolution_type = 'answered_contact') as resolved_by_contact,
                   count(*) filter (where resolution_type = 'home_visit') as resolved_by_visit,
                   round(median(hours_to_resolution), 2) as median_hours_to_resolution,
                   round(quantile_cont(hours_to_resolution, 0.9), 2) as p90_hours_to_resolution,
                   round(median(hours_to_next_call), 2) as median_hours_to_next_call
            from fct_alert_response a join dim_districts d using (district_code)
            group by all""",
        ("district_month_key",),
        ("alerts", "alerts_resolved", "resolved_by_contact", "resolved_by_visit"),
        {
            "median_hours_to_resolution": ("alerts_resolved",),
            "p90_hours_to_resolution": ("alerts_resolved",),
            "median_hours_to_next_call": ("alerts",),
        },
    ),
    Dataset(
        "alert_response_buckets_monthly",
        "경보 대응시간 분포 월별 (alert response time distribution, by month)",
        """select concat(strftime(month_start, '%Y-%m'), '|', bucket) as month_bucket_key, month_start, bucket,
                  bucket_order, count(*) as alerts
           from (select cast(date_trunc('month', score_date) as date) as month_start,
                        case when hours_to_resolution is null then '미해결 (unresolved)'
                             when hours_to_resolution < 6 then '6시간 미만 (< 6 h)'
                             when hours_to_resolution < 24 then '6–24시간 (6–24 h)'
                             when hours_to_resolution < 72 then '1–3일 (1–3 days)'
                             else '3일 이상 (3+ days)' end as bucket,
                        case when hours_to_resolution is null then 5 when hours_to_resolution < 6 then 1
                             when hours_to_resolution < 24 then 2 when hours_to_resolution < 72 then 3 else 4 end
                            as bucket_order
                 from fct_alert_response)
           group by all""",
        ("month_bucket_key",),
        ("alerts",),
    ),
    Dataset(
        "care_kpi_monthly",
        "돌봄 KPI 시군 월별 (care KPIs by district and month)",
        f"""select k.district_month_key, k.district_code, {_NAMES}, k.month_start, k.elderly_living_alone,
                   k.enrolled_residents, k.enrolled_living_alone, k.coverage_rate, k.contacts,
                   k.contacts_per_resident, k.alerts, k.alerts_per_1000, k.median_response_hours
            from kpi_care_monthly k join dim_districts d using (district_code)""",
        ("district_month_key",),
        ("enrolled_residents", "enrolled_living_alone", "contacts", "alerts"),
        {
            "coverage_rate": ("enrolled_living_alone",),
            "contacts_per_resident": ("contacts", "enrolled_residents"),
            "alerts_per_1000": ("alerts", "enrolled_residents"),
            "median_response_hours": ("alerts",),
        },
    ),
    Dataset(
        "care_kpi_province_monthly",
        "돌봄 KPI 경기도 월별 (care KPIs, province, by month)",
        """with kpi as (
                select month_start, sum(elderly_living_alone) as elderly_living_alone,
                       sum(enrolled_residents) as enrolled_residents, sum(enrolled_living_alone) as enrolled_living_alone,
                       sum(contacts) as contacts, sum(alerts) as alerts
                from kpi_care_monthly group by month_start),
            calls as (
                select cast(date_trunc('month', call_date) as date) as month_start,
                       sum(calls_scheduled) as calls_scheduled, sum(calls_answered) as calls_answered,
                       sum(unanswered_streaks_3plus) as unanswered_streaks_3plus, sum(escalations) as escalations
                from fct_care_calls_daily group by all),
            response as (
                select cast(date_trunc('month', score_date) as date) as month_start,
                       round(median(hours_to_resolution), 2) as median_response_hours,
                       count(resolved_at) as alerts_resolved
                from fct_alert_response group by all)
            select kpi.month_start, kpi.elderly_living_alone, kpi.enrolled_residents, kpi.enrolled_living_alone,
                   round(kpi.enrolled_living_alone / kpi.elderly_living_alone, 6) as coverage_rate,
                   kpi.contacts, round(kpi.contacts / nullif(kpi.enrolled_residents, 0), 4) as contacts_per_resident,
                   kpi.alerts, round(kpi.alerts * 1000 / nullif(kpi.enrolled_residents, 0), 2) as alerts_per_1000,
                   coalesce(response.alerts_resolved, 0) as alerts_resolved, response.median_response_hours,
                   coalesce(calls.calls_scheduled, 0) as calls_scheduled, coalesce(calls.calls_answered, 0) as calls_answered,
                   round(calls.calls_answered / nullif(calls.calls_scheduled, 0), 4) as answer_rate,
                   coalesce(calls.unanswered_streaks_3plus, 0) as unanswered_streaks_3plus,
                   coalesce(calls.escalations, 0) as escalations
            from kpi left join calls using (month_start) left join response using (month_start)""",
        ("month_start",),
        (
            "enrolled_residents",
            "enrolled_living_alone",
            "contacts",
            "alerts",
            "alerts_resolved",
            *_CALL_COUNTS,
        ),
        {
            "coverage_rate": ("enrolled_living_alone",),
            "contacts_per_resident": ("contacts", "enrolled_residents"),
            "alerts_per_1000": ("alerts", "enrolled_residents"),
            "median_response_hours": ("alerts_resolved",),
            **_CALL_RATE,
        },
    ),
    Dataset(
        "policy_popularity",
        "복지정책 검색 순위 (welfare-policy search ranking)",
        """select ranking_day_keyword_key, ranking_date, keyword, search_rank, search_count, previous_rank,
                  rank_change, service_id, service_name, notice_type, agency, service_source, is_matched_policy
           from mart_policy_popularity""",
        ("ranking_day_keyword_key",),
        upsert_on="ranking_date",
    ),
    Dataset(
        "policies",
        "복지정책·공고 목록 (welfare policies and notices)",
        """with versions as (
                select *, row_number() over (partition by service_id order by snapshot_date desc, service_key) as n,
                       min(snapshot_date) over (partition by service_id) as first_listed,
                       max(snapshot_date) over (partition by service_id) as last_listed
                from welfare_services),
            latest_ranking as (
                select service_id, min(search_rank) as search_rank from mart_policy_popularity
                where ranking_date = (select max(ranking_date) from mart_policy_popularity) group by service_id)
            select v.service_id, v.service_name, v.notice_type, v.source as service_source, v.agency,
                   v.life_stages, v.target_groups, coalesce(nullif(v.district, ''), '경기도 전체') as area,
                   v.registered_on, v.first_listed, v.last_listed,
                   v.last_listed = (select max(snapshot_date) from welfare_services) as is_listed,
                   r.search_rank
            from versions v left join latest_ranking r using (service_id)
            where v.n = 1""",
        ("service_id",),
    ),
    Dataset(
        "policy_target_groups",
        "복지정책 대상별 현황 (welfare policies by target group)",
        """with listed as (
                select service_id, source, target_groups from welfare_services
                where snapshot_date = (select max(snapshot_date) from welfare_services)),
            groups as (
                select distinct service_id, source, trim(unnest(string_split(target_groups, ','))) as target_group
                from listed where target_groups is not null and target_groups <> '')
            select concat(target_group, '|', source) as group_source_key, target_group, source as service_source,
                   count(*) as listed_policies
            from groups group by all""",
        ("group_source_key",),
    ),
    Dataset(
        "industry_quarterly",
        "AI 산업벨트 분기별 (AI industry belt by quarter, complex and sector)",
        """select quarter_complex_sector_key, snapshot_quarter, industrial_complex, sector, companies, employees,
                  revenue_krw_mn, investment_krw_mn, startups, companies_qoq_change, employees_qoq_change,
                  revenue_qoq_change_krw_mn, investment_qoq_change_krw_mn, startups_qoq_change,
                  employees_qoq_pct, revenue_qoq_pct,
                  snapshot_quarter = max(snapshot_quarter) over () as is_latest_quarter
           from kpi_industry_quarterly""",
        ("quarter_complex_sector_key",),
    ),
)

_BY_NAME = {d.name: d for d in DATASETS}
# Resident-level identifiers (and the PII columns of the restricted zone): no serving dataset may carry one.
IDENTIFIER_COLUMNS = frozenset({"resident_key", "resident_version_key", "resident_id", "alert_id", "call_id", "visit_id",
                                "event_id", "name", "phone", "address", "resident_number"})


def dataset(name: str) -> Dataset:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown serving dataset {name!r}; known: {', '.join(_BY_NAME)}") from None


# --- building the datasets ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    tables: dict[str, pa.Table]  # dataset name -> rows, suppressed
    suppressed_cells: dict[str, int]
    versions: dict[str, int]  # source table -> the Delta version read


def build(settings: Settings, versions: Mapping[str, int] | None = None) -> Built:
    """Every dataset computed from the gold tables (at `versions` where given, else their latest)."""
    import duckdb

    from gglake import delta
    from gglake.catalog import table

    con = duckdb.connect()
    read: dict[str, int] = {}
    for alias, name in SOURCES.items():
        dt = delta.open_table(settings, table(name))
        if dt is None:
            raise RuntimeError(f"cannot publish the serving store: {name} does not exist yet")
        if versions and name in versions:
            dt.load_as_version(versions[name])
        read[name] = dt.version()
        con.register(alias, delta.to_arrow(dt))
    labels = pa.table({"factor": list(FACTOR_LABELS), "label": list(FACTOR_LABELS.values())})
    con.register("factor_labels", labels)
    tables, cells = {}, {}
    for ds in DATASETS:
        rows = _plain_numbers(con.sql(f"select * from ({ds.sql}) order by {', '.join(ds.key)}").to_arrow_table())
        leaked = IDENTIFIER_COLUMNS & set(rows.column_names)
        if leaked:
            raise RuntimeError(f"serving dataset {ds.name} would publish identifiers: {', '.join(sorted(leaked))}")
        tables[ds.name], cells[ds.name] = suppress(rows, ds.resident_counts, ds.derived)
    con.close()
    return Built(tables, cells, read)


def _plain_numbers(data: pa.Table) -> pa.Table:
    """DuckDB sums integers into 128-bit decimals; dashboards and PostgreSQL want bigint and double."""
    fields = []
    for f in data.schema:
        if pa.types.is_decimal(f.type):
            f = f.with_type(pa.int64() if f.type.scale == 0 else pa.float64())
        fields.append(f)
    return data.cast(pa.schema(fields))


# --- targets -----------------------------------------------------------------------------------------


def default_target(settings: Settings) -> str:
    """GGLAKE_SERVING_URL, else a DuckDB file next to the lakehouse (a local lakehouse only)."""
    url = os.environ.get("GGLAKE_SERVING_URL")
    if url:
        return url
    if "://" in settings.home:
        raise ConfigError("GGLAKE_HOME is a URL: set GGLAKE_SERVING_URL (a DuckDB file path or a postgresql:// URL)")
    return str(Path(settings.home) / "serving" / "gglake.duckdb")


def is_postgres(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


@dataclass(frozen=True)
class ServingResult:
    target: str
    run_id: str
    rows: dict[str, int]
    suppressed_cells: dict[str, int]
    versions: dict[str, int]
    seconds: float


def publish(
    settings: Settings, run_id: str, target: str | None = None, versions: Mapping[str, int] | None = None
) -> ServingResult:
    """Build every dataset and swap them into `target` (DuckDB path or PostgreSQL URL) at once."""
    began = time.perf_counter()
    target = target or default_target(settings)
    built = build(settings, versions)
    meta = {
        "run_id": run_id,
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": json.dumps(built.versions, sort_keys=True),
    }
    if is_postgres(target):
        _publish_postgres(target, built, meta)
    else:
        _publish_duckdb(Path(target), built, meta)
    rows = {name: t.num_rows for name, t in built.tables.items()}
    result = ServingResult(_redacted(target), run_id, rows, built.suppressed_cells, built.versions, time.perf_counter() - began)
    log.info("%s: serving store %s published (%d datasets, %.1f s)", run_id, result.target, len(rows), result.seconds)
    return result


def _redacted(target: str) -> str:
    """A URL without its password, for logs and results."""
    if not is_postgres(target):
        return target
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(target)
    if parts.password is None:
        return target
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _meta_table(meta: dict[str, str]) -> pa.Table:
    return pa.table({k: [v] for k, v in meta.items()})


def _publish_duckdb(path: Path, built: Built, meta: dict[str, str]) -> None:
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(path)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        con = duckdb.connect(str(staging))
        con.execute(f"create schema {SCHEMA}")
        for name, data in [*built.tables.items(), (META_TABLE, _meta_table(meta))]:
            con.register("data", data)
            con.execute(f'create table {SCHEMA}."{name}" as select * from data')
            con.unregister("data")
            if name in _BY_NAME:
                title = _BY_NAME[name].title.replace("'", "''")
                con.execute(f"comment on table {SCHEMA}.\"{name}\" is '{title}'")
        con.execute("checkpoint")
        con.close()
        with open(staging, "rb") as f:
            os.fsync(f.fileno())
        os.replace(staging, path)  # atomic: readers see the old file or the new one, never a mix
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        for leftover in (staging, staging.with_name(staging.name + ".wal")):
            leftover.unlink(missing_ok=True)


def _remove_abandoned(path: Path, older_than_s: float = 3600) -> None:
    """Staging files of publishes that died (a live publish finishes within minutes)."""
    now = time.time()
    for stale in path.parent.glob(f".{path.name}.*.tmp*"):
        if now - stale.stat().st_mtime > older_than_s:
            stale.unlink(missing_ok=True)


_PG_TYPES = {
    pa.string(): "text",
    pa.large_string(): "text",
    pa.int64(): "bigint",
    pa.int32(): "integer",
    pa.int16(): "smallint",
    pa.int8(): "smallint",
    pa.float64(): "double precision",
    pa.float32(): "real",
    pa.bool_(): "boolean",
    pa.date32(): "date",
}


def _pg_type(t: pa.DataType) -> str:
    if pa.types.is_decimal(t):
        return f"numeric({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    try:
        return _PG_TYPES[t]
    except KeyError:
        raise TypeError(f"no PostgreSQL type for Arrow {t}") from None


def _pg_columns(data: pa.Table) -> str:
    return ", ".join(f'"{f.name}" {_pg_type(f.type)}' for f in data.schema)


def _publish_postgres(url: str, built: Built, meta: dict[str, str]) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=False) as con:
        con.execute(f"create schema if not exists {SCHEMA}")
        con.commit()
        # One lock per store: two publishes at once would interleave their swaps.
        con.execute("select pg_advisory_xact_lock(hashtext('gglake.serving.publish'))")
        for name, data in [*built.tables.items(), (META_TABLE, _meta_table(meta))]:
            ds = _BY_NAME.get(name)
            _swap_in(con, name, data, ds)
        con.commit()


def _existing_columns(con, name: str) -> list[tuple[str, str]]:
    rows = con.execute(
        "select column_name, data_type from information_schema.columns"
        " where table_schema = %s and table_name = %s order by ordinal_position",
        (SCHEMA, name),
    ).fetchall()
    return [(c, t) for c, t in rows]


def _swap_in(con, name: str, data: pa.Table, ds: Dataset | None) -> None:
    """Inside the publish transaction: stage `data`, then replace (or, for a day-keyed dataset whose table
    has the same columns, upsert the recent days of) the serving table."""
    from psycopg import sql

    target = sql.Identifier(SCHEMA, name)
    stage = sql.Identifier(f"_stage_{name}")
    wanted = [f.name for f in data.schema]
    existing = _existing_columns(con, name)
    same_shape = [c for c, _ in existing] == wanted
    incremental = ds is not None and ds.upsert_on is not None and same_shape
    if incremental:
        cutoff = con.execute(sql.SQL("select max({}) from {}").format(sql.Identifier(ds.upsert_on), target)).fetchone()[0]
        if cutoff is not None:
            import datetime as dt

            import pyarrow.compute as pc

            since = cutoff - dt.timedelta(days=LOOKBACK_DAYS)
            data = data.filter(pc.greater_equal(data[ds.upsert_on], pa.scalar(since, data.schema.field(ds.upsert_on).type)))
    con.execute(sql.SQL("create temp table {} ({}) on commit drop").format(stage, sql.SQL(_pg_columns(data))))
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in wanted)
    with con.cursor().copy(sql.SQL("copy {} ({}) from stdin").format(stage, columns)) as copy:
        for row in data.to_pylist():
            copy.write_row([row[c] for c in wanted])
    if incremental:
        keys = sql.SQL(", ").join(sql.Identifier(k) for k in ds.key)
        updates = sql.SQL(", ").join(
            sql.SQL("{} = excluded.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in wanted if c not in ds.key
        )
        con.execute(
            sql.SQL("insert into {} ({}) select {} from {} on conflict ({}) do update set {}").format(
                target, columns, columns, stage, keys, updates
            )
        )
        return
    if not same_shape:  # new dataset or changed columns: the table is recreated, still inside the transaction
        con.execute(sql.SQL("drop table if exists {}").format(target))
        key = ds.key if ds else ()
        pk = sql.SQL(", primary key ({})").format(sql.SQL(", ").join(sql.Identifier(k) for k in key)) if key else sql.SQL("")
        con.execute(sql.SQL("create table {} ({}{})").format(target, sql.SQL(_pg_columns(data)), pk))
        if ds:
            con.execute(sql.SQL("comment on table {} is {}").format(target, sql.Literal(ds.title)))
    else:
        con.execute(sql.SQL("delete from {}").format(target))  # MVCC: readers keep the old rows until commit
    con.execute(sql.SQL("insert into {} ({}) select {} from {}").format(target, columns, columns, stage))


def read(target: str, name: str) -> pa.Table:
    """One serving table as Arrow (for the report and tests), from a DuckDB file or PostgreSQL."""
    query = f'select * from {SCHEMA}."{name}"'
    if is_postgres(target):
        import psycopg

        with psycopg.connect(target) as con:
            cur = con.execute(query)
            names = [c.name for c in cur.description]
            return pa.Table.from_pylist([dict(zip(names, r)) for r in cur.fetchall()])
    import duckdb

    with duckdb.connect(target, read_only=True) as con:
        return con.sql(query).to_arrow_table()


__all__ = ["DATASETS", "FLAG", "Dataset", "ServingResult", "build", "dataset", "default_target", "publish", "read"]
