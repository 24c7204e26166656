"""Welfare policies: national open-API XML pages, provincial open-data JSON pages, search ranking.

Each item's life (registration, updates, end) is drawn once per seed, so the catalogue on any
date is a pure function of the date: ids stay stable, items get updated now and then, new ones
appear and notices expire.
"""

import json
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from gglake.districts import DISTRICTS
from sources.defects import Defect, how_many
from sources.files import csv_line, join_lines, write_bytes
from sources.seeding import EPOCH, rng_for

PAGE_SIZE = 50
NATIONAL = (  # (service name, ministry, life stage, target group, search keyword)
    ("기초연금", "보건복지부", "노년", "저소득", "기초연금"),
    ("노인맞춤돌봄서비스", "보건복지부", "노년", "독거노인", "노인돌봄"),
    ("응급안전안심서비스", "보건복지부", "노년", "독거노인", "응급안전"),
    ("노인일자리 및 사회활동 지원사업", "보건복지부", "노년", "저소득", "노인일자리"),
    ("노인장기요양보험 재가급여", "보건복지부", "노년", "장애인", "장기요양"),
    ("치매안심센터 치매조기검진", "보건복지부", "노년", "보훈대상자", "치매검사"),
    ("치매치료관리비 지원", "보건복지부", "노년", "저소득", "치매치료비"),
    ("노인 무릎인공관절 수술 지원", "보건복지부", "노년", "저소득", "무릎수술 지원"),
    ("노인 안검진 및 개안수술 지원", "보건복지부", "노년", "저소득", "개안수술"),
    ("긴급복지 생계지원", "보건복지부", "노년", "저소득", "긴급복지"),
    ("기초생활보장 생계급여", "보건복지부", "노년", "저소득", "생계급여"),
    ("의료급여", "보건복지부", "노년", "저소득", "의료급여"),
    ("주거급여", "국토교통부", "노년", "저소득", "주거급여"),
    ("에너지바우처", "산업통상자원부", "노년", "저소득", "에너지바우처"),
    ("통합문화이용권", "문화체육관광부", "노년", "저소득", "문화누리카드"),
    ("노인 틀니 및 임플란트 건강보험 적용", "보건복지부", "노년", "해당없음", "임플란트 지원"),
    ("방문건강관리 서비스", "보건복지부", "노년", "독거노인", "방문건강관리"),
    ("장애인연금", "보건복지부", "노년", "장애인", "장애인연금"),
    ("장애인 활동지원 서비스", "보건복지부", "노년", "장애인", "활동지원"),
    ("발달장애인 주간활동서비스", "보건복지부", "청년", "장애인", "주간활동서비스"),
    ("노인학대 예방 및 피해노인 보호", "보건복지부", "노년", "해당없음", "노인학대 신고"),
    ("고독사 예방 및 관리 사업", "보건복지부", "노년", "독거노인", "고독사 예방"),
    ("경로당 냉난방비 및 양곡비 지원", "보건복지부", "노년", "해당없음", "경로당 난방비"),
    ("노인 보청기 보장구 급여", "보건복지부", "노년", "장애인", "보청기 지원"),
    ("희망저축계좌", "보건복지부", "노년", "저소득", "희망저축계좌"),
)
LOCAL = (  # local services offered by many districts: (name suffix, search keyword suffix)
    ("어르신 이미용비 지원", "이미용비"), ("어르신 목욕비 지원", "목욕비"), ("장수수당", "장수수당"),
    ("효도수당", "효도수당"), ("홀로어르신 안부확인 서비스", "안부확인"), ("어르신 반찬 배달", "반찬배달"),
    ("AI 스피커 돌봄 서비스", "AI 스피커"), ("스마트 플러그 안심 서비스", "스마트플러그"),
    ("병원 동행 서비스", "병원동행"), ("어르신 교통비 지원", "교통비"),
    ("어르신 안경 구입비 지원", "안경 지원"), ("경로당 건강 프로그램", "경로당 프로그램"),
)  # fmt: skip
PROVINCIAL_TARGETS = (
    "어르신", "홀로 사는 어르신", "발달장애인", "저소득 가구", "치매 환자 가족", "장애인",
    "한부모 가정", "보훈 대상 어르신",
)  # fmt: skip
PROVINCIAL_BENEFITS = (
    "돌봄 지원", "의료비 지원", "안부 확인", "식사 지원", "일자리 지원", "주거환경 개선",
    "심리상담", "이동 지원", "AI 케어 서비스", "가사 지원", "여가 활동 지원", "응급 안전 지원",
)  # fmt: skip
NOTICES = (  # (type, title pattern)
    ("공고", "{year}년 노인일자리 참여자 모집 공고"),
    ("공고", "{year}년 AI 돌봄 서비스 대상자 추가 모집"),
    ("공고", "{district} 어르신 건강검진 지원사업 공고"),
    ("공지", "{district} 무더위 쉼터 운영 안내"),
    ("공지", "기초연금 신청 방법 안내"),
    ("공지", "{district} 한파 대비 취약계층 안전 점검 안내"),
)
GENERIC_KEYWORDS = (
    "복지로", "주민센터 전화번호", "요양원 비용", "건강보험료 조회", "노인복지관 위치",
    "경기도 날씨", "독감 예방접종", "어르신 교통카드", "복지 상담", "지원금 신청",
)  # fmt: skip


@dataclass(frozen=True)
class Item:
    id: str
    name: str
    keyword: str
    ministry: str
    life: str
    target_group: str
    district: str | None
    registered: date
    updates: tuple[date, ...]
    ends: date | None
    amount: int  # benefit amount in thousand won; revised on each update
    notice_type: str = "복지서비스"

    def live(self, day: date) -> bool:
        return self.registered <= day and (self.ends is None or day < self.ends)

    def version(self, day: date) -> int:
        return sum(u <= day for u in self.updates)


def _item(rng: np.random.Generator, new_share: float, **fields: object) -> Item:
    """An item with its life drawn: registered mostly before the epoch (a `new_share` of them
    later, so new items keep appearing), updated every ~5 months, and 8% ending after it."""
    if rng.random() < new_share:
        registered = EPOCH + timedelta(days=int(rng.integers(0, 730)))
    else:
        registered = date(2008, 1, 1) + timedelta(days=int(rng.integers(0, (EPOCH - date(2008, 1, 1)).days)))
    gaps = np.cumsum(rng.exponential(150, 60)).astype(int) + 1
    ends = EPOCH + timedelta(days=int(rng.integers(60, 900))) if rng.random() < 0.08 else None
    updates = tuple(registered + timedelta(days=int(g)) for g in gaps)
    return Item(registered=registered, updates=updates, ends=ends, **fields)


@cache
def catalogue(seed: int) -> tuple[tuple[Item, ...], tuple[Item, ...]]:
    """(national items, provincial welfare services), each sorted by id."""
    rng = rng_for(seed, "policy-catalogue")
    national = [
        _item(
            rng,
            0.05,
            id="",
            name=name,
            keyword=keyword,
            ministry=ministry,
            life=life,
            target_group=group,
            district=None,
            amount=int(rng.integers(5, 400)) * 10,
        )
        for name, ministry, life, group, keyword in NATIONAL
    ]
    combos = [(d.name_ko, s) for d in DISTRICTS for s in LOCAL]
    for k in rng.choice(len(combos), 320, replace=False):
        district, (suffix, keyword) = combos[k]
        national.append(
            _item(
                rng,
                0.2,
                id="",
                name=f"{district} {suffix}",
                keyword=f"{district} {keyword}",
                ministry=f"경기도 {district}",
                life="노년",
                target_group="독거노인",
                district=district,
                amount=int(rng.integers(1, 30)) * 10,
            )
        )
    ids = rng.choice(90_000_000, len(national), replace=False) + 10_000_000
    national = sorted((replace(item, id=f"WLF{i:08d}") for item, i in zip(national, ids, strict=True)), key=lambda x: x.id)
    pairs = [(t, b) for t in PROVINCIAL_TARGETS for b in PROVINCIAL_BENEFITS]
    provincial = [
        _item(
            rng,
            0.15,
            id=f"GGSVC{k:05d}",
            name=f"경기도 {target} {benefit}",
            keyword=f"{target} {benefit}",
            ministry="경기도",
            life="노년",
            target_group=target,
            district=DISTRICTS[rng.integers(len(DISTRICTS))].name_ko,
            amount=int(rng.integers(1, 50)) * 10,
        )
        for k, (target, benefit) in enumerate(pairs, 1)
    ]
    return tuple(national), tuple(provincial)


def notices(seed: int, day: date) -> list[Item]:
    """Notices and announcements live on `day`: ~0.8 posted a day, each up for 30-90 days."""
    live = []
    for back in range(90, -1, -1):
        posted = day - timedelta(days=back)
        rng = rng_for(seed, "policy-notices", posted.toordinal())
        for k in range(int(rng.poisson(0.8))):
            kind, pattern = NOTICES[rng.integers(len(NOTICES))]
            district = DISTRICTS[rng.integers(len(DISTRICTS))].name_ko
            lifetime = int(rng.integers(30, 91))
            if back < lifetime:
                title = pattern.format(year=posted.year, district=district)
                notice_id = f"GGNTC{posted.strftime('%Y%m%d')}{k + 1:02d}"
                live.append(
                    Item(
                        id=notice_id,
                        name=title,
                        keyword=title,
                        ministry="경기도",
                        life="노년",
                        target_group="해당없음",
                        district=district,
                        registered=posted,
                        updates=(),
                        ends=None,
                        amount=0,
                        notice_type=kind,
                    )
                )
    return live


def _texts(item: Item, day: date) -> dict[str, str]:
    """Descriptive fields; the benefit amount is revised with each update."""
    amount = item.amount * (100 + 3 * item.version(day)) // 100
    where = f"{item.district} 거주 " if item.district else ""
    return {
        "summary": f"{where}{item.target_group} 대상 {item.name} 제공",
        "target": f"{where}{item.target_group} (신청일 현재 주민등록상 거주자)",
        "criteria": "소득인정액 기준 중위소득 100% 이하 (세부 기준은 지자체 확인)",
        "benefit": f"월 최대 {amount:,}천원 상당 지원" if amount else "상세 내용은 공고문 참조",
        "apply": "주소지 읍면동 행정복지센터 방문 또는 복지로 온라인 신청",
    }


def _national_xml(items: list[Item], day: date, page: int, total: int) -> str:
    def tag(name: str, value: str) -> str:
        return f"<{name}>{escape(value)}</{name}>"

    body = []
    for item in items:
        t = _texts(item, day)
        fields = [
            tag("servId", item.id), tag("servNm", item.name), tag("jurMnofNm", item.ministry),
            tag("servDgst", t["summary"]), tag("tgtrDtlCn", t["target"]), tag("slctCritCn", t["criteria"]),
            tag("alwServCn", t["benefit"]), tag("aplyMtdCn", t["apply"]), tag("lifeArray", item.life),
            tag("trgterIndvdlArray", item.target_group),
        ]  # fmt: skip
        if item.district:
            fields += [tag("ctpvNm", "경기도"), tag("sggNm", item.district)]
        fields.append(tag("svcfrstRegTs", item.registered.strftime("%Y%m%d")))
        body.append("<servList>" + "".join(fields) + "</servList>")
    head = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<wantedList><totalCount>{total}</totalCount>'
        f"<pageNo>{page}</pageNo><numOfRows>{PAGE_SIZE}</numOfRows>"
        "<resultCode>0</resultCode><resultMessage>SUCCESS</resultMessage>"
    )
    return head + "\n" + "\n".join(body) + "\n</wantedList>\n"


def _provincial_row(item: Item, day: date) -> dict[str, str]:
    t = _texts(item, day)
    return {
        "SVC_ID": item.id,
        "SVC_NM": item.name,
        "SIGUN_NM": item.district or "",
        "SVC_SUMRY": t["summary"],
        "TGT_DTL": t["target"],
        "SLCT_CRIT": t["criteria"],
        "SUPRT_CN": t["benefit"],
        "APLY_MTH": t["apply"],
        "INST_NM": f"경기도 {item.district}" if item.district else "경기도",
        "NOTICE_TYPE": item.notice_type,
        "REGIST_DE": item.registered.isoformat(),
    }


def _pages(items: list[Item]) -> list[list[Item]]:
    return [items[i : i + PAGE_SIZE] for i in range(0, len(items), PAGE_SIZE)]


def write_day(out: Path, seed: int, day: date, rate: float) -> tuple[int, int, list[Defect]]:
    """Write the day's XML, JSON and ranking files; returns (files, records, defects).

    Records are services and notices on readable pages plus ranking rows. A planted
    `malformed_xml` page is an extra page after the last, holding a cut-off copy of a real one.
    """
    national_all, provincial_all = catalogue(seed)
    national = [i for i in national_all if i.live(day)]
    provincial = [i for i in provincial_all if i.live(day)] + notices(seed, day)
    stamp = day.isoformat()
    files = records = 0
    defects: list[Defect] = []

    pages = [_national_xml(p, day, k, len(national)) for k, p in enumerate(_pages(national), 1)]
    for k, page in enumerate(pages, 1):
        write_bytes(out / f"policies/national/date={stamp}/page-{k:03d}.xml", page.encode())
    files, records = len(pages), len(national)
    rng = rng_for(seed, "policy-defects", day.toordinal())
    for extra in range(how_many(rng, len(pages), rate, forced=True)):
        source = pages[rng.integers(len(pages))].encode()
        rel = f"policies/national/date={stamp}/page-{len(pages) + extra + 1:03d}.xml"
        write_bytes(out / rel, source[: int(len(source) * rng.uniform(0.3, 0.9))])
        files += 1
        defects.append(Defect("malformed_xml", "policies", rel, None, None))

    json_pages = [
        {"GgWelfareSvc": [
            {"head": [{"list_total_count": len(provincial)},
                      {"RESULT": {"CODE": "INFO-000", "MESSAGE": "정상 처리되었습니다."}}]},
            {"row": [_provincial_row(i, day) for i in page]},
        ]}
        for page in _pages(provincial)
    ]  # fmt: skip
    json_pages.append({"RESULT": {"CODE": "INFO-200", "MESSAGE": "해당하는 데이터가 없습니다."}})
    for k, page in enumerate(json_pages, 1):
        text = json.dumps(page, ensure_ascii=False)
        write_bytes(out / f"policies/provincial/date={stamp}/page-{k:03d}.json", text.encode())
    files, records = files + len(json_pages), records + len(provincial)

    ranking = _ranking(seed, day, national + provincial)
    lines = ["ranking_date,rank,keyword,service_id,search_count"]
    lines += [csv_line([stamp, rank, kw, sid, count]) for rank, (kw, sid, count) in enumerate(ranking, 1)]
    write_bytes(out / f"policies/search_ranking/date={stamp}/ranking.csv", join_lines(lines))
    return files + 1, records + len(ranking), defects


def _ranking(seed: int, day: date, live: list[Item]) -> list[tuple[str, str, int]]:
    """Top 100 keywords: Zipf-like popularity (national services first), daily noise, fresh
    notices searched heavily in their first week."""
    keywords: dict[str, str] = {}
    for item in live:
        keywords.setdefault(item.keyword, item.id)
    for word in GENERIC_KEYWORDS:
        keywords.setdefault(word, "")
    posted = {item.keyword: item.registered for item in live}
    rank_of = _popularity(seed)
    words = sorted(keywords)
    noise = rng_for(seed, "policy-ranking", day.toordinal()).lognormal(0, 0.3, len(words))
    weekend = 0.6 if day.weekday() >= 5 else 1.0
    counts = []
    for word, z in zip(words, noise, strict=True):
        fresh = 8.0 if keywords[word].startswith("GGNTC") and (day - posted[word]).days < 7 else 1.0
        counts.append(int(40_000 / rank_of.get(word, len(rank_of)) ** 1.1 * z * weekend * fresh) + 1)
    top = sorted(zip(words, counts, strict=True), key=lambda wc: (-wc[1], wc[0]))[:100]
    return [(w, keywords[w], c) for w, c in top]


@cache
def _popularity(seed: int) -> dict[str, int]:
    """Stable popularity rank per keyword: nationwide services and generic searches lead."""
    national, provincial = catalogue(seed)
    rng = rng_for(seed, "policy-popularity")
    head = sorted({i.keyword for i in national if i.district is None} | set(GENERIC_KEYWORDS))
    tail = sorted({i.keyword for i in (*national, *provincial)} - set(head))
    ordered = [*rng.permutation(head).tolist(), *rng.permutation(tail).tolist()]
    return {word: rank for rank, word in enumerate(ordered, 1)}
