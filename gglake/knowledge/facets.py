"""Eligibility facets parsed from a welfare policy's source fields.

Every facet comes from what the source states: the national API's target, selection-criteria, benefit and
application texts, its life-stage and household codes (lifeArray, trgterIndvdlArray) and its ctpvNm/sggNm,
and the provincial API's equivalent fields. A facet the text does not state in a form recognised here is
None and named in `unparsed`: it is never guessed, and a search that needs it leaves the policy out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date

from gglake.districts import DISTRICTS

# Target groups: code -> the words that state them (in codes or text). Age-like groups (elderly, children,
# youth) are shown but never filtered on: the age bounds decide those.
TARGET_GROUPS: dict[str, tuple[str, ...]] = {
    "elderly": ("어르신", "노인", "노년"),
    "children": ("아동", "영유아"),
    "youth": ("청년",),
    "single_elderly": ("독거노인", "홀로 사는 어르신", "홀로어르신", "홀로 사는"),
    "single_person_household": ("1인가구", "1인 가구"),
    "disabled": ("장애인", "장애아동", "청각장애"),
    "developmental_disability": ("발달장애",),
    "low_income": ("저소득", "기초생활수급자", "차상위"),
    "single_parent": ("한부모", "조손"),
    "veterans": ("보훈",),
    "dementia_family": ("치매 환자 가족",),
}
AGE_GROUPS = frozenset({"elderly", "children", "youth"})
# A resident in one of these groups also belongs to the broader one.
IMPLIED_GROUPS = {
    "single_elderly": ("single_person_household", "elderly"),
    "developmental_disability": ("disabled",),
}
GROUP_LABELS_KO = {
    "elderly": "어르신", "children": "아동", "youth": "청년", "single_elderly": "홀로 사는 어르신",
    "single_person_household": "1인 가구", "disabled": "장애인", "developmental_disability": "발달장애인",
    "low_income": "저소득", "single_parent": "한부모·조손 가정", "veterans": "보훈 대상자",
    "dementia_family": "치매 환자 가족",
}  # fmt: skip
# The national portal's life stages, used for age bounds only when the text states none.
LIFE_STAGE_AGES = {
    "영유아": (0, 5), "아동": (6, 12), "청소년": (13, 18), "청년": (19, 34), "중장년": (40, 64), "노년": (65, None),
}  # fmt: skip
BENEFIT_TYPES = (  # (code, words that state it), first match wins
    ("cash", ("현금", "수당", "연금", "급여 지급", "지원금")),
    ("voucher", ("바우처", "이용권", "카드")),
    ("medical", ("의료비", "수술비", "진료비")),
    ("in_kind", ("현물", "배달", "양곡")),
    ("service", ("서비스 제공", "돌봄", "방문")),
)
APPLICATION_METHODS = (("visit", ("방문",)), ("online", ("온라인", "복지로")), ("phone", ("전화",)))
DISTRICT_CODES = {d.name_ko: d.code for d in DISTRICTS}

_AGE_RANGE = re.compile(r"만\s*(\d{1,3})\s*세\s*(?:이상)?\s*(?:~|-|부터)?\s*(?:만\s*)?(\d{1,3})\s*세\s*(이하|미만|까지)")
_AGE_MIN = re.compile(r"만\s*(\d{1,3})\s*세\s*이상")
_AGE_BELOW = re.compile(r"만\s*(\d{1,3})\s*세\s*(미만|이하)")
_NO_AGE = re.compile(r"연령\s*(제한|기준)\s*(없음|무관)")
_MEDIAN = re.compile(r"중위소득\s*(\d{1,3})\s*%\s*이하")
_BOTTOM = re.compile(r"하위\s*(\d{1,3})\s*%")
_PERIOD = re.compile(r"신청\s*기간\s*[:：]\s*(\d{4})[.\-](\d{1,2})[.\-](\d{1,2})\s*~\s*(\d{4})[.\-](\d{1,2})[.\-](\d{1,2})")
_ALWAYS = re.compile(r"연중\s*(상시|수시)")
_CONTACT = re.compile(r"문의\s*[:：]\s*([^.\n]+)")


@dataclass(frozen=True)
class Facets:
    target_groups: tuple[str, ...] | None
    min_age: int | None
    max_age: int | None
    age_rule: str | None  # "bounded", "any" (the source says no age limit); None: not stated
    district_scope: str | None  # "nationwide", "province", "district"; None: not parseable
    district_codes: tuple[str, ...]  # for "district" scope
    income_criterion: str | None  # "none", "median_pct", "bottom_pct", "recipient"
    income_threshold_pct: int | None
    benefit_type: str | None
    application_methods: tuple[str, ...] | None
    application_start: date | None
    application_end: date | None
    always_open: bool | None
    department: str | None
    unparsed: tuple[str, ...] = field(default=())


def split_codes(value: str | None) -> list[str]:
    """A comma-separated facet column (target_groups, district_codes, …) as its codes."""
    return [v for v in (value or "").split(",") if v]


def _groups(*texts: str | None) -> tuple[str, ...] | None:
    joined = " ".join(t for t in texts if t)
    if not joined.strip():
        return None
    found = [code for code, words in TARGET_GROUPS.items() if any(w in joined for w in words)]
    return tuple(sorted(resident_groups(found)))


def _ages(target: str | None, life_stages: str | None) -> tuple[int | None, int | None, str | None]:
    text = target or ""
    if m := _AGE_RANGE.search(text):
        high = int(m.group(2)) - (1 if m.group(3) == "미만" else 0)
        return int(m.group(1)), high, "bounded"
    if m := _AGE_MIN.search(text):
        return int(m.group(1)), None, "bounded"
    if m := _AGE_BELOW.search(text):
        return 0, int(m.group(1)) - (1 if m.group(2) == "미만" else 0), "bounded"
    if _NO_AGE.search(text):
        return None, None, "any"
    stages = [LIFE_STAGE_AGES[s.strip()] for s in (life_stages or "").split(",") if s.strip() in LIFE_STAGE_AGES]
    if len(stages) == 1:
        return stages[0][0], stages[0][1], "bounded"
    return None, None, None


def _districts(province: str | None, district: str | None, source: str, agency: str | None, target: str | None):
    """(scope, codes): the API's district field first, else what the target text says."""
    if district:
        code = DISTRICT_CODES.get(district.strip())
        return ("district", (code,)) if code else (None, ())
    text = target or ""
    named = [code for name, code in DISTRICT_CODES.items() if f"{name} 거주" in text]
    if named:
        return "district", tuple(sorted(named))
    if "경기도 거주" in text or source == "provincial" or (agency or "").startswith("경기도") or province == "경기도":
        return "province", ()
    if "전국" in text:
        return "nationwide", ()
    return None, ()


def _first_match(text: str, table) -> str | None:
    return next((code for code, words in table if any(w in text for w in words)), None)


def parse(row: dict) -> Facets:
    """Facets of one silver.welfare_services row."""
    target, criteria = row.get("target_detail"), row.get("selection_criteria") or ""
    apply, benefit = row.get("how_to_apply") or "", row.get("benefit") or ""
    groups = _groups(row.get("target_groups"), target, row.get("service_name"))
    min_age, max_age, age_rule = _ages(target, row.get("life_stages"))
    scope, codes = _districts(row.get("province"), row.get("district"), row.get("source") or "", row.get("agency"), target)
    if "소득 기준 없음" in criteria or "소득 무관" in criteria:
        income, pct = "none", None
    elif m := _MEDIAN.search(criteria):
        income, pct = "median_pct", int(m.group(1))
    elif m := _BOTTOM.search(criteria):
        income, pct = "bottom_pct", int(m.group(1))
    elif "수급자" in criteria or "차상위" in criteria:
        income, pct = "recipient", None
    else:
        income, pct = None, None
    methods = tuple(code for code, words in APPLICATION_METHODS if any(w in apply for w in words)) or None
    start = end = None
    always = None
    if m := _PERIOD.search(apply):
        try:
            start = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            end = date(int(m.group(4)), int(m.group(5)), int(m.group(6)))
            always = False
        except ValueError:  # an impossible date in the text: the period is unparsed
            start = end = None
    elif _ALWAYS.search(apply):
        always = True
    contact = _CONTACT.search(apply)
    facets = Facets(
        target_groups=groups,
        min_age=min_age,
        max_age=max_age,
        age_rule=age_rule,
        district_scope=scope,
        district_codes=codes,
        income_criterion=income,
        income_threshold_pct=pct,
        benefit_type=_first_match(benefit, BENEFIT_TYPES),
        application_methods=methods,
        application_start=start,
        application_end=end,
        always_open=always,
        department=contact.group(1).strip() if contact else None,
    )
    unparsed = tuple(
        name
        for name, value in (
            ("target_groups", groups), ("age", age_rule), ("district", scope), ("income", income),
            ("benefit_type", facets.benefit_type), ("application_method", methods),
            ("application_period", always), ("department", facets.department),
        )
        if value is None
    )  # fmt: skip
    return replace(facets, unparsed=unparsed)


def restricting_groups(groups: tuple[str, ...] | None) -> frozenset[str]:
    """The groups a policy is limited to (an empty set: open to everyone its age and district rules allow)."""
    return frozenset(groups or ()) - AGE_GROUPS


def resident_groups(groups) -> frozenset[str]:
    """`groups` with the broader ones they imply (a resident's stated groups, or those a policy names)."""
    found = set(groups)
    for code in groups:
        found.update(IMPLIED_GROUPS.get(code, ()))
    return frozenset(found)
