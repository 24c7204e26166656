"""`gglake knowledge eval`: recall@5, MRR and eligibility violations on the versioned question set.

Three rankings are compared on the same index: BM25 alone (no eligibility filter, no thesaurus, no
popularity), BM25 with the eligibility filter, and the full ranking the API serves. recall@5 is the share of
a question's relevant policies in its top 5, out of at most 5 (a question with 7 relevant ones is fully
recalled by 5 of them); MRR is the mean of 1 / rank of the first relevant policy within the top 10. An
eligibility violation is a top-5 result the question's resident is not eligible for by the policy's facets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from gglake.knowledge.index import LoadedIndex
from gglake.knowledge.search import RANKINGS, Profile, check_eligibility, search

QUESTIONS = Path(__file__).resolve().parents[2] / "knowledge" / "questions.yaml"
SPLITS = ("tune", "holdout")


@dataclass(frozen=True)
class Question:
    id: str
    split: str
    question: str
    profile: Profile
    relevant: frozenset[str]  # source ids


@dataclass(frozen=True)
class Score:
    ranking: str
    split: str
    questions: int
    recall_at_5: float
    mrr: float
    violations: int  # top-5 results the resident is not eligible for
    skipped: int  # questions none of whose relevant policies is active in this index


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    out = []
    for q in yaml.safe_load(path.read_text(encoding="utf-8")):
        if q.get("split") not in SPLITS:
            raise ValueError(f"{path}: question {q.get('id')} has split {q.get('split')!r}; expected one of {SPLITS}")
        p = q.get("profile") or {}
        groups = ",".join(p["groups"]) if p.get("groups") else None
        out.append(Question(q["id"], q["split"], q["question"], Profile.parse(p.get("age"), p.get("district"), groups),
                            frozenset(q["relevant"])))  # fmt: skip
    return out


def evaluate(index: LoadedIndex, questions: list[Question]) -> list[Score]:
    active_sources = {p["source_id"] for p in index.policies if p["is_active"]}
    scores = []
    for ranking in RANKINGS:
        for split in (*SPLITS, "all"):
            chosen = [q for q in questions if split in ("all", q.split)]
            usable = [q for q in chosen if q.relevant & active_sources]
            recall = rr = 0.0
            violations = 0
            for q in usable:
                hits = search(index, q.question, q.profile, limit=10, ranking=ranking).hits
                ids = [h.policy["source_id"] for h in hits]
                relevant = q.relevant & active_sources
                recall += len(relevant & set(ids[:5])) / min(len(relevant), 5)
                rr += next((1 / rank for rank, i in enumerate(ids, 1) if i in relevant), 0.0)
                violations += sum(check_eligibility(h.policy, q.profile)[0] != "ok" for h in hits[:5])
            n = len(usable) or 1
            scores.append(Score(ranking, split, len(usable), round(recall / n, 3), round(rr / n, 3), violations,
                                len(chosen) - len(usable)))  # fmt: skip
    return scores
