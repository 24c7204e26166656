"""The knowledge read API (FastAPI): policy search for the chatbot and the care monitoring centre.

`gglake knowledge serve` (or `make api`) serves it on 127.0.0.1. The index is held in memory; a background
thread watches the index folder's CURRENT file and, when a new build is published, loads it completely and
then swaps one reference, so requests in flight finish on the index they started with and none is dropped.
Queries can be personal: no log line carries the query text together with the age or district, and the
server's access log (which would print the URL with all parameters) is off.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from gglake.districts import DISTRICTS
from gglake.knowledge.facets import GROUP_LABELS_KO, TARGET_GROUPS, split_codes
from gglake.knowledge.index import IndexEmpty, IndexUnavailable, LoadedIndex, current_manifest, load_index, missing
from gglake.knowledge.search import BadQuery, Profile, search

log = logging.getLogger("gglake.knowledge.api")
STATIC = Path(__file__).parent / "static"
RELOAD_SECONDS = 1.0
# The OpenAPI document states exactly which values the search takes (schema-driven clients and fuzzers rely
# on it); Profile.parse checks them again with a message saying what is known.
_DISTRICT_VALUES = "|".join([d.code for d in DISTRICTS] + [d.name_ko for d in DISTRICTS])
DISTRICT_PATTERN = f"^({_DISTRICT_VALUES})$"
_GROUP_VALUES = "|".join(TARGET_GROUPS)
GROUPS_PATTERN = f"^({_GROUP_VALUES})(,({_GROUP_VALUES}))*$"
QUERY_PATTERN = r"\S"  # at least one character that is not white space
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Problem(BaseModel):
    detail: str


class Eligibility(BaseModel):
    target_groups: list[str] = Field(description="Target-group codes the source names")
    min_age: int | None
    max_age: int | None
    age_rule: str | None = Field(description="bounded, any (no age limit stated), or null (not stated)")
    district_scope: str | None = Field(description="nationwide, province or district; null when not parseable")
    district_codes: list[str]
    income_criterion: str | None
    income_threshold_pct: int | None
    benefit_type: str | None
    application_methods: list[str]
    application_start: str | None
    application_end: str | None
    always_open: bool | None
    unparsed_facets: list[str]


class Policy(BaseModel):
    policy_id: str
    version: int
    title: str
    notice_type: str | None
    source: str
    source_id: str
    source_url: str | None
    agency: str | None
    department: str | None
    is_active: bool
    inactive_reason: str | None
    popularity_rank: int | None
    eligibility: Eligibility


class PolicyDetail(Policy):
    text: str
    summary: str | None
    target_detail: str | None
    selection_criteria: str | None
    benefit: str | None
    how_to_apply: str | None
    last_listed: str | None


class Why(BaseModel):
    matched_terms: list[str] = Field(description="Query morphemes (with thesaurus additions) found in the passage")
    eligibility: dict[str, str] = Field(description="Each profile facet and the policy's rule it satisfied")
    bm25: float
    popularity_rank: int | None


class SearchHit(BaseModel):
    policy: Policy
    passage: str
    score: float
    why: Why


class SearchResponse(BaseModel):
    results: list[SearchHit]
    eligible_policies: int
    excluded_ineligible: int
    excluded_unverified: int = Field(description="Policies left out because a facet the profile needs is not stated")
    index_version: str


class Health(BaseModel):
    status: str
    index_version: str
    documents_version: int
    chunks_version: int
    built_at: str
    policies: int
    chunks: int


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _policy(p: dict) -> dict:
    return {
        **{k: p[k] for k in ("policy_id", "version", "title", "notice_type", "source", "source_id", "source_url",
                             "agency", "department", "is_active", "inactive_reason", "popularity_rank")},
        "eligibility": {
            "target_groups": split_codes(p["target_groups"]),
            "min_age": p["min_age"], "max_age": p["max_age"], "age_rule": p["age_rule"],
            "district_scope": p["district_scope"], "district_codes": split_codes(p["district_codes"]),
            "income_criterion": p["income_criterion"], "income_threshold_pct": p["income_threshold_pct"],
            "benefit_type": p["benefit_type"], "application_methods": split_codes(p["application_methods"]),
            "application_start": _iso(p["application_start"]), "application_end": _iso(p["application_end"]),
            "always_open": p["always_open"], "unparsed_facets": split_codes(p["unparsed_facets"]),
        },
    }  # fmt: skip


PATTERN_MESSAGES = {
    "q": "q must contain at least one word",
    "district": "unknown district: give a Gyeonggi city/county code (41110) or Korean name (수원시)",
    "groups": f"groups must be comma-separated target groups from: {', '.join(TARGET_GROUPS)}",
}


def _explain(error: dict) -> str:
    """One validation error as a sentence naming the parameter (the value itself is not echoed: it can be
    part of a resident's question)."""
    name = str(error["loc"][-1]) if error.get("loc") else "request"
    if error.get("type") == "string_pattern_mismatch" and name in PATTERN_MESSAGES:
        return PATTERN_MESSAGES[name]
    return f"{name}: {error.get('msg', 'invalid')}"


class IndexHolder:
    """The index requests read, swapped whole when CURRENT names a new build."""

    def __init__(self, root: Path):
        self.root = root
        self.index: LoadedIndex | None = None
        self.problem = missing(root)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> None:
        manifest = current_manifest(self.root)
        if manifest is not None and self.index is not None and self.index.manifest.index_version == manifest.index_version:
            return
        try:
            loaded = load_index(self.root)
        except IndexUnavailable as exc:
            # An empty build is published on purpose: stop serving. Anything else (CURRENT gone, a build pruned
            # while being read) keeps the index being served, if any, and is tried again on the next tick.
            if self.index is None or isinstance(exc, IndexEmpty):
                self.index, self.problem = None, str(exc)
            return
        self.index = loaded  # one reference swap: requests already running keep the index they took
        log.info("serving knowledge index %s (%d chunks)", loaded.manifest.index_version, loaded.manifest.chunks)

    def current(self) -> LoadedIndex:
        index = self.index
        if index is None:
            raise IndexUnavailable(self.problem)
        return index

    def start(self) -> None:
        self.refresh()

        def watch():
            while not self._stop.wait(RELOAD_SECONDS):
                try:
                    self.refresh()
                except Exception:  # never let the watcher die: the next tick tries again
                    log.exception("reloading the knowledge index failed")

        self._thread = threading.Thread(target=watch, name="knowledge-index-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()


def create_app(index_root: Path) -> FastAPI:
    holder = IndexHolder(index_root)

    @asynccontextmanager
    async def lifespan(app):
        holder.start()
        yield
        holder.stop()

    app = FastAPI(
        title="Gyeonggi welfare-policy knowledge API",
        version="1",
        description="Eligibility-aware search over welfare policies, notices and announcements for the resident "
        "chatbot and the care monitoring centre. Eligibility (age, district, target groups) filters before "
        "ranking; expired policies are never returned by search.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load their scripts from a CDN: nothing external is served here
        redoc_url=None,
    )
    app.state.holder = holder
    unavailable = {503: {"model": Problem, "description": "No index, or an empty one"}}

    @app.middleware("http")
    async def headers_and_log(request: Request, call_next):
        began = time.perf_counter()
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        # Path and status only: the query string can hold a resident's question, age and district.
        log.info("%s %s %d %.1f ms", request.method, request.url.path, response.status_code, (time.perf_counter() - began) * 1000)
        return response

    @app.exception_handler(IndexUnavailable)
    async def no_index(request: Request, exc: IndexUnavailable):
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": "; ".join(_explain(e) for e in exc.errors())}, status_code=422)

    @app.exception_handler(BadQuery)
    async def bad_query(request: Request, exc: BadQuery):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.error("unexpected %s on %s", type(exc).__name__, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get("/v1/policies/search", response_model=SearchResponse, responses={422: {"model": Problem}, **unavailable})
    def search_policies(
        q: str = Query(min_length=1, max_length=200, pattern=QUERY_PATTERN, description="The question, in Korean or English"),
        age: int | None = Query(None, ge=0, le=120, description="The resident's age in full years (만 나이)"),
        district: str | None = Query(None, pattern=DISTRICT_PATTERN, description="City/county code (41110) or name (수원시)"),
        groups: str | None = Query(None, max_length=300, pattern=GROUPS_PATTERN,
                                   description=f"Comma-separated target groups: {', '.join(TARGET_GROUPS)}"),
        limit: int = Query(10, ge=1, le=50),
    ) -> dict:
        index = holder.current()
        profile = Profile.parse(age, district, groups)
        result = search(index, q, profile, limit)
        # No query text here, and the profile only as which facets were given.
        log.info("search: %d terms, filters=%s, %d results", len(result.query_terms),
                 ",".join(f for f in ("age", "district", "groups") if getattr(profile, f) is not None) or "none",
                 len(result.hits))  # fmt: skip
        return {
            "results": [
                {"policy": _policy(h.policy), "passage": h.passage, "score": h.score,
                 "why": {"matched_terms": h.matched_terms, "eligibility": h.eligibility, "bm25": h.bm25,
                         "popularity_rank": h.policy["popularity_rank"]}}
                for h in result.hits
            ],
            "eligible_policies": result.eligible_policies,
            "excluded_ineligible": result.excluded_ineligible,
            "excluded_unverified": result.excluded_unverified,
            "index_version": index.manifest.index_version,
        }  # fmt: skip

    @app.get("/v1/policies/{policy_id}", response_model=PolicyDetail, responses={404: {"model": Problem}, **unavailable})
    def get_policy(policy_id: str) -> dict:
        index = holder.current()
        row = index.policy_row.get(policy_id)
        if row is None:
            return JSONResponse({"detail": f"no policy {policy_id!r} in index {index.manifest.index_version}"}, status_code=404)
        found = index.policies[row]
        return {**_policy(found), **{k: found[k] for k in ("text", "summary", "target_detail", "selection_criteria",
                                                            "benefit", "how_to_apply")},
                "last_listed": _iso(found["last_listed"])}  # fmt: skip

    @app.get("/healthz", response_model=Health, responses=unavailable)
    def healthz() -> dict:
        return {"status": "ok", **{k: v for k, v in asdict(holder.current().manifest).items() if k in Health.model_fields}}

    @app.get("/v1/vocabulary", include_in_schema=True)
    def vocabulary() -> dict:
        """The districts and target groups the search page offers."""
        return {
            "districts": [{"code": d.code, "name": d.name_ko} for d in DISTRICTS],
            "groups": [{"code": g, "label": GROUP_LABELS_KO[g]} for g in TARGET_GROUPS],
        }

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "search.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def serve(index_root: Path, host: str, port: int) -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    uvicorn.run(create_app(index_root), host=host, port=port, access_log=False, log_config=None, log_level="info")
