"""Eligibility-aware policy search over a loaded index.

Order of work: the resident's profile (age, district, groups) removes every policy they are not eligible
for, and every inactive one, before anything is ranked; the remaining passages are scored with BM25 over
Kiwi morphemes (the query widened with a small welfare thesaurus); each policy takes its best passage;
popularity in the portal's search ranking then raises a score by at most POPULARITY_WEIGHT. A facet the
source did not state parseably never counts as a match: when the profile needs it, the policy is left out
and counted in `excluded_unverified`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gglake.districts import DISTRICTS
from gglake.knowledge.facets import GROUP_LABELS_KO, TARGET_GROUPS, resident_groups, restricting_groups, split_codes
from gglake.knowledge.index import LoadedIndex, tokenize

POPULARITY_WEIGHT = 0.05  # the top-ranked policy's score × 1.05, unranked × 1.0 (see the README: evaluation)
RANKINGS = ("full", "bm25_eligible", "bm25")  # full ranking; BM25 + eligibility filter; BM25 alone (evaluation)
# Words residents use for what the policies call otherwise (query side only): Kiwi morpheme → added morphemes.
THESAURUS: dict[str, tuple[str, ...]] = {
    "혼자": ("홀로", "독거"), "독거": ("홀로",), "홀로": ("독거",), "노인": ("어르신",), "어르신": ("노인",),
    "할머니": ("어르신",), "할아버지": ("어르신",), "부모님": ("어르신",), "병원비": ("의료비", "진료비"),
    "약값": ("약", "의료비"), "집수리": ("주거환경", "수리"), "밥": ("식사", "반찬"), "도시락": ("식사",),
    "난방비": ("에너지", "난방"), "전기": ("에너지",), "월세": ("월세", "임차"), "생활비": ("생계",),
    "장애": ("장애인",), "치매": ("치매",), "검사": ("검진",), "눈": ("안검진", "개안"), "귀": ("보청기",),
    "elderly": ("어르신", "노인"), "senior": ("어르신",), "alone": ("홀로", "독거"), "dementia": ("치매",),
    "job": ("일자리",), "jobs": ("일자리",), "meal": ("식사",), "meals": ("식사",), "hearing": ("보청기",),
    "knee": ("무릎",), "pension": ("연금",), "rent": ("월세",), "disability": ("장애인",), "disabled": ("장애인",),
    "child": ("아동",), "children": ("아동",), "youth": ("청년",), "heating": ("난방비",), "bath": ("목욕",),
    "haircut": ("이미용",), "glasses": ("안경",), "bus": ("교통비",), "transport": ("교통비",),
    "hospital": ("병원",), "speaker": ("스피커",), "emergency": ("응급",), "care": ("돌봄",), "delivery": ("배달",),
    "counseling": ("상담",), "housing": ("주거",), "checkup": ("검진",), "livelihood": ("생계",),
}  # fmt: skip
DISTRICT_BY_CODE = {d.code: d for d in DISTRICTS}
DISTRICT_BY_NAME = {d.name_ko: d for d in DISTRICTS}


class BadQuery(ValueError):
    """A search parameter that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Profile:
    age: int | None = None
    district: str | None = None  # 5-digit code
    groups: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, age: int | None, district: str | None, groups: str | None) -> Profile:
        if age is not None and not 0 <= age <= 120:
            raise BadQuery(f"age must be between 0 and 120, got {age}")
        code = None
        if district is not None and district.strip():
            found = DISTRICT_BY_CODE.get(district.strip()) or DISTRICT_BY_NAME.get(district.strip())
            if found is None:
                raise BadQuery(f"unknown district {district!r}: give a Gyeonggi city/county code (41110) or name (수원시)")
            code = found.code
        codes = None
        if groups is not None and groups.strip():
            codes = tuple(sorted({g.strip() for g in groups.split(",") if g.strip()}))
            unknown = [g for g in codes if g not in TARGET_GROUPS]
            if unknown:
                raise BadQuery(f"unknown target group(s) {', '.join(unknown)}; known: {', '.join(TARGET_GROUPS)}")
        return cls(age, code, codes)


@dataclass
class Hit:
    policy: dict
    passage: str
    score: float
    bm25: float
    matched_terms: list[str]
    eligibility: dict[str, str]


@dataclass
class SearchResult:
    hits: list[Hit]
    eligible_policies: int
    excluded_ineligible: int
    excluded_unverified: int
    query_terms: list[str] = field(default_factory=list)


def check_eligibility(policy: dict, profile: Profile) -> tuple[str, dict[str, str]]:
    """("ok" | "ineligible" | "unverified", why): the policy against the profile, facet by facet."""
    if not policy["is_active"]:
        return "ineligible", {"active": policy.get("inactive_reason") or "inactive"}
    why: dict[str, str] = {}
    verdicts = []
    if profile.age is not None:
        if policy["age_rule"] is None:
            verdicts.append("unverified")
        elif policy["age_rule"] == "any":
            why["age"] = "연령 제한 없음"
        else:
            low, high = policy["min_age"], policy["max_age"]
            ok = (low is None or profile.age >= low) and (high is None or profile.age <= high)
            verdicts.append("ok" if ok else "ineligible")
            why["age"] = f"만 {low or 0}세 이상" + (f" {high}세 이하" if high is not None else "")
    if profile.district is not None:
        scope = policy["district_scope"]
        if scope is None:
            verdicts.append("unverified")
        elif scope in ("nationwide", "province"):
            why["district"] = "전국" if scope == "nationwide" else "경기도 전역"
        else:
            codes = split_codes(policy["district_codes"])
            verdicts.append("ok" if profile.district in codes else "ineligible")
            why["district"] = ", ".join(DISTRICT_BY_CODE[c].name_ko for c in codes if c in DISTRICT_BY_CODE)
    if profile.groups is not None:
        if policy["target_groups"] is None:
            verdicts.append("unverified")
        else:
            limited = restricting_groups(tuple(split_codes(policy["target_groups"])))
            if limited:
                verdicts.append("ok" if limited & resident_groups(profile.groups) else "ineligible")
                why["groups"] = ", ".join(GROUP_LABELS_KO[g] for g in sorted(limited))
            else:
                why["groups"] = "대상 제한 없음"
    if "ineligible" in verdicts:
        return "ineligible", why
    return ("unverified" if "unverified" in verdicts else "ok"), why


@dataclass(frozen=True)
class FacetArrays:
    """The policies' facets as arrays, so a profile is checked against every policy at once. Same rules as
    check_eligibility (which also explains a verdict); a test holds the two to the same verdicts."""

    active: np.ndarray
    age_rule: np.ndarray  # 0 not stated, 1 any age, 2 bounded
    min_age: np.ndarray  # -inf when no lower bound
    max_age: np.ndarray  # +inf when no upper bound
    scope: np.ndarray  # 0 not parseable, 1 nationwide or province-wide, 2 named districts
    in_district: dict[str, np.ndarray]  # district code -> policies naming it
    groups_known: np.ndarray
    limited: np.ndarray  # limited to some target groups
    limited_to: dict[str, np.ndarray]  # group -> policies limited to a set including it

    @classmethod
    def of(cls, index: LoadedIndex) -> FacetArrays:
        if "facets" not in index.derived:
            ps = index.policies
            limits = [restricting_groups(tuple(split_codes(p["target_groups"]))) for p in ps]
            index.derived["facets"] = cls(
                active=np.array([bool(p["is_active"]) for p in ps]),
                age_rule=np.array([{None: 0, "any": 1}.get(p["age_rule"], 2) for p in ps]),
                min_age=np.array([-np.inf if p["min_age"] is None else p["min_age"] for p in ps], dtype=float),
                max_age=np.array([np.inf if p["max_age"] is None else p["max_age"] for p in ps], dtype=float),
                scope=np.array([{None: 0, "nationwide": 1, "province": 1}.get(p["district_scope"], 2) for p in ps]),
                in_district={d.code: np.array([d.code in split_codes(p["district_codes"]) for p in ps]) for d in DISTRICTS},
                groups_known=np.array([p["target_groups"] is not None for p in ps]),
                limited=np.array([bool(limit) for limit in limits]),
                limited_to={g: np.array([g in limit for limit in limits]) for g in TARGET_GROUPS},
            )
        return index.derived["facets"]

    def verdicts(self, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
        """(ineligible, unverified) for every policy; inactive ones are ineligible."""
        ineligible, unverified = ~self.active, np.zeros_like(self.active)
        if profile.age is not None:
            unverified |= self.age_rule == 0
            ineligible |= (self.age_rule == 2) & ((profile.age < self.min_age) | (profile.age > self.max_age))
        if profile.district is not None:
            unverified |= self.scope == 0
            ineligible |= (self.scope == 2) & ~self.in_district[profile.district]
        if profile.groups is not None:
            unverified |= ~self.groups_known
            shared = np.zeros_like(self.active)
            for g in resident_groups(profile.groups):
                shared |= self.limited_to[g]
            ineligible |= self.groups_known & self.limited & ~shared
        return ineligible, unverified & ~ineligible


def query_terms(q: str, expand: bool = True) -> list[str]:
    terms = tokenize(q)
    if expand:
        terms += [extra for t in terms for extra in THESAURUS.get(t, ())]
    return list(dict.fromkeys(terms))


def popularity(policy: dict) -> float:
    """0 … 1: 1 for the top of the portal's search ranking, 0 for a policy outside its top 100."""
    rank = policy.get("popularity_rank")
    return max(0.0, (101 - rank) / 100) if rank else 0.0


def search(index: LoadedIndex, q: str, profile: Profile, limit: int = 10, ranking: str = "full") -> SearchResult:
    if ranking not in RANKINGS:
        raise BadQuery(f"unknown ranking {ranking!r}")
    if not q or not q.strip():
        raise BadQuery("q must not be empty")
    filtered = ranking != "bm25"
    terms = query_terms(q, expand=ranking == "full")
    facets = FacetArrays.of(index)
    # BM25 alone still never returns an inactive policy
    ineligible, unverified = facets.verdicts(profile if filtered else Profile())
    allowed = ~ineligible & ~unverified
    result = SearchResult([], int(allowed.sum()), int(ineligible.sum()), int(unverified.sum()), terms)
    if not terms:
        return result
    scores = np.asarray(index.retriever.get_scores(terms), dtype=np.float64)
    scores[~allowed[index.chunk_policy]] = 0.0
    best: dict[int, int] = {}  # policy row -> its best chunk
    for c in np.argsort(-scores, kind="stable"):
        if scores[c] <= 0:
            break
        best.setdefault(int(index.chunk_policy[c]), int(c))
    weight = POPULARITY_WEIGHT if ranking == "full" else 0.0
    ranked = sorted(
        ((scores[c] * (1 + weight * popularity(index.policies[p])), p, c) for p, c in best.items()),
        key=lambda x: (-x[0], index.policies[x[1]]["policy_id"]),
    )
    for score, p, c in ranked[:limit]:
        passage_terms = set(index.chunks[c]["tokens"].split(" "))
        why = check_eligibility(index.policies[p], profile)[1] if filtered else {}
        result.hits.append(
            Hit(index.policies[p], index.chunks[c]["text"], round(float(score), 4), round(float(scores[c]), 4),
                [t for t in terms if t in passage_terms], why)  # fmt: skip
        )
    return result
