"""The BM25 index over gold.policy_chunks, versioned with the tables it was built from.

An index is a folder `<index dir>/<documents version>.<chunks version>/` holding the bm25s matrices, the
chunk and policy rows the search needs (Parquet) and a manifest; the `CURRENT` file names the folder
readers should use and is replaced atomically once a new folder is complete, so a reader sees the old
index or the new one, never half of one. Tokens are Kiwi morphemes (nouns, verb and adjective stems,
roots, adverbs, foreign words and numbers), computed once per chunk and stored in the chunk table.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gglake.files import write_atomic
from gglake.settings import ConfigError, Settings

KEPT_TAGS = ("NNG", "NNP", "NR", "SL", "SH", "SN", "XR", "VV", "VA", "MAG")
# Verb stems and bound nouns every policy text uses (있다, 받다, 하다, 수 …): they match everything.
STOP_FORMS = frozenset({"있", "없", "받", "하", "되", "주", "싶", "사", "가", "오", "보", "알", "수", "것", "등", "드리"})
POINTER = "CURRENT"
KEEP_BUILDS = 3  # older index folders kept beside the current one (a reader may still be loading one)
BM25_PARAMS = {"k1": 1.2, "b": 0.75, "method": "lucene"}


logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG to its own handler


class IndexUnavailable(RuntimeError):
    """No complete index has been published where the reader looks."""


class IndexEmpty(IndexUnavailable):
    """The published index holds no active policy."""


def missing(root: Path) -> str:
    return f"no knowledge index has been built in {root}: run `gglake knowledge build`"


_kiwi_lock = threading.Lock()


@cache
def _kiwi():
    from kiwipiepy import Kiwi

    return Kiwi()


def tokenize(text: str) -> list[str]:
    """Kiwi morphemes of `text` used for retrieval (lower-cased foreign words; verb stems as forms)."""
    with _kiwi_lock:  # one Kiwi instance; its tokenize is not documented as thread-safe
        tokens = _kiwi().tokenize(text)
    return [t.form.lower() for t in tokens if t.tag.split("-")[0] in KEPT_TAGS and t.form not in STOP_FORMS]


def index_dir(settings: Settings) -> Path:
    """GGLAKE_KNOWLEDGE_INDEX, else `knowledge/index` next to a local lakehouse."""
    explicit = os.environ.get("GGLAKE_KNOWLEDGE_INDEX")
    if explicit:
        return Path(explicit)
    if "://" in settings.home:
        raise ConfigError("GGLAKE_HOME is a URL: set GGLAKE_KNOWLEDGE_INDEX to a local folder for the search index")
    return Path(settings.home) / "knowledge" / "index"


@dataclass(frozen=True)
class Manifest:
    index_version: str
    documents_version: int
    chunks_version: int
    built_at: str
    policies: int  # active policies the index can return
    chunks: int
    tokenizer: str
    bm25: dict


def current_manifest(root: Path) -> Manifest | None:
    try:
        name = (root / POINTER).read_text().strip()
        return Manifest(**json.loads((root / name / "manifest.json").read_text()))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, TypeError):
        return None


def publish_index(root: Path, documents_version: int, chunks_version: int, chunks: pa.Table, policies: pa.Table) -> Manifest:
    """Build the index of `chunks` (the current chunks, with tokens) and `policies` (the current documents)
    into a new folder, then point CURRENT at it. Older folders beyond KEEP_BUILDS are removed."""
    import bm25s
    import kiwipiepy

    version = f"{documents_version}.{chunks_version}"
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".{version}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    if chunks.num_rows:  # an empty index is published too (readers answer that it is empty)
        retriever = bm25s.BM25(**BM25_PARAMS)
        corpus = [t.split(" ") if t else [] for t in chunks.column("tokens").to_pylist()]
        retriever.index(corpus, show_progress=False)
        retriever.save(str(staging / "bm25"), show_progress=False)
    pq.write_table(chunks, staging / "chunks.parquet")
    pq.write_table(policies, staging / "policies.parquet")
    active = pa.compute.sum(policies.column("is_active").cast(pa.int64())).as_py() or 0
    manifest = Manifest(
        index_version=version,
        documents_version=documents_version,
        chunks_version=chunks_version,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        policies=int(active),
        chunks=chunks.num_rows,
        tokenizer=f"kiwipiepy {kiwipiepy.__version__}",
        bm25=BM25_PARAMS,
    )
    (staging / "manifest.json").write_text(json.dumps(manifest.__dict__, ensure_ascii=False, indent=2))
    final = root / version
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)
    write_atomic(root / POINTER, version.encode())
    _prune(root, keep=version)
    return manifest


def _prune(root: Path, keep: str) -> None:
    builds = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.stat().st_mtime)
    for old in [p for p in builds if p.name != keep][:-KEEP_BUILDS]:
        shutil.rmtree(old, ignore_errors=True)


@dataclass
class LoadedIndex:
    manifest: Manifest
    retriever: object  # bm25s.BM25
    chunk_policy: np.ndarray  # row of `policies` for each chunk
    chunks: list[dict]
    policies: list[dict]
    policy_row: dict[str, int]  # policy id -> its row of `policies`
    derived: dict = field(default_factory=dict)  # what readers compute once per index (search's facet arrays)


def load_index(root: Path) -> LoadedIndex:
    """The index CURRENT names, or IndexUnavailable saying why."""
    import bm25s

    manifest = current_manifest(root)
    if manifest is None:
        raise IndexUnavailable(missing(root))
    if manifest.chunks == 0 or manifest.policies == 0:
        raise IndexEmpty(f"knowledge index {manifest.index_version} is empty: no active policy to search")
    folder = root / manifest.index_version
    try:
        retriever = bm25s.BM25.load(str(folder / "bm25"), show_progress=False, verbosity=0)
        chunks = pq.read_table(folder / "chunks.parquet").to_pylist()
        policies = pq.read_table(folder / "policies.parquet").to_pylist()
    except (FileNotFoundError, OSError) as exc:  # pruned between reading CURRENT and the folder: try again
        raise IndexUnavailable(f"knowledge index {manifest.index_version} could not be read: {exc}") from exc
    row_of = {p["policy_id"]: i for i, p in enumerate(policies)}
    chunk_policy = np.array([row_of[c["policy_id"]] for c in chunks], dtype=np.int64)
    return LoadedIndex(manifest, retriever, chunk_policy, chunks, policies, row_of)
