"""`gglake knowledge build`: silver.welfare_services + gold.mart_policy_popularity → gold.policy_documents,
gold.policy_chunks and the search index.

Incremental: a policy whose source text is unchanged keeps its version, its chunks and their tokens (only
its popularity, listing and activity are refreshed); a changed one gets a new version, and only its chunks
are cut and tokenised again. Each table is rewritten in one commit only when its rows changed, so a rebuild
with nothing new leaves both table versions, and therefore the index version, as they were.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pyarrow as pa

from gglake import delta
from gglake.catalog import table
from gglake.knowledge import facets as facet_parser
from gglake.knowledge.index import Manifest, current_manifest, index_dir, publish_index, tokenize
from gglake.settings import Settings

log = logging.getLogger(__name__)

DOCUMENTS = table("gold.policy_documents")
CHUNKS = table("gold.policy_chunks")
SERVICES = table("silver.welfare_services")
POPULARITY = table("gold.mart_policy_popularity")
KNOWLEDGE_LEASE = "gold:knowledge"
SECTIONS = (  # (column, heading) in the order the text reads
    ("summary", "개요"),
    ("target_detail", "지원 대상"),
    ("selection_criteria", "선정 기준"),
    ("benefit", "지원 내용"),
    ("how_to_apply", "신청 방법"),
)
CONTENT_COLUMNS = (
    "service_name", "notice_type", "summary", "target_detail", "selection_criteria", "benefit", "how_to_apply",
    "agency", "life_stages", "target_groups", "province", "district", "registered_on",
)  # fmt: skip
CHUNK_CHARS = 220  # a passage: sections packed up to about this many characters (a section is never split)
# Each source's public detail page. The national one is the welfare portal's service page; the provincial
# open-data rows carry no page link, so theirs points at the province's welfare-service page by id.
SOURCE_LINKS = {
    "national": "https://www.bokjiro.go.kr/ssis-tbu/twataa/wlfareInfo/moveTWAT52011M.do?wlfareInfoId={id}",
    "provincial": "https://www.gg.go.kr/welfare/service/{id}",
}


class KnowledgeInputMissing(RuntimeError):
    """A table the knowledge build reads does not exist or is empty."""


@dataclass(frozen=True)
class BuildSummary:
    run_id: str
    policies: int  # current versions
    active: int
    new_versions: int  # policies whose text changed (or that are new) in this build
    rechunked_policies: int
    chunks: int
    tokenised_chunks: int  # chunks whose tokens were computed now (the others kept theirs)
    unparsed: dict[str, int]  # facet -> current policies whose source did not state it parseably
    documents_version: int
    chunks_version: int
    index_version: str
    index_rebuilt: bool
    seconds: float


def _content_hash(row: dict) -> str:
    content = {c: str(row.get(c)) if row.get(c) is not None else None for c in CONTENT_COLUMNS}
    return hashlib.sha256(json.dumps(content, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:32]


def _text(title: str, row: dict) -> str:
    parts = [title] + [f"[{heading}] {row[column]}" for column, heading in SECTIONS if row.get(column)]
    return "\n".join(parts)


def chunk(policy_id: str, version: int, title: str, row: dict) -> list[dict]:
    """Passages of one policy version: its sections packed in order up to CHUNK_CHARS, each headed by the
    title (so a passage read alone still says which policy it is). The id hashes policy id and passage."""
    passages: list[tuple[list[str], list[str]]] = []
    for column, heading in SECTIONS:
        if not row.get(column):
            continue
        line = f"[{heading}] {row[column]}"
        if passages and sum(len(x) for x in passages[-1][1]) + len(line) <= CHUNK_CHARS:
            passages[-1][0].append(column)
            passages[-1][1].append(line)
        else:
            passages.append(([column], [line]))
    if not passages:
        passages = [([], [])]
    out = []
    for no, (columns, lines) in enumerate(passages, 1):
        text = "\n".join([title, *lines])
        out.append(
            {
                "chunk_id": hashlib.sha256(f"{policy_id}\n{text}".encode()).hexdigest()[:24],
                "policy_id": policy_id,
                "version": version,
                "chunk_no": no,
                "sections": ",".join(columns),
                "text": text,
            }
        )
    return out


def _popularity(settings: Settings) -> tuple[dict[str, int], date | None]:
    """service id -> best rank in the latest day of the portal's search ranking (the popularity mart)."""
    dt = delta.open_table(settings, POPULARITY)
    if dt is None:
        raise KnowledgeInputMissing("gold.mart_policy_popularity does not exist: build the dbt marts first (`gglake dbt build`)")
    rows = delta.to_arrow(dt, columns=["ranking_date", "search_rank", "service_id"]).to_pylist()
    if not rows:
        return {}, None
    latest = max(r["ranking_date"] for r in rows)
    ranks: dict[str, int] = {}
    for r in rows:
        if r["ranking_date"] == latest and r["service_id"]:
            ranks[r["service_id"]] = min(ranks.get(r["service_id"], r["search_rank"]), r["search_rank"])
    return ranks, latest


def _join(values) -> str | None:
    return ",".join(values) if values is not None else None


def _document(row: dict, version: int, content_hash: str, facets, listed_until: date, ranks, ranked_on, now, run_id) -> dict:
    title = row.get("service_name") or row["service_id"]
    closed = facets.application_end is not None and facets.application_end < listed_until
    delisted = row["snapshot_date"] < listed_until
    reason = "delisted" if delisted else "application_closed" if closed else None
    link = SOURCE_LINKS.get(row["source"])
    return {
        "policy_id": row["service_key"],
        "version": version,
        "content_hash": content_hash,
        "is_current": True,
        "is_active": reason is None,
        "inactive_reason": reason,
        "source": row["source"],
        "source_id": row["service_id"],
        "source_url": link.format(id=row["service_id"]) if link else None,
        "notice_type": row.get("notice_type"),
        "title": title,
        "agency": row.get("agency"),
        "department": facets.department,
        **{column: row.get(column) for column, _ in SECTIONS},
        "text": _text(title, row),
        "target_groups": _join(facets.target_groups),
        "min_age": facets.min_age,
        "max_age": facets.max_age,
        "age_rule": facets.age_rule,
        "district_scope": facets.district_scope,
        "district_codes": ",".join(facets.district_codes),
        "income_criterion": facets.income_criterion,
        "income_threshold_pct": facets.income_threshold_pct,
        "benefit_type": facets.benefit_type,
        "application_methods": _join(facets.application_methods),
        "application_start": facets.application_start,
        "application_end": facets.application_end,
        "always_open": facets.always_open,
        "unparsed_facets": ",".join(facets.unparsed),
        "popularity_rank": ranks.get(row["service_id"]),
        "popularity_date": ranked_on if row["service_id"] in ranks else None,
        "registered_on": row.get("registered_on"),
        "last_listed": row["snapshot_date"],
        "valid_from": now,
        "valid_to": None,
        "run_id": run_id,
    }


_BOOKKEEPING = ("valid_from", "valid_to", "run_id")


def _same(a: list[dict], b: list[dict], ignore: tuple[str, ...]) -> bool:
    def canon(rows):
        return sorted((tuple((k, v) for k, v in sorted(r.items()) if k not in ignore) for r in rows), key=repr)

    return canon(a) == canon(b)


def build(settings: Settings, run_id: str, wait_seconds: float = 0.0) -> BuildSummary:
    """Build the knowledge tables and the index (see the module doc), under the knowledge write lease."""
    from gglake import lease

    with lease.hold(settings, [KNOWLEDGE_LEASE], run_id, "knowledge build", wait_seconds) as held:
        return _build(settings, run_id, held)


def _build(settings: Settings, run_id: str, held) -> BuildSummary:
    began = time.perf_counter()
    services = delta.read(settings, SERVICES).to_pylist()
    if not services:
        raise KnowledgeInputMissing("silver.welfare_services is empty: ingest the welfare feed first (`gglake ingest`)")
    ranks, ranked_on = _popularity(settings)
    # A source's latest delivery: what it no longer lists has ended (kept for history, never retrieved).
    listed_until = {}
    for r in services:
        listed_until[r["source"]] = max(listed_until.get(r["source"], r["snapshot_date"]), r["snapshot_date"])

    old_docs = delta.read(settings, DOCUMENTS).to_pylist()
    old_current = {d["policy_id"]: d for d in old_docs if d["is_current"]}
    history = [d for d in old_docs if not d["is_current"]]
    now = datetime.now(UTC)
    current, changed = [], []
    unparsed: Counter[str] = Counter()
    for row in sorted(services, key=lambda r: r["service_key"]):
        facets = facet_parser.parse(row)
        unparsed.update(facets.unparsed)
        content_hash = _content_hash(row)
        previous = old_current.get(row["service_key"])
        if previous is not None and previous["content_hash"] == content_hash:
            doc = _document(row, previous["version"], content_hash, facets, listed_until[row["source"]], ranks, ranked_on,
                            previous["valid_from"], previous["run_id"])  # fmt: skip
        else:
            version = previous["version"] + 1 if previous else 1
            doc = _document(row, version, content_hash, facets, listed_until[row["source"]], ranks, ranked_on, now, run_id)
            if previous is not None:
                history.append({**previous, "is_current": False, "is_active": False, "inactive_reason": "superseded",
                                "valid_to": now})  # fmt: skip
            changed.append(doc)
        current.append(doc)
    # A policy no silver row holds any more (cannot happen with a latest-wins silver, but never lose one)
    seen = {d["policy_id"] for d in current}
    for pid, previous in old_current.items():
        if pid not in seen:
            current.append({**previous, "is_active": False, "inactive_reason": "delisted"})

    old_chunks = delta.read(settings, CHUNKS).to_pylist()
    tokens_of = {c["chunk_id"]: c["tokens"] for c in old_chunks}
    changed_ids = {d["policy_id"] for d in changed}
    chunks = [c for c in old_chunks if c["policy_id"] not in changed_ids and c["policy_id"] in seen]
    tokenised = 0
    for doc in changed:
        for c in chunk(doc["policy_id"], doc["version"], doc["title"], doc):
            if c["chunk_id"] not in tokens_of:
                tokens_of[c["chunk_id"]] = " ".join(tokenize(c["text"]))
                tokenised += 1
            chunks.append({**c, "tokens": tokens_of[c["chunk_id"]], "run_id": run_id})

    documents = history + current
    held.ensure_held()
    documents_version = _write_if_changed(settings, DOCUMENTS, old_docs, documents, _BOOKKEEPING)
    chunks_version = _write_if_changed(settings, CHUNKS, old_chunks, chunks, ("run_id",))

    root = index_dir(settings)
    manifest: Manifest | None = current_manifest(root)
    rebuilt = manifest is None or (manifest.documents_version, manifest.chunks_version) != (documents_version, chunks_version)
    if rebuilt:
        manifest = publish_index(
            root,
            documents_version,
            chunks_version,
            _arrow(CHUNKS, sorted(chunks, key=lambda c: (c["policy_id"], c["chunk_no"]))),
            _arrow(DOCUMENTS, sorted(current, key=lambda d: d["policy_id"])),
        )
    summary = BuildSummary(
        run_id=run_id,
        policies=len(current),
        active=sum(d["is_active"] for d in current),
        new_versions=len(changed),
        rechunked_policies=len(changed_ids),
        chunks=len(chunks),
        tokenised_chunks=tokenised,
        unparsed=dict(sorted(unparsed.items())),
        documents_version=documents_version,
        chunks_version=chunks_version,
        index_version=manifest.index_version,
        index_rebuilt=rebuilt,
        seconds=round(time.perf_counter() - began, 2),
    )
    log.info("%s: knowledge build %s", run_id, summary)
    return summary


def _arrow(t, rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=t.arrow_schema())


def _write_if_changed(settings: Settings, t, old: list[dict], new: list[dict], ignore: tuple[str, ...]) -> int:
    """Rewrite the table with `new` in one commit unless its rows equal `old`; returns the table's version."""
    dt = delta.ensure_table(settings, t)
    if (dt.version() > 0 or not new) and _same(old, new, ignore):
        return dt.version()
    delta.overwrite(settings, t, _arrow(t, new))
    return delta.open_table(settings, t).version()
