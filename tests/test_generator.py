"""The landing-file generator: deterministic, split-run consistent, and honest about its defects.

`audit` re-reads a whole landing folder against docs/landing.md: every line that the defect log
names must show exactly its defect, and every other line must be valid.
"""

import csv
import dataclasses
import gzip
import io
import itertools
import json
import re
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from gglake.districts import DISTRICT_NAMES_KO
from sources import generate
from sources.defects import CLASSES
from sources.episodes import LONELY_DEATH, SIGNAL
from sources.population import HEALTH_SENSOR
from sources.seeding import EPOCH
from sources.sensors import DOOR, HR, MOTION, POWER, STEPS, readings
from sources.world import World

START = date(2026, 11, 1)
SENSOR_FIELDS = {
    "event_id", "device_id", "device_type", "resident_id", "metric", "value", "unit",
    "measured_at", "firmware",
}  # fmt: skip
VALID_RANGE = {
    "heart_rate": (30, 200), "steps": (0, 20_000), "stress_index": (0, 100),
    "blood_pressure": (70, 250), "spo2": (70, 100), "body_temp": (34, 42), "resp_rate": (5, 40),
    "motion_events": (0, 500), "door_events": (0, 100), "power_kwh": (0, 10),
}  # fmt: skip
CALL_OUTCOMES = {"answered", "no_answer", "busy", "failed"}
ESCALATIONS = {"none", "monitoring_centre", "public_official", "home_visit", "119"}
VISIT_OUTCOMES = {"no_issue", "deterioration", "fall", "hospitalised", "lonely_death"}
BAD_OUTCOMES = VISIT_OUTCOMES - {"no_issue"}
DAY = timedelta(days=1)
D = r"date=\d{4}-\d\d-\d\d"
CONTRACT_PATHS = re.compile(
    "|".join([
        rf"registry/{D}/residents\.csv",
        rf"sensors/{D}/hour=(0\d|1\d|2[0-3])/gw-0[1-4](-part2|-retry)?\.jsonl\.gz",  # planted extras
        rf"calls/{D}/(hyodol|dasom)(-resend)?\.csv",
        rf"visits/{D}/visits\.csv",
        rf"policies/national/{D}/page-\d{{3}}\.xml",
        rf"policies/provincial/{D}/page-\d{{3}}\.json",
        rf"policies/search_ranking/{D}/ranking\.csv",
        r"industry/quarter=\d{4}Q[1-4]/companies\.csv",
    ])
)  # fmt: skip


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def defect_log(root: Path) -> list[dict]:
    text = (root / "_generator" / "defects.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def truth_log(root: Path) -> list[dict]:
    text = (root / "_generator" / "truth.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def lines_of(data: bytes) -> list[bytes]:
    assert data.endswith(b"\n"), "files end with a newline"
    return data[:-1].split(b"\n")


def parse_csv(line: bytes, encoding: str) -> list[str]:
    return next(csv.reader([line.decode(encoding)]))


def audit(root: Path) -> list[str]:
    """Problems found: unlogged bad lines, logged lines without their defect, stray files."""
    logged: dict[str, dict[int | None, str]] = {}
    log = defect_log(root)
    for d in log:
        assert d["class"] in CLASSES
        logged.setdefault(d["file"], {})[d["line"]] = d["class"]
    assert sum(map(len, logged.values())) == len(log), "one defect per line"
    files = {k: v for k, v in tree(root).items() if not k.startswith("_generator/")}
    problems = [f"not in the landing contract: {k}" for k in files if not CONTRACT_PATHS.fullmatch(k)]
    for rel, data in files.items():
        marks = logged.get(rel, {})
        if rel.startswith("sensors/"):
            check = _sensor_file
        elif rel.startswith(("policies/national/", "policies/provincial/")):
            check = _policy_file
        else:
            check = _csv_file
        problems += [f"{rel}: {p}" for p in check(rel, data, marks, files)]
    missing = set(logged) - set(files)
    return problems + [f"logged file not written: {m}" for m in sorted(missing)]


def _sensor_file(rel: str, data: bytes, marks: dict, files: dict) -> list[str]:
    if None in marks:
        cls = marks[None]
        if cls == "empty_file":
            return [] if data == b"" else ["empty_file is not empty"]
        try:
            gzip.decompress(data)
        except (EOFError, zlib.error, gzip.BadGzipFile):
            return [] if cls == "truncated_gzip" else [f"unreadable, logged as {cls}"]
        return ["truncated_gzip decompresses"]
    try:
        lines = lines_of(gzip.decompress(data))
    except (EOFError, zlib.error, gzip.BadGzipFile, AssertionError):
        return ["unreadable or empty, but not logged"]
    parts = rel.split("/")
    hour = int(parts[2].removeprefix("hour="))
    start = datetime.fromisoformat(f"{parts[1].removeprefix('date=')}T{hour:02d}:00:00+09:00")
    previous_hour = rel.replace(f"hour={hour:02d}", f"hour={hour - 1:02d}")
    earlier_file = set(lines_of(gzip.decompress(files[previous_hour]))) if previous_hour in files else set()
    problems = []
    for n, line in enumerate(lines, 1):
        cls = marks.get(n)
        try:
            record = json.loads(line.decode())
        except UnicodeDecodeError:
            problems += [] if cls == "bad_encoding" else [f"line {n}: not UTF-8 ({cls})"]
            continue
        except json.JSONDecodeError:
            problems += [] if cls == "malformed_json" else [f"line {n}: not JSON ({cls})"]
            continue
        at = datetime.fromisoformat(record["measured_at"])
        lo, hi = record["value"], record.get("diastolic")
        possible = VALID_RANGE[record["metric"]][0] <= lo <= VALID_RANGE[record["metric"]][1]
        possible &= hi is None or hi < lo
        expected = SENSOR_FIELDS | ({"diastolic"} if record["metric"] == "blood_pressure" else set())
        repeated = line in lines[: n - 1] or line in earlier_file
        in_hour = start <= at < start + timedelta(hours=1)
        ok = {
            None: set(record) == expected and in_hour and possible and not repeated,
            "schema_drift": set(record) > expected,
            "duplicate_event": repeated,
            "late_event": start - 5 * DAY <= at <= start - DAY and possible,
            "too_late": start - 60 * DAY <= at <= start - 40 * DAY,
            "future_timestamp": at > start + timedelta(hours=1) + DAY,
            "impossible_value": not possible,
        }.get(cls, False)
        if not ok:
            problems.append(f"line {n}: {cls or 'unlogged defect'}: {line[:120]!r}")
    return problems


def _policy_file(rel: str, data: bytes, marks: dict, files: dict) -> list[str]:
    try:
        if rel.endswith(".xml"):
            ET.fromstring(data)
        else:
            json.loads(data)
    except (ET.ParseError, json.JSONDecodeError):
        return [] if marks.get(None) == "malformed_xml" else ["does not parse"]
    return ["malformed_xml parses"] if marks else []


def _csv_file(rel: str, data: bytes, marks: dict, files: dict) -> list[str]:
    if None in marks:
        return [] if marks[None] == "empty_file" and data == b"" else [f"file-level {marks[None]}"]
    if not data:
        return ["empty but not logged"]
    encoding = "cp949" if rel.endswith("/dasom.csv") else "utf-8"
    lines = lines_of(data)
    header = parse_csv(lines[0], encoding)
    problems = []
    for n, line in enumerate(lines[1:], 2):
        cls = marks.get(n)
        try:
            row = parse_csv(line, encoding)
        except UnicodeDecodeError:
            problems += [] if cls == "bad_encoding" else [f"line {n}: undecodable ({cls})"]
            continue
        if len(row) != len(header):
            problems += [] if cls == "malformed_row" else [f"line {n}: {len(row)} fields ({cls})"]
            continue
        field = dict(zip(header, row, strict=True))
        repeated = line in lines[1 : n - 1]
        if cls == "duplicate_event":
            ok = repeated
        elif cls == "schema_drift":
            ok = "caller_phone" in field and field["caller_phone"].startswith("010-")
        elif cls == "invalid_code":
            ok = field.get("outcome") in {"unknown", "maybe"} or field.get("district") == "서울시"
        elif cls == "missing_key":
            ok = row[0] == ""
        else:
            ok = cls is None and not repeated and _valid_row(rel, field)
        if not ok:
            problems.append(f"line {n}: {cls or 'invalid row'}: {row}")
    return problems


def _valid_row(rel: str, f: dict[str, str]) -> bool:
    if rel.startswith("calls/"):
        answered = f["outcome"] == "answered"
        return (
            f["outcome"] in CALL_OUTCOMES and f["escalation"] in ESCALATIONS
            and bool(f["transcript"]) == answered and (f["duration_sec"] == "0") != answered
            and (not answered or -1 <= float(f["sentiment"]) <= 1)
        )  # fmt: skip
    if rel.startswith("visits/"):
        return bool(f["visit_id"]) and f["outcome"] in VISIT_OUTCOMES
    if rel.startswith("registry/"):
        return f["district"] in DISTRICT_NAMES_KO and f["status"] in {"active", "withdrawn"}
    if rel.startswith("industry/"):
        return bool(f["company_id"]) and f["status"] in {"active", "closed"}
    return rel.startswith("policies/search_ranking/") and int(f["search_count"]) > 0


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean")
    generate(out, residents=60, days=2, start=START, seed=11, defect_rate=0.0)
    return out


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("dirty")
    stats = generate(out, residents=50, days=2, start=START, seed=5)
    return out, stats


def test_same_arguments_give_byte_identical_files(dirty: tuple[Path, dict], tmp_path: Path) -> None:
    root, stats = dirty
    again = generate(tmp_path, residents=50, days=2, start=START, seed=5)
    assert tree(tmp_path) == tree(root)
    assert again == stats
    other = tmp_path / "other-seed"
    generate(other, residents=50, days=2, start=START, seed=6)
    assert tree(other)["registry/date=2026-11-01/residents.csv"] != tree(root)["registry/date=2026-11-01/residents.csv"]


def test_split_run_writes_what_one_long_run_writes(tmp_path: Path) -> None:
    split, single = tmp_path / "split", tmp_path / "single"
    args = {"residents": 150, "seed": 3, "defect_rate": 0.02}
    generate(split, days=7, start=START, **args)
    before = tree(split)
    generate(split, days=1, start=START + 7 * DAY, **args)
    generate(single, days=8, start=START, **args)
    after = tree(split)
    assert after == tree(single)
    combined = {"_generator/defects.jsonl", "_generator/truth.jsonl"}
    assert {k: v for k, v in after.items() if k in before and k not in combined} == {
        k: v for k, v in before.items() if k not in combined
    }
    assert any("date=2026-11-08" in k for k in set(after) - set(before))
    # nothing changed in the registry on day 8, so neither run writes a snapshot for it
    assert "registry/date=2026-11-08/residents.csv" not in after


def test_rate_zero_plants_nothing_and_every_file_reads(clean: Path) -> None:
    assert defect_log(clean) == []
    assert audit(clean) == []
    names = {Path(k).name for k in tree(clean) if k.startswith("sensors/")}
    assert names == {f"gw-{n:02d}.jsonl.gz" for n in range(1, 5)}


def test_default_rate_plants_every_class_exactly_where_logged(dirty: tuple[Path, dict]) -> None:
    root, stats = dirty
    log = defect_log(root)
    assert {d["class"] for d in log} == set(CLASSES)
    assert audit(root) == []
    per_day = Counter((d["file"].split("date=")[1][:10], d["class"]) for d in log if "date=" in d["file"])
    for day in ("2026-11-01", "2026-11-02"):
        assert {c for (d, c) in per_day if d == day} == set(CLASSES)
    assert stats["sensors"]["rows"] > 50 * 2 * 100


def test_dasom_exports_are_cp949(clean: Path) -> None:
    data = (clean / "calls/date=2026-11-02/dasom.csv").read_bytes()
    rows = list(csv.DictReader(io.StringIO(data.decode("cp949"))))
    assert any(r["outcome"] == "answered" for r in rows)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")


def test_policy_pages_are_complete(clean: Path) -> None:
    day = clean / "policies"
    pages = sorted((day / "national/date=2026-11-01").glob("page-*.xml"))
    roots = [ET.parse(p).getroot() for p in pages]
    total = int(roots[0].findtext("totalCount"))
    ids = [s.findtext("servId") for r in roots for s in r.iter("servList")]
    assert len(ids) == len(set(ids)) == total > 250
    assert [int(r.findtext("pageNo")) for r in roots] == list(range(1, len(pages) + 1))
    provincial = [json.loads(p.read_text()) for p in sorted((day / "provincial/date=2026-11-01").glob("*.json"))]
    assert provincial[-1]["RESULT"]["CODE"] == "INFO-200"
    rows = [row for page in provincial[:-1] for row in page["GgWelfareSvc"][1]["row"]]
    assert len(rows) == provincial[0]["GgWelfareSvc"][0]["head"][0]["list_total_count"] > 100
    ranking = list(csv.DictReader((day / "search_ranking/date=2026-11-01/ranking.csv").open()))
    assert [int(r["rank"]) for r in ranking] == list(range(1, 101))
    counts = [int(r["search_count"]) for r in ranking]
    assert counts == sorted(counts, reverse=True)
    linked = [r["service_id"] for r in ranking if r["service_id"]]
    assert len(linked) > 70 and set(linked) <= set(ids) | {r["SVC_ID"] for r in rows}


def test_companies_close_once_then_disappear(clean: Path) -> None:
    quarters = sorted((clean / "industry").glob("quarter=*"))
    snapshots = [list(csv.DictReader((q / "companies.csv").open())) for q in quarters]
    assert len(snapshots) == 4 and all(400 < len(s) < 600 for s in snapshots)  # 1.5 x 300
    for now, later in itertools.pairwise(snapshots):
        closed = {r["company_id"] for r in now if r["status"] == "closed"}
        ids_later = {r["company_id"] for r in later}
        assert closed and not closed & ids_later
        assert ids_later - {r["company_id"] for r in now}  # new entrants


def test_ground_truth_episodes_end_in_logged_bad_visits(tmp_path: Path) -> None:
    generate(tmp_path, residents=600, days=6, start=START, seed=8, defect_rate=0.0)
    truth = truth_log(tmp_path)
    assert len(truth) >= 2
    labels = {}
    for visits in tmp_path.glob("visits/date=*/visits.csv"):
        labels |= {r["visit_id"]: r for r in csv.DictReader(visits.open())}
    for episode in truth:
        visit = labels[episode["visit_id"]]
        assert visit["resident_id"] == episode["resident_id"]
        assert visit["outcome"] == episode["outcome"] in BAD_OUTCOMES
        assert visit["visited_at"].startswith(episode["outcome_date"])
        length = date.fromisoformat(episode["outcome_date"]) - date.fromisoformat(episode["onset_date"])
        assert 4 <= length.days <= 10
    assert {r["outcome"] for r in labels.values()} - BAD_OUTCOMES == {"no_issue"}
    assert sum(r["outcome"] in BAD_OUTCOMES for r in labels.values()) == len(truth)


def test_declining_residents_show_it_in_their_readings() -> None:
    world = World(seed=3, residents=3000, first_day=START)
    day = world.day(START + 2 * DAY)
    rd = readings(day, world.cohort, seed=3)
    risk = day.risk
    worn = day.enrolled(HEALTH_SENSOR)
    late = worn & risk.in_episode & ~risk.weak & (risk.progress[:, 12] > 0.6)
    calm = worn & ~risk.in_episode & (risk.fa_severity.max(axis=1) == 0)

    def daily(metric: int, how: str) -> np.ndarray:
        pick = rd.metric == metric
        total = np.bincount(rd.resident[pick], rd.value[pick], world.cohort.n)
        count = np.bincount(rd.resident[pick], minlength=world.cohort.n)
        return total / np.maximum(count, 1) if how == "mean" else total

    hr_excess = daily(HR, "mean") - world.cohort.hr_rest
    hr_up = late & risk.signals[:, SIGNAL["heart_rate_up"]]
    assert hr_up.sum() >= 3 and hr_excess[hr_up].mean() > hr_excess[calm].mean() + 5
    steps_ratio = daily(STEPS, "sum") / world.cohort.steps
    steps_down = late & risk.signals[:, SIGNAL["steps_down"]]
    assert steps_down.sum() >= 3 and np.median(steps_ratio[steps_down]) < 0.7 * np.median(steps_ratio[calm])


def test_lonely_death_silences_the_resident() -> None:
    world = World(seed=1, residents=3000, first_day=EPOCH)
    deaths = world.risk.death_visits(date(2026, 6, 1))
    found = None
    for r in np.argsort(deaths, kind="stable")[: np.sum(deaths < date(2026, 6, 1).toordinal())]:
        visit = date.fromordinal(int(deaths[r]))
        if world.day(visit - DAY).present[r] and world.day(visit).present[r]:
            found = int(r), visit
            break
    assert found, "no lonely death among 3000 residents in five months"
    r, visit = found
    assert world.day(visit).risk.outcome[r] == LONELY_DEATH
    assert not world.day(visit + DAY).present[r]
    assert not world.day(visit + 2 * DAY).registry.active[r]
    assert not world.attempts(visit + DAY).placed[r]
    rd = readings(world.day(visit), world.cohort, seed=1)
    mine = rd.resident == r
    assert set(rd.metric[mine].tolist()) <= {MOTION, DOOR, POWER}  # wearables and vitals stop
    assert rd.value[mine & (rd.metric != POWER)].sum() == 0  # nothing moves, no door opens


def test_an_episode_on_a_bad_day_stops_activity_instead_of_breaking_the_generator() -> None:
    """An episode and a false-alarm bad day damping the same signal add up (effect up to 1.8); among 20,000
    residents over 36 days that happens, and the Poisson draws must see no negative rate."""
    world = World(seed=3, residents=200, first_day=START)
    day = world.day(START)
    everyone = np.ones_like(day.risk.signals)
    both = dataclasses.replace(day.risk, severity=np.ones_like(day.risk.severity), signals=everyone,
                               fa_severity=np.full_like(day.risk.fa_severity, 0.8), fa_signals=everyone)  # fmt: skip
    rd = readings(dataclasses.replace(day, risk=both), world.cohort, seed=3)
    for metric in (STEPS, MOTION, DOOR):
        values = rd.value[rd.metric == metric]
        assert len(values) and not values.any()  # every damped count is zero: nobody moves or goes out
