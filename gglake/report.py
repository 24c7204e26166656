"""The policymakers' monthly KPI report: one HTML page set and the PDF printed from that same HTML.

It reads only the public serving store (gglake.serving), never the gold tables, so the small-cell rule
(gglake.disclosure) is applied in one place, when the store is published: a count the store holds as null
is shown as "<5" and a figure derived from one as "–". The report adds no figure that could undo it: it
only re-formats published numbers and takes differences of two published ones (the change against the
previous month); a chart leaves a suppressed value out instead of estimating it.

    build_report(settings, "2026-10")            -> <home>/reports/kpi-2026-10.html and .pdf
    build_report(settings, "2026-10", "41110")   -> kpi-2026-10-41110.*: that district's KPIs and charts
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from gglake import serving
from gglake.disclosure import FLAG, SMALL_CELL
from gglake.files import write_atomic
from gglake.settings import Settings

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "dashboards" / "report"
TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"
# Debian's fonts-nanum: charts and text in one real Korean font (no tofu boxes, no silent fallback).
FONT_DIR = Path("/usr/share/fonts/truetype/nanum")
FONT_FILES = {"regular": "NanumGothic.ttf", "bold": "NanumGothicBold.ttf"}
FONT_FAMILY = "NanumGothic"

TITLE_KO = "경기도 360° AI 플러스 돌봄 월간 KPI 보고서"
TITLE_EN = "Monthly KPI report"
SUPPRESSED = "<5"  # a count the store holds as null (fewer than SMALL_CELL residents, zero included)
MISSING = "–"  # a figure derived from a suppressed count, or no previous month to compare with
KST = ZoneInfo("Asia/Seoul")
MONTH_PATTERN = re.compile(r"(\d{4})-(\d{2})")

GRADES = (
    ("grade_normal", "정상 normal", "#4caf50"),
    ("grade_attention", "관심 attention", "#2f7fd0"),
    ("grade_caution", "주의 caution", "#f2c531"),
    ("grade_warning", "경계 warning", "#f08a24"),
    ("grade_serious", "심각 serious", "#d83a34"),
)
ACCENT, HIGHLIGHT = "#1f5f99", "#d83a34"


class ReportError(RuntimeError):
    """The report cannot be built as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Kpi:
    key: str  # the column in the serving datasets
    label: str  # Korean (English)
    short: str  # the district table's column heading
    kind: str  # count | rate (a share, shown in %) | ratio | hours
    district_source: str  # the serving dataset holding it per district and month
    definition: str
    digits: int = 1
    province: bool = True  # care_kpi_province_monthly holds it too
    in_table: bool = False  # a column of the per-district table
    district_column: str | None = None  # its column in district_source, where not named `key`

    @property
    def column(self) -> str:
        return self.district_column or self.key


KPIS: tuple[Kpi, ...] = (
    Kpi(
        "enrolled_residents",
        "등록 대상자 (enrolled residents)",
        "등록<br>enrolled",
        "count",
        "care_kpi_monthly",
        "Residents with an active record that month who enrolled by its end.",
        in_table=True,
    ),
    Kpi(
        "enrolled_living_alone",
        "독거 등록자 (enrolled, living alone)",
        "독거 등록<br>alone",
        "count",
        "care_kpi_monthly",
        "Enrolled residents who live alone.",
        in_table=True,
    ),
    Kpi(
        "coverage_rate",
        "독거노인 포괄률 (coverage of elderly living alone)",
        "포괄률<br>coverage",
        "rate",
        "care_kpi_monthly",
        "Enrolled residents living alone / residents 65+ living alone (district statistics).",
        digits=2,
        in_table=True,
    ),
    Kpi(
        "calls_scheduled",
        "AI 안부전화 예정 (AI calls scheduled)",
        "",
        "count",
        "care_calls_monthly",
        "AI companion calls scheduled that month.",
    ),
    Kpi(
        "calls_answered",
        "AI 안부전화 응답 (AI calls answered)",
        "",
        "count",
        "care_calls_monthly",
        "Scheduled AI calls the resident answered.",
    ),
    Kpi(
        "answer_rate",
        "AI 안부전화 응답률 (call answer rate)",
        "응답률<br>answer",
        "rate",
        "care_calls_monthly",
        "Calls answered / calls scheduled.",
        in_table=True,
    ),
    Kpi(
        "unanswered_streaks_3plus",
        "3회 연속 미응답 (3 unanswered calls in a row)",
        "",
        "count",
        "care_calls_monthly",
        "Calls that made a run of 3 unanswered calls (the point where a worker checks in person).",
    ),
    Kpi(
        "escalations",
        "상향 조치 (escalations)",
        "",
        "count",
        "care_calls_monthly",
        "Calls escalated up the ladder (monitoring centre, official, home visit or 119).",
    ),
    Kpi(
        "contacts",
        "연락 (contacts)",
        "연락<br>contacts",
        "count",
        "care_kpi_monthly",
        "Answered AI calls + home visits.",
        in_table=True,
    ),
    Kpi(
        "contacts_per_resident",
        "1인당 연락 (contacts per resident)",
        "1인당<br>per res.",
        "ratio",
        "care_kpi_monthly",
        "Contacts / enrolled residents.",
        digits=2,
        in_table=True,
    ),
    Kpi(
        "alerts",
        "위험 경보 (risk alerts)",
        "경보<br>alerts",
        "count",
        "care_kpi_monthly",
        "Risk alerts (grade 주의 caution or above) for enrolled residents.",
        in_table=True,
    ),
    Kpi(
        "alerts_per_1000",
        "1,000명당 경보 (alerts per 1,000 enrolled)",
        "1,000명당<br>per 1,000",
        "ratio",
        "care_kpi_monthly",
        "Alerts × 1,000 / enrolled residents.",
        in_table=True,
    ),
    Kpi(
        "alerts_resolved",
        "해결된 경보 (alerts resolved)",
        "",
        "count",
        "alert_response_monthly",
        "Alerts followed by an answered contact or a home visit.",
    ),
    # From fct_alert_response, as the province figure and chart 3 (kpi_care_monthly's own median attributes
    # alerts to the resident's latest district of the month, and is suppressed on all alerts, not resolved ones).
    Kpi(
        "median_response_hours",
        "대응 시간 중앙값 (median hours to resolution)",
        "대응 중앙값<br>median h",
        "hours",
        "alert_response_monthly",
        "Median hours from the alert (04:00 KST on the score date) to the first answered "
        "contact or home visit; resolved alerts only.",
        in_table=True,
        district_column="median_hours_to_resolution",
    ),
    Kpi(
        "residents_warning_or_serious",
        "경계·심각 대상자 (residents at warning or serious)",
        "경계·심각<br>warn./ser.",
        "count",
        "risk_residents_monthly",
        "Residents graded 경계 warning or 심각 serious on at least one day.",
        province=False,
        in_table=True,
    ),
)

# Serving datasets the report reads, and what each gives it.
DATASETS: dict[str, str] = {
    "care_kpi_province_monthly": "headline KPIs, province",
    "care_kpi_monthly": "KPIs per district",
    "care_calls_monthly": "AI call KPIs per district",
    "alert_response_monthly": "alert response per district (chart 3)",
    "risk_residents_monthly": "residents at warning or serious per district",
    "care_calls_province_daily": "daily answer rate, province (chart 1)",
    "care_calls_daily": "daily answer rate, district (chart 1 with a district)",
    "risk_grades_province_daily": "daily grade mix, province (chart 2)",
    "risk_grades_daily": "daily grade mix, district (chart 2 with a district)",
    "risk_factors_monthly": "top risk factors of alerts (chart 4)",
    "districts": "the 31 cities and counties",
}


@dataclass(frozen=True)
class ReportResult:
    html: Path
    pdf: Path
    pages: int
    seconds: float


def parse_month(text: str) -> date:
    """The first day of a YYYY-MM month, or ReportError."""
    match = MONTH_PATTERN.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or not 1 <= int(match[2]) <= 12:
        raise ReportError(f"--month {text!r} is not a month: use YYYY-MM, e.g. 2026-10")
    return date(int(match[1]), int(match[2]), 1)


def default_out_dir(settings: Settings) -> Path:
    """<GGLAKE_HOME>/reports for a local lakehouse; a lakehouse on an object store needs --out."""
    if "://" in settings.home:
        raise ReportError(f"GGLAKE_HOME is a URL ({settings.home}): pass --out DIR, a local folder for the report files")
    return Path(settings.home) / "reports"


def build_report(
    settings: Settings,
    month: str,
    district: str | None = None,
    out_dir: Path | None = None,
    target: str | None = None,
) -> ReportResult:
    """Write kpi-YYYY-MM[-code].html and .pdf (the PDF printed from the same HTML) into `out_dir`."""
    began = time.perf_counter()
    month_start = parse_month(month)
    html = render_html(target or serving.default_target(settings), month_start, district)
    document, pdf = _print(html)
    folder = Path(out_dir) if out_dir is not None else default_out_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"kpi-{month_start:%Y-%m}" + (f"-{district}" if district else "")
    html_path, pdf_path = folder / f"{stem}.html", folder / f"{stem}.pdf"
    write_atomic(html_path, html.encode("utf-8"))
    write_atomic(pdf_path, pdf)
    return ReportResult(html_path, pdf_path, len(document.pages), time.perf_counter() - began)


class _SvgStyleWarnings(logging.Filter):
    """WeasyPrint's HTML style pass warns about every SVG presentation property (fill, stroke...) of an inline
    SVG as an unknown CSS property; its SVG renderer then draws them. Only those warnings are dropped."""

    pattern = re.compile(r"Ignored `(fill|stroke)[a-z-]*:")

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.match(record.getMessage())


def _print(html: str):
    """The rendered document (for its page count) and the PDF bytes, from exactly this HTML string."""
    from weasyprint import HTML

    logger, quiet = logging.getLogger("weasyprint"), _SvgStyleWarnings()
    logger.addFilter(quiet)
    try:
        document = HTML(string=html, base_url=str(TEMPLATE_DIR)).render()
        return document, document.write_pdf()
    finally:
        logger.removeFilter(quiet)


def font_files() -> dict[str, Path]:
    """The NanumGothic files, registered with matplotlib; ReportError if the font is not installed."""
    paths = {weight: FONT_DIR / name for weight, name in FONT_FILES.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise ReportError(
            f"the report's Korean font is missing ({', '.join(missing)}): install Debian's fonts-nanum "
            "(apt-get install fonts-nanum)"
        )
    from matplotlib import font_manager

    known = {f.fname for f in font_manager.fontManager.ttflist}
    for path in paths.values():
        if str(path) not in known:
            font_manager.fontManager.addfont(str(path))
    return paths


# --- reading the serving store -----------------------------------------------------------------------


class _Store:
    """The serving datasets the report reads, each read once; store problems become ReportErrors."""

    def __init__(self, target: str):
        self.target = target
        self.shown = serving._redacted(target)
        if not serving.is_postgres(target) and not Path(target).is_file():
            raise ReportError(f"no serving store at {target}: publish one first (`gglake publish`)")
        self._cache: dict[str, list[dict]] = {}

    def rows(self, name: str) -> list[dict]:
        if name not in self._cache:
            self._cache[name] = self._read(name).to_pylist()
        return self._cache[name]

    def _read(self, name: str):
        import duckdb

        errors: tuple[type[BaseException], ...] = (duckdb.Error,)
        if serving.is_postgres(self.target):
            import psycopg

            errors += (psycopg.Error,)
        try:
            return serving.read(self.target, name)
        except errors as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ReportError(
                f"cannot read {name} from the serving store {self.shown} ({first}): republish it (`gglake publish`)"
            ) from None

    def publication(self) -> dict | None:
        """The _publication row (run id, published_at, versions), or None if the store has none."""
        try:
            rows = self.rows(serving.META_TABLE)
        except ReportError:
            return None
        return rows[0] if rows else None

    def by_district_month(self, name: str) -> dict[tuple[str, date], dict]:
        return {(r["district_code"], r["month_start"]): r for r in self.rows(name)}


# --- formatting ----------------------------------------------------------------------------------------


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt(kpi: Kpi, value) -> str:
    """A published value as the report shows it: "<5" for a suppressed count, "–" for a derived figure."""
    if _missing(value):
        return SUPPRESSED if kpi.kind == "count" else MISSING
    if kpi.kind == "count":
        return f"{int(value):,}"
    if kpi.kind == "rate":
        return f"{value * 100:,.{kpi.digits}f}%"
    if kpi.kind == "hours":
        return f"{value:,.{kpi.digits}f} h"
    return f"{value:,.{kpi.digits}f}"


def change(kpi: Kpi, now, before) -> str:
    """This month − the previous one: counts absolute (and relative), rates in percentage points."""
    if _missing(now) or _missing(before):
        return MISSING
    delta = now - before
    if kpi.kind == "count":
        text = _signed(delta, 0)
        return text + (f" ({_signed(delta / before * 100, 1)}%)" if before else "")
    if kpi.kind == "rate":
        return f"{_signed(delta * 100, kpi.digits)}%p"
    if kpi.kind == "hours":
        return f"{_signed(delta, kpi.digits)} h"
    return _signed(delta, kpi.digits)


def _signed(value: float, digits: int) -> str:
    """+1.3, -0.4, and 0.0 without a sign (no change is not an increase)."""
    text = f"{value:,.{digits}f}"
    if float(text.replace(",", "")) == 0:
        return text.lstrip("-")
    return text if text.startswith("-") else "+" + text


def _previous(month_start: date) -> date:
    return (month_start - timedelta(days=1)).replace(day=1)


def _in_month(day: date, month_start: date) -> bool:
    return (day.year, day.month) == (month_start.year, month_start.month)


def _published_kst(text: str | None) -> str:
    if not text:
        return MISSING
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    return f"{moment.astimezone(KST):%Y-%m-%d %H:%M} KST" if moment.tzinfo else text


# --- the report's content ------------------------------------------------------------------------------


def render_html(target: str, month_start: date, district: str | None = None) -> str:
    """The report as one self-contained HTML string (styles and charts inline), from the serving store `target`."""
    import jinja2
    from markupsafe import Markup

    fonts = font_files()
    store = _Store(target)
    province = {r["month_start"]: r for r in store.rows("care_kpi_province_monthly")}
    if month_start not in province:
        published = ", ".join(f"{m:%Y-%m}" for m in sorted(province)) or "none"
        raise ReportError(f"no data for {month_start:%Y-%m} in the serving store {store.shown} (months published: {published})")
    districts = sorted(store.rows("districts"), key=lambda r: r["district_code"])
    names = {r["district_code"]: r for r in districts}
    if district is not None and district not in names:
        known = ", ".join(f"{code} {r['district_name_ko']}" for code, r in names.items())
        raise ReportError(f"unknown district code {district!r}: use one of {known}")
    previous = _previous(month_start)
    has_previous = previous in province
    by_source = {name: store.by_district_month(name) for name in {k.district_source for k in KPIS}}

    def district_values(code: str, month: date) -> dict:
        # A district missing from a dataset that month had none of it: zero, which is below SMALL_CELL too.
        return {k.key: by_source[k.district_source].get((code, month), {}).get(k.column) for k in KPIS}

    def province_values(month: date) -> dict:
        row = province.get(month, {})
        return {k.key: row.get(k.key) for k in KPIS if k.province}

    if district is None:
        scope_ko, scope_en = "경기도 전체", "Gyeonggi-do, all 31 cities and counties"
        now, before = province_values(month_start), province_values(previous)
        headline_kpis = [k for k in KPIS if k.province]
    else:
        info = names[district]
        scope_ko, scope_en = f"{info['district_name_ko']} ({district})", f"{info['district_name_en']}, Gyeonggi-do"
        now, before = district_values(district, month_start), district_values(district, previous)
        headline_kpis = list(KPIS)
    province_now = province_values(month_start)
    headline = [
        {
            "label": k.label,
            "now": fmt(k, now.get(k.key)),
            "before": fmt(k, before.get(k.key)) if has_previous else MISSING,
            "change": change(k, now.get(k.key), before.get(k.key)) if has_previous else MISSING,
            "province": fmt(k, province_now[k.key]) if k.province else "",
            "suppressed": _missing(now.get(k.key)),
        }
        for k in headline_kpis
    ]
    table_kpis = [k for k in KPIS if k.in_table]
    rows = []
    for code, info in names.items():
        values = district_values(code, month_start)
        rows.append(
            {
                "code": code,
                "name_ko": info["district_name_ko"],
                "name_en": info["district_name_en"],
                "highlight": code == district,
                "cells": [_cell(k, values[k.key]) for k in table_kpis],
            }
        )
    totals = [_cell(k, province_now[k.key]) if k.province else {"text": "", "classes": "num", "key": k.key} for k in table_kpis]

    days = _days_with_data(store, month_start)
    publication = store.publication() or {}
    charts = _charts(store, month_start, district, names, province[month_start].get("median_response_hours"))
    context = {
        "title_ko": TITLE_KO,
        "title_en": TITLE_EN,
        "month": f"{month_start:%Y-%m}",
        "month_ko": f"{month_start.year}년 {month_start.month}월",
        "previous": f"{previous:%Y-%m}",
        "has_previous": has_previous,
        "district": district,
        "scope_ko": scope_ko,
        "scope_en": scope_en,
        "headline": headline,
        "table_kpis": [{"key": k.key, "short": Markup(k.short), "kind": k.kind} for k in table_kpis],
        "rows": rows,
        "totals": totals,
        "charts": [{**c, "svg": Markup(c["svg"])} for c in charts],
        "kpis": KPIS,
        "sources": _sources(district),
        "small_cell": SMALL_CELL,
        "suppressed_mark": SUPPRESSED,
        "missing_mark": MISSING,
        "flag": FLAG,
        "run_id": publication.get("run_id") or MISSING,
        "published_at": _published_kst(publication.get("published_at")),
        "versions": _versions(publication.get("versions")),
        "first_day": f"{days[0]:%Y-%m-%d}" if days else MISSING,
        "last_day": f"{days[-1]:%Y-%m-%d}" if days else MISSING,
        "day_count": len(days),
        "font_family": FONT_FAMILY,
        "font_regular": fonts["regular"].as_uri(),
        "font_bold": fonts["bold"].as_uri(),
        "css": Markup((TEMPLATE_DIR / STYLESHEET).read_text(encoding="utf-8")),
    }
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True, undefined=jinja2.StrictUndefined)
    return env.get_template(TEMPLATE).render(context)


def _cell(kpi: Kpi, value) -> dict:
    classes = ["num", kpi.kind]
    if _missing(value):
        classes.append("suppressed")
    return {"text": fmt(kpi, value), "classes": " ".join(classes), "key": kpi.key}


def _days_with_data(store: _Store, month_start: date) -> list[date]:
    days = {r["call_date"] for r in store.rows("care_calls_province_daily")}
    days |= {r["score_date"] for r in store.rows("risk_grades_province_daily")}
    return sorted(d for d in days if _in_month(d, month_start))


def _sources(district: str | None) -> list[dict]:
    """Each serving dataset the report read, what for, and the gold tables its SQL reads."""
    used = [n for n in DATASETS if not (district is None and n in ("care_calls_daily", "risk_grades_daily"))]
    out = []
    for name in used:
        ds = serving.dataset(name)
        gold = [table for alias, table in serving.SOURCES.items() if re.search(rf"\b{alias}\b", ds.sql)]
        out.append({"name": name, "title": ds.title, "use": DATASETS[name], "gold": ", ".join(gold)})
    return out


def _versions(text: str | None) -> str:
    if not text:
        return MISSING
    try:
        versions = json.loads(text)
    except ValueError:
        return text
    return ", ".join(f"{name} v{version}" for name, version in sorted(versions.items()))


# --- charts --------------------------------------------------------------------------------------------


def _charts(store: _Store, month_start: date, district: str | None, names: dict, province_median) -> list[dict]:
    where = names[district]["district_name_ko"] if district else "경기도"
    if district:
        calls = [r for r in store.rows("care_calls_daily") if r["district_code"] == district]
        grades = [r for r in store.rows("risk_grades_daily") if r["district_code"] == district]
    else:
        calls, grades = store.rows("care_calls_province_daily"), store.rows("risk_grades_province_daily")
    calls = sorted((r for r in calls if _in_month(r["call_date"], month_start)), key=lambda r: r["call_date"])
    grades = sorted((r for r in grades if _in_month(r["score_date"], month_start)), key=lambda r: r["score_date"])
    previous = _previous(month_start)
    if district:
        before = store.by_district_month("care_calls_monthly").get((district, previous), {}).get("answer_rate")
    else:
        before = next((r["answer_rate"] for r in store.rows("care_kpi_province_monthly") if r["month_start"] == previous), None)
    response = [r for r in store.rows("alert_response_monthly") if r["month_start"] == month_start]
    factors = [r for r in store.rows("risk_factors_monthly") if r["month_start"] == month_start]
    return [
        _answer_rate_chart(calls, before, where),
        _grade_mix_chart(grades, where),
        _response_chart(response, district, names, province_median),
        _factor_chart(factors),
    ]


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots()


def _svg(fig, prefix: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]  # inline: no XML prolog or doctype
    # Ids are per SVG file (patch_1, glyph paths...); inline in one page they must not collide.
    return re.sub(r'(\bid="|href="#|url\(#)', rf"\g<1>{prefix}-", text)


def _rendered(build, prefix: str) -> str:
    """Draw with the report's font; SVG text as paths, so every viewer shows the same glyphs."""
    import matplotlib

    with matplotlib.rc_context(
        {
            "font.family": FONT_FAMILY,
            "font.size": 8,
            "svg.fonttype": "path",
            "svg.hashsalt": "gglake-report",  # stable element ids: the same store gives the same file
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.unicode_minus": False,
        }
    ):
        return _svg(build(), prefix)


def _empty():
    fig, ax = _figure(7.0, 0.6)
    ax.text(
        0.5,
        0.5,
        "공개 가능한 값 없음 (every value suppressed)",
        transform=ax.transAxes,
        ha="center",
        va="center",
        color="#666666",
    )
    ax.set_axis_off()
    return fig


def _day_labels(days: Sequence[date]) -> list[str]:
    return [f"{d:%m-%d}" for d in days]


def _answer_rate_chart(rows: list[dict], before, where: str) -> dict:
    shown = [r for r in rows if not _missing(r["answer_rate"])]
    hidden = len(rows) - len(shown)

    def build():
        if not shown:
            return _empty()
        fig, ax = _figure(7.0, 2.4)
        labels = _day_labels([r["call_date"] for r in rows])
        xs = list(range(len(rows)))
        ys = [math.nan if _missing(r["answer_rate"]) else r["answer_rate"] * 100 for r in rows]
        ax.plot(xs, ys, marker="o", color=ACCENT, linewidth=1.6, label="일별 응답률 (daily answer rate)")
        if not _missing(before):
            ax.axhline(
                before * 100, color="#888888", linestyle="--", linewidth=1, label=f"지난달 {before * 100:.1f}% (previous month)"
            )
        ax.set_xticks(xs, labels, rotation=0 if len(xs) <= 12 else 90)
        ax.set_ylim(0, 105)
        ax.set_ylabel("응답률 (%)")
        ax.grid(axis="y", color="#e5e5e5")
        ax.legend(loc="lower left", frameon=False, fontsize=7)
        return fig

    note = f"{where}, 일별."
    if hidden:
        note += f" 통화 수가 {SMALL_CELL}건 미만인 날 {hidden}일은 비공개 (days suppressed: {hidden})."
    return {"title": "AI 안부전화 일별 응답률 (daily AI call answer rate)", "note": note, "svg": _rendered(build, "answer-rate")}


def _grade_mix_chart(rows: list[dict], where: str) -> dict:
    complete = [r for r in rows if all(not _missing(r[g]) for g, _, _ in GRADES)]
    hidden = len(rows) - len(complete)

    def build():
        if not complete:
            return _empty()
        fig, ax = _figure(7.0, 2.4)
        xs = list(range(len(rows)))
        bottom = [0.0] * len(rows)
        for column, label, color in GRADES:
            heights = []
            for r in rows:
                total = sum(r[g] for g, _, _ in GRADES) if r in complete else 0
                heights.append(r[column] / total * 100 if total else 0.0)
            ax.bar(xs, heights, bottom=bottom, color=color, width=0.75, label=label)
            bottom = [b + h for b, h in zip(bottom, heights)]
        gaps = [x for x, r in zip(xs, rows) if r not in complete]
        if gaps:  # a suppressed day: a grey bar, never a share estimated from the other grades
            ax.bar(
                gaps,
                [100] * len(gaps),
                color="#dddddd",
                width=0.75,
                hatch="///",
                edgecolor="#bbbbbb",
                label=f"비공개 (<{SMALL_CELL})",
            )
        ax.set_xticks(xs, _day_labels([r["score_date"] for r in rows]), rotation=0 if len(xs) <= 12 else 90)
        ax.set_ylim(0, 100)
        ax.set_ylabel("비율 (%)")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=7)
        return fig

    note = f"{where}, 일별 위험등급 구성 (share of residents by risk grade)." + (
        f" 한 등급 이상이 {SMALL_CELL}명 미만인 날 {hidden}일은 회색 (days with a suppressed grade: {hidden})." if hidden else ""
    )
    return {"title": "위험등급 분포 (risk grade mix over the month)", "note": note, "svg": _rendered(build, "grade-mix")}


def _response_chart(rows: list[dict], district: str | None, names: dict, province_median) -> dict:
    shown = sorted(
        (r for r in rows if not _missing(r["median_hours_to_resolution"])),
        key=lambda r: (-r["median_hours_to_resolution"], r["district_code"]),
    )
    hidden = len(names) - len(shown)

    def build():
        if not shown:
            return _empty()
        fig, ax = _figure(7.0, 0.9 + 0.2 * max(len(shown), 3))
        ys = list(range(len(shown)))
        colors = [HIGHLIGHT if r["district_code"] == district else ACCENT for r in shown]
        values = [r["median_hours_to_resolution"] for r in shown]
        ax.barh(ys, values, color=colors, height=0.7)
        ax.set_yticks(ys, [f"{r['district_name_ko']} {r['district_code']}" for r in shown])
        for y, v in zip(ys, values):
            ax.text(v, y, f" {v:.1f}", va="center", fontsize=7)
        if not _missing(province_median):
            ax.axvline(
                province_median, color="#888888", linestyle="--", linewidth=1, label=f"경기도 {province_median:.1f} h (province)"
            )
            ax.legend(loc="upper right", frameon=False, fontsize=7)
        ax.set_xlabel("경보 후 해결까지 시간 중앙값 (median hours from alert to resolution)")
        ax.margins(x=0.12)
        return fig

    note = (
        f"시군별, 빠른 순 (fastest at the top). {hidden}개 시군은 해결된 경보가 {SMALL_CELL}건 미만이라 비공개 "
        f"(districts suppressed or without alerts: {hidden})."
    )
    if district and all(r["district_code"] != district for r in shown):
        note += f" {names[district]['district_name_ko']}: 비공개 (suppressed)."
    return {"title": "경보 대응 시간, 시군 순위 (alert response by district)", "note": note, "svg": _rendered(build, "response")}


def _factor_chart(rows: list[dict]) -> dict:
    shown = sorted((r for r in rows if not _missing(r["alerts"])), key=lambda r: (r["alerts"], r["factor"]))[-8:]
    hidden = len(rows) - len([r for r in rows if not _missing(r["alerts"])])

    def build():
        if not shown:
            return _empty()
        fig, ax = _figure(7.0, 0.9 + 0.25 * max(len(shown), 3))
        ys = list(range(len(shown)))
        ax.barh(ys, [r["alerts"] for r in shown], color=ACCENT, height=0.6)
        ax.set_yticks(ys, [r["factor_label"] for r in shown])
        for y, r in zip(ys, shown):
            ax.text(r["alerts"], y, f" {r['alerts']:,}", va="center", fontsize=7)
        ax.set_xlabel("경보 수 (alerts)")
        ax.margins(x=0.1)
        return fig

    note = "경기도 전체, 경보별 가장 큰 위험요인 (the top factor of each alert, province)." + (
        f" {hidden}개 요인은 {SMALL_CELL}건 미만이라 비공개." if hidden else ""
    )
    return {"title": "경보 주요 위험요인 (top risk factors of alerts)", "note": note, "svg": _rendered(build, "factors")}


__all__ = [
    "KPIS",
    "ReportError",
    "ReportResult",
    "build_report",
    "change",
    "default_out_dir",
    "fmt",
    "parse_month",
    "render_html",
]
