"""The pipeline's steps, each in one place.

Every step is one typed function taking the settings, the logical date or data interval and a run id;
it returns a small typed result (counts, versions: what an orchestrator may pass on) and raises on
failure — an unbalanced batch, a critical quality gate, a failed dbt node, a lease another run holds.
The CLI, the Makefile (through the CLI), the orchestrator's tasks and the tests call these functions;
`catch_up` is the one place that orders them for a whole date range.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from gglake.catalog import GOLD_MARTS
from gglake.settings import Settings

if TYPE_CHECKING:  # importing the step modules is left to the steps: this module stays cheap to import
    from gglake.serving import ServingResult
    from models.features import FeatureRun
    from spark_jobs.ingest import LandingStatus

log = logging.getLogger(__name__)

# How many of the last days a catch-up scores (the care centre's look-back on a fresh lakehouse).
SCORE_DAYS = 7


def new_run_id(step: str) -> str:
    return f"{step}-{datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class IngestResult:
    batch_id: str
    new_files: int
    failed_files: int
    rows_landed: int
    tables: int  # (batch, bronze table) pairs refined and reconciled


@dataclass(frozen=True)
class GateOutcome:
    layer: str
    run_id: str
    checks: int
    warnings: int


@dataclass(frozen=True)
class ModelResult:
    model_version: str
    trained: bool  # False: a current model existed and was kept
    card: dict | None = field(default=None, repr=False)  # the model card, when this step trained


@dataclass(frozen=True)
class ScoreResult:
    score_date: date
    model_version: str
    rows: int
    alerts: int
    grades: dict[str, int]
    next_steps: dict[str, int]


@dataclass(frozen=True)
class DbtOutcome:
    command: str
    counts: dict[str, int]


@dataclass
class CatchUpResult:
    ingests: list[IngestResult]  # one per chunk (a chunked catch-up's last also lands what no interval held)
    features: list[FeatureRun]  # one per chunk
    model: ModelResult
    scores: list[ScoreResult] = field(default_factory=list)
    dbt: DbtOutcome | None = None
    gates: list[GateOutcome] = field(default_factory=list)


def ingest_feeds(
    settings: Settings,
    landing: str,
    run_id: str,
    *,
    feeds: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    wait_seconds: float = 0.0,
) -> IngestResult:
    """Land and refine `feeds` (default all) for the data interval [start, end) (default: everything new)."""
    from spark_jobs.ingest import ingest

    summary = ingest(settings, landing, feeds=feeds, start=start, end=end, run_id=run_id, wait_seconds=wait_seconds)
    return IngestResult(
        summary.batch_id,
        summary.new_files,
        len(summary.failed_files),
        sum(r.rows_landed for r in summary.runs),
        len(summary.runs),
    )


def landing_status(
    settings: Settings, landing: str, feeds: Sequence[str], start: datetime, end: datetime
) -> LandingStatus:
    """Whether the interval's deliveries of `feeds` have arrived (what an orchestrator waits for) and have
    been landed (what a consumer of their silver tables waits for)."""
    from spark_jobs.ingest import landing_status as status

    return status(settings, landing, feeds, start, end)


def quality_gate(settings: Settings, layer: str, day: date | None, run_id: str, spark=None) -> GateOutcome:
    """Run one layer's Great Expectations gate for the day; raises QualityGateFailed on a critical failure."""
    from quality.gates import run_gate

    result = run_gate(settings, layer, day, spark, docs=True)
    log.info("%s: gate %s passed (%s)", run_id, layer, result.run_id)
    return GateOutcome(layer, result.run_id, len(result.results), len(result.warnings))


def build_features(settings: Settings, start: date, end: date, run_id: str, device: str = "auto") -> FeatureRun:
    from models.features import build_features as build

    return build(settings, start, end, device, run_id=run_id)


def train_if_needed(settings: Settings, run_id: str, *, retrain: bool = False, **params) -> ModelResult:
    """Train the risk model (with `params`: horizon_days, capacity_share) unless a current one exists (or
    `retrain`); raises when labels are too few. The card is returned when a model was trained."""
    from models.card import current_version, model_exists
    from models.train import train

    if model_exists(settings) and not retrain:
        return ModelResult(current_version(settings), trained=False)
    card = train(settings, **params)
    log.info("%s: trained model %s", run_id, card["model_version"])
    return ModelResult(card["model_version"], trained=True, card=card)


def score_day(settings: Settings, day: date, run_id: str, wait_seconds: float = 0.0) -> ScoreResult:
    from models.scoring import score

    r = score(settings, day, run_id=run_id, wait_seconds=wait_seconds)
    return ScoreResult(day, r["model_version"], r["rows"], r["alerts"], r["grades"], r["next_steps"])


def score_days(settings: Settings, start: date, end: date, run_id: str, wait_seconds: float = 0.0) -> list[ScoreResult]:
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return [score_day(settings, day, run_id, wait_seconds) for day in days]


def dbt_build(settings: Settings, run_id: str, select: str | None = None) -> DbtOutcome:
    """`dbt build` of the gold marts on the engine; raises DbtBuildError naming the failed nodes."""
    from gglake.dbt_runner import run_dbt

    result = run_dbt("build", settings, ["--select", select] if select else [])
    return DbtOutcome(result.command, dict(result.counts))


def days_interval(first: date, last: date) -> tuple[datetime, datetime]:
    """The data interval of the days [first, last]: first 00:00 to the day after last, 00:00 (naive = KST)."""
    midnight = datetime.min.time()
    return datetime.combine(first, midnight), datetime.combine(last + timedelta(days=1), midnight)


def catch_up(
    settings: Settings,
    landing: str,
    start: date,
    end: date,
    run_id: str | None = None,
    *,
    score_days_back: int = SCORE_DAYS,
    chunk_days: int | None = None,
) -> CatchUpResult:
    """Everything for the days [start, end] in order: ingest → bronze/silver gates → features → gate →
    model (trained if none) → scores of the last `score_days_back` days → dbt → gold gate.

    `chunk_days`: land and gate the range that many days at a time (each chunk's data interval; the last
    also lands what no interval held), then build the features that many days at a time, so a long
    backfill holds one chunk's data in memory instead of the whole range's. The features come after every
    chunk has landed, so late deliveries count as in one go: the same silver and features either way.
    """
    from gglake.engine import spark_session

    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if chunk_days is not None and chunk_days < 1:
        raise ValueError(f"chunk_days must be at least 1, not {chunk_days}")
    run_id = run_id or new_run_id("catch-up")
    size = timedelta(days=chunk_days or (end - start).days + 1)
    chunks = []
    while not chunks or chunks[-1][1] < end:
        first = chunks[-1][1] + timedelta(days=1) if chunks else start
        chunks.append((first, min(first + size - timedelta(days=1), end)))
    ingests, gates = [], []
    for first, last in chunks:
        if chunk_days:
            since, until = days_interval(first, last)
            ingests.append(ingest_feeds(settings, landing, run_id, start=since, end=until))
        if last == end:  # everything new (the whole range unchunked; else what no interval held)
            ingests.append(ingest_feeds(settings, landing, run_id))
        with spark_session(settings) as spark:
            gates += [quality_gate(settings, layer, last, run_id, spark) for layer in ("bronze", "silver")]
    features = [build_features(settings, first, last, run_id) for first, last in chunks]
    gates.append(quality_gate(settings, "features", end, run_id))
    model = train_if_needed(settings, run_id)
    scores = score_days(settings, max(start, end - timedelta(days=score_days_back - 1)), end, run_id)
    dbt = dbt_build(settings, run_id)
    gates.append(quality_gate(settings, "gold", end, run_id))
    return CatchUpResult(ingests, features, model, scores, dbt, gates)


@dataclass(frozen=True)
class MaintenanceResult:
    run_id: str
    retention_days: int
    tables: tuple  # of spark_jobs.maintenance.TableMaintenance: files/bytes/versions before and after
    seconds: float


def maintain(
    settings: Settings,
    run_id: str,
    *,
    retention_days: int = 30,
    tables: Sequence[str] | None = None,
    wait_seconds: float = 0.0,
    backend: str = "delta-rs",
) -> MaintenanceResult:
    """Compact, vacuum (keeping `retention_days` of time travel) and checkpoint every existing table (or only
    `tables`), each under its writer's lease; one audit.maintenance_runs row per table. Raises LeaseHeld or
    MaintenanceFailed naming the tables that failed, after maintaining the others."""
    import time

    from spark_jobs.maintenance import maintain as run

    began = time.perf_counter()
    outcomes = run(settings, run_id, retention_days=retention_days, tables=tables, wait_seconds=wait_seconds,
                   backend=backend)
    return MaintenanceResult(run_id, retention_days, tuple(outcomes), time.perf_counter() - began)


def build_knowledge(settings: Settings, run_id: str, wait_seconds: float = 0.0):
    """The chatbot's knowledge tables and search index from the welfare policies and their popularity
    (gglake.knowledge.build); returns its BuildSummary."""
    from gglake.knowledge.build import build

    return build(settings, run_id, wait_seconds)


# What each publishing run releases: the gold tables downstream readers (serving store, knowledge tables)
# take, at the versions the run left them.
RELEASES: dict[str, tuple[str, ...]] = {
    "risk": ("gold.risk_scores", "gold.risk_alerts"),
    "marts": tuple(mart.name for mart in GOLD_MARTS),
}


@dataclass(frozen=True)
class PublishResult:
    release: str
    run_id: str
    versions: dict[str, int]  # table -> the Delta version released
    recorded: int  # rows added to audit.publications (0 on a rerun of the same run)
    serving: ServingResult | None = None  # the serving store written from the released marts


def publish(settings: Settings, release: str, run_id: str, serving_target: str | None = None) -> PublishResult:
    """Record, in audit.publications, the Delta version of each table of `release` as of now: the exact
    state this run produced, which readers take (and a rerun of the run keeps its first record). The marts
    release also publishes the serving store (GGLAKE_SERVING_URL or `serving_target`) from those versions."""
    from gglake import delta
    from gglake.catalog import table

    if release not in RELEASES:
        raise ValueError(f"unknown release {release!r}; releases: {', '.join(RELEASES)}")
    versions = {}
    for name in RELEASES[release]:
        dt = delta.open_table(settings, table(name))
        if dt is None:
            raise RuntimeError(f"cannot publish {release}: {name} does not exist yet")
        versions[name] = dt.version()
    recorded = delta.insert_new(settings, table("audit.publications"), _publication_rows(release, run_id, versions))
    log.info("%s: published %s at %s", run_id, release, versions)
    served = None
    if release == "marts":
        from gglake import serving

        served = serving.publish(settings, run_id, serving_target, versions)
    return PublishResult(release, run_id, versions, recorded, served)


def _publication_rows(release: str, run_id: str, versions: dict[str, int]):
    import pyarrow as pa

    from gglake.catalog import table

    now = datetime.now(UTC)
    rows = [
        {"run_id": run_id, "release": release, "table_name": name, "version": v, "published_at": now}
        for name, v in versions.items()
    ]
    return pa.Table.from_pylist(rows, schema=table("audit.publications").arrow_schema())


# Errors a retry can cure: the engine or storage briefly unreachable, a commit that lost a race, a lease
# another run holds. Everything else (bad data, a failed gate or dbt test, a bug) fails the same way again.
_TRANSIENT_MESSAGES = ("failed to commit transaction", "connection refused", "unavailable", "failed to connect")


def is_transient(exc: BaseException) -> bool:
    from deltalake.exceptions import CommitFailedError

    from gglake.lease import LeaseHeld

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, LeaseHeld | CommitFailedError | ConnectionError | TimeoutError):
            return True
        if type(exc).__module__.startswith(("pyspark", "grpc")) and any(m in str(exc).lower() for m in _TRANSIENT_MESSAGES):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
