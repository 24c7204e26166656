"""The monthly KPI report, built from the `served` store and read back from its PDF (pdftotext, pdfinfo,
pdffonts) and its HTML (the per-district table's cells)."""

from __future__ import annotations

import re
import subprocess
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from gglake import report, serving
from gglake.cli import main
from gglake.disclosure import SMALL_CELL
from gglake.districts import DISTRICTS

MONTH = "2026-10"
COUNTS = [k.key for k in report.KPIS if k.in_table and k.kind == "count"]


def _cli(home: str, *args: str):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GGLAKE_HOME", home)
        env.delenv("GGLAKE_SERVING_URL", raising=False)
        return CliRunner().invoke(main, ["report", *args])


@pytest.fixture(scope="module")
def built(served, tmp_path_factory) -> dict[str, dict]:
    """The October report for the province and for 41110, each built once through the CLI."""
    settings, _ = served
    out = tmp_path_factory.mktemp("reports")
    runs = {}
    for variant, extra in {"province": [], "41110": ["--district", "41110"]}.items():
        result = _cli(settings.home, "--month", MONTH, "--out", str(out), *extra)
        assert result.exit_code == 0, result.output
        stem = f"kpi-{MONTH}" + ("" if variant == "province" else f"-{variant}")
        pdf, html = out / f"{stem}.pdf", out / f"{stem}.html"
        seconds = float(re.search(r"in ([\d.]+) s", result.output)[1])
        print(f"\n{variant} report built in {seconds:.1f} s")
        runs[variant] = {"output": result.output, "pdf": pdf, "html": html.read_text(encoding="utf-8"), "out": out}
    return runs


def _pdftotext(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def _pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M)[1])


class _Tables(HTMLParser):
    """Rows of the headline table and of the district table's body: cell texts, data-col, classes."""

    def __init__(self):
        super().__init__()
        self.table = None  # "kpis" | "districts"
        self.section = None
        self.headline: list[list[str]] = []
        self.districts: dict[str, dict[str, str]] = {}
        self.highlighted: list[str] = []
        self._row: str | None = None
        self._cell: list[str] | None = None
        self._col: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.table = "districts" if a.get("id") == "districts" else "kpis" if "kpis" in (a.get("class") or "") else None
        elif tag in ("thead", "tbody", "tfoot"):
            self.section = tag
        elif tag == "tr" and self.section == "tbody":
            if self.table == "districts":
                self._row = a["data-district"]
                self.districts[self._row] = {}
                if "highlight" in (a.get("class") or ""):
                    self.highlighted.append(self._row)
            elif self.table == "kpis":
                self.headline.append([])
        elif tag == "td" and self.section == "tbody" and self.table:
            self._cell, self._col = [], a.get("data-col")

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            if self.table == "districts" and self._col:
                self.districts[self._row][self._col] = text
            elif self.table == "kpis":
                self.headline[-1].append(text)
            self._cell = None
        elif tag == "table":
            self.table = None


def _parse(html: str) -> _Tables:
    parser = _Tables()
    parser.feed(html)
    return parser


def test_the_pdf_has_the_pages_korean_text_and_district_table(built):
    province = built["province"]
    pages = _pages(province["pdf"])
    assert 3 <= pages <= 6, pages
    assert f"({pages} pages)" in province["output"]
    text = _pdftotext(province["pdf"])
    assert "경기도 360° AI 플러스 돌봄 월간 KPI 보고서" in text and "Monthly KPI report" in text
    assert "\ufffd" not in text  # no glyph came out as a replacement character
    assert "시군별 지표" in text and "2026년 10월" in text
    missing = [d.name_ko for d in DISTRICTS if d.name_ko not in text]
    assert not missing, missing
    assert "served-1" in text  # the publication run from the store's _publication table
    assert f"SMALL_CELL = {SMALL_CELL}" in text
    fonts = subprocess.run(["pdffonts", str(province["pdf"])], check=True, capture_output=True, text=True).stdout
    names = [line.split()[0] for line in fonts.splitlines()[2:] if line.strip()]
    assert names and all("Nanum" in name for name in names), names  # no fallback font anywhere


def test_the_district_table_shows_suppressed_counts_as_below_five(built, served):
    _, target = served
    tables = _parse(built["province"]["html"])
    assert list(tables.districts) == [d.code for d in DISTRICTS]
    assert tables.highlighted == []
    kpi = {(r["district_code"], r["month_start"]): r for r in serving.read(target, "care_kpi_monthly").to_pylist()}
    suppressed = shown = 0
    for code, cells in tables.districts.items():
        for column in COUNTS:
            text = cells[column]
            assert text == "<5" or int(text.replace(",", "")) >= SMALL_CELL, (code, column, text)
        row = kpi[(code, date(2026, 10, 1))]
        for column in ("enrolled_residents", "enrolled_living_alone", "contacts", "alerts"):
            if row[column] is None:
                assert cells[column] == "<5", (code, column)
                suppressed += 1
            else:
                assert cells[column] == f"{row[column]:,}", (code, column)
                shown += 1
        for column in ("coverage_rate", "contacts_per_resident", "alerts_per_1000"):
            assert (cells[column] == "–") == (row[column] is None), (code, column, cells[column])
    assert suppressed and shown  # the fixture has both, so both branches were checked


def test_headline_kpis_show_the_change_against_the_previous_month(built, served):
    _, target = served
    months = {r["month_start"]: r for r in serving.read(target, "care_kpi_province_monthly").to_pylist()}
    now, before = months[date(2026, 10, 1)], months[date(2026, 9, 1)]
    rows = {cells[0]: cells[1:] for cells in _parse(built["province"]["html"]).headline}
    rate = rows["AI 안부전화 응답률 (call answer rate)"]
    assert rate[:2] == [f"{now['answer_rate'] * 100:.1f}%", f"{before['answer_rate'] * 100:.1f}%"]
    assert rate[2] == f"{(now['answer_rate'] - before['answer_rate']) * 100:+.1f}%p"
    delta = now["contacts"] - before["contacts"]
    assert rows["연락 (contacts)"] == [
        f"{now['contacts']:,}",
        f"{before['contacts']:,}",
        f"{delta:+,} ({delta / before['contacts'] * 100:+.1f}%)",
    ]
    assert now["unanswered_streaks_3plus"] is None and rows["3회 연속 미응답 (3 unanswered calls in a row)"] == ["<5", "<5", "–"]
    assert "전월 대비 (change)" in _pdftotext(built["province"]["pdf"])


def test_without_a_previous_month_every_change_is_a_dash(served):
    _, target = served
    rows = _parse(report.render_html(target, date(2026, 9, 1))).headline  # HTML only: no PDF needed
    assert rows and all(cells[3] == "–" for cells in rows), rows


def test_a_district_report_has_its_kpis_and_its_row_highlighted(built, served):
    _, target = served
    district = built["41110"]
    assert district["pdf"].is_file() and 3 <= _pages(district["pdf"]) <= 6
    tables = _parse(district["html"])
    assert tables.highlighted == ["41110"]
    assert len(tables.headline[0]) == 5  # KPI, month, previous month, change, province
    calls = {(r["district_code"], r["month_start"]): r for r in serving.read(target, "care_calls_monthly").to_pylist()}
    suwon = calls[("41110", date(2026, 10, 1))]
    rows = {cells[0]: cells[1:] for cells in tables.headline}
    assert rows["AI 안부전화 응답 (AI calls answered)"][0] == f"{suwon['calls_answered']:,}"
    text = _pdftotext(district["pdf"])
    assert "수원시 (41110)" in text and "Suwon" in text
    assert sorted(p.name for p in district["out"].iterdir()) == [  # written by rename: no staging files left
        "kpi-2026-10-41110.html",
        "kpi-2026-10-41110.pdf",
        "kpi-2026-10.html",
        "kpi-2026-10.pdf",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2031-01"], "no data for 2031-01 in the serving store"),
        (["--month", "2026-13"], "'2026-13' is not a month: use YYYY-MM"),
        (["--month", "2026-10", "--district", "41999"], "unknown district code '41999'"),
    ],
)
def test_bad_requests_exit_1_with_a_clear_message(served, tmp_path, args, message):
    settings, _ = served
    result = _cli(settings.home, *args, "--out", str(tmp_path))
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not list(tmp_path.iterdir())


def test_a_missing_store_or_font_is_a_clear_error(tmp_path, monkeypatch):
    from conftest import make_settings

    result = _cli(str(tmp_path / "lake"), "--month", MONTH)
    assert result.exit_code == 1 and "no serving store at" in result.output and "gglake publish" in result.output
    monkeypatch.setattr(report, "FONT_DIR", tmp_path / "no-fonts")
    with pytest.raises(report.ReportError, match="fonts-nanum"):
        report.font_files()
    assert report.default_out_dir(make_settings(tmp_path)) == tmp_path / "reports"
    with pytest.raises(report.ReportError, match="--out"):
        report.default_out_dir(make_settings("s3://bucket/lake"))


def test_formatting_rules():
    by_key = {k.key: k for k in report.KPIS}
    assert report.fmt(by_key["contacts"], None) == "<5" and report.fmt(by_key["answer_rate"], None) == "–"
    assert report.fmt(by_key["contacts"], 12345) == "12,345" and report.fmt(by_key["answer_rate"], 0.8551) == "85.5%"
    assert report.change(by_key["answer_rate"], 0.8551, 0.8421) == "+1.3%p"
    assert report.change(by_key["contacts"], 135, 240) == "-105 (-43.8%)"
    assert report.change(by_key["contacts"], 240, 240) == "0 (0.0%)"
    assert report.change(by_key["median_response_hours"], 6.71, 55.27) == "-48.6 h"
    assert report.change(by_key["contacts"], None, 240) == "–"
    assert report.parse_month("2026-10") == date(2026, 10, 1)
    for bad in ("2026-13", "2026-1", "26-10", "2026-10-01", ""):
        with pytest.raises(report.ReportError, match="YYYY-MM"):
            report.parse_month(bad)
