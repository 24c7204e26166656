"""Welfare policies: national open-API XML pages, provincial open-data JSON pages, search ranking.

Each item's life (registration, updates, end) is drawn once per seed, so the catalogue on any
date is a pure function of the date: ids stay stable, items get updated now and then, new ones
appear and notices expire.
"""

import json
import zlib
from dataclasses import dataclass
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
# Eligible ages as (min, max), None for no bound; benefit kinds as the text states them.
OLD, ANY = (65, None), (None, None)
NATIONAL = (  # (service name, ministry, life stage, target group, search keyword, ages, benefit kind, description)
    ("기초연금", "보건복지부", "노년", "저소득", "기초연금", OLD, "현금",
     "노후 소득 안정을 위해 소득 하위 어르신에게 매달 기초연금을 지급합니다."),
    ("노인맞춤돌봄서비스", "보건복지부", "노년", "독거노인", "노인돌봄", OLD, "서비스",
     "일상생활이 어려운 어르신에게 안부 확인, 생활 교육, 가사 지원 등 맞춤형 돌봄을 제공합니다."),
    ("응급안전안심서비스", "보건복지부", "노년", "독거노인", "응급안전", OLD, "서비스",
     "집 안에 화재·활동 감지 센서를 설치해 응급 상황이 생기면 119와 돌봄 기관에 자동으로 알립니다."),
    ("노인일자리 및 사회활동 지원사업", "보건복지부", "노년", "저소득", "노인일자리", (60, None), "현금",
     "공익활동과 사회서비스형 일자리에 참여하는 어르신에게 활동비를 지급합니다."),
    ("노인장기요양보험 재가급여", "보건복지부", "노년", "장애인", "장기요양", OLD, "서비스",
     "방문요양, 방문목욕, 주야간보호처럼 집에서 받는 장기요양 서비스를 제공합니다."),
    ("치매안심센터 치매조기검진", "보건복지부", "노년", "보훈대상자", "치매검사", (60, None), "의료",
     "치매 선별검사와 진단검사를 치매안심센터에서 무료로 받을 수 있습니다."),
    ("치매치료관리비 지원", "보건복지부", "노년", "저소득", "치매치료비", (60, None), "의료",
     "치매 치료제 약값과 진료비 본인부담금을 지원합니다."),
    ("노인 무릎인공관절 수술 지원", "보건복지부", "노년", "저소득", "무릎수술 지원", (60, None), "의료",
     "퇴행성 관절염으로 걷기 힘든 어르신의 무릎 인공관절 수술비를 지원합니다."),
    ("노인 안검진 및 개안수술 지원", "보건복지부", "노년", "저소득", "개안수술", (60, None), "의료",
     "백내장, 녹내장 같은 눈 질환 검진과 개안 수술비를 지원합니다."),
    ("긴급복지 생계지원", "보건복지부", "노년", "저소득", "긴급복지", ANY, "현금",
     "실직, 질병, 화재 같은 갑작스러운 위기로 생계가 어려운 가구에 생계비를 긴급 지원합니다."),
    ("기초생활보장 생계급여", "보건복지부", "노년", "저소득", "생계급여", ANY, "현금",
     "생활이 어려운 가구에 최저생활을 보장하는 생계급여를 매달 지급합니다."),
    ("의료급여", "보건복지부", "노년", "저소득", "의료급여", ANY, "의료",
     "저소득층의 병원 진료비와 약제비 본인부담을 덜어 줍니다."),
    ("주거급여", "국토교통부", "노년", "저소득", "주거급여", ANY, "현금",
     "임차 가구에는 월세를, 자가 가구에는 집수리 비용을 지원합니다."),
    ("에너지바우처", "산업통상자원부", "노년", "저소득", "에너지바우처", ANY, "바우처",
     "여름 냉방비와 겨울 난방비를 전기·가스 요금에 쓸 수 있는 바우처로 지원합니다."),
    ("통합문화이용권", "문화체육관광부", "노년", "저소득", "문화누리카드", (6, None), "바우처",
     "공연, 여행, 체육 활동에 쓸 수 있는 문화누리카드를 발급합니다."),
    ("노인 틀니 및 임플란트 건강보험 적용", "보건복지부", "노년", "해당없음", "임플란트 지원", OLD, "의료",
     "틀니와 치과 임플란트 시술비의 본인부담률을 낮춰 줍니다."),
    ("방문건강관리 서비스", "보건복지부", "노년", "독거노인", "방문건강관리", OLD, "서비스",
     "간호사가 집으로 찾아가 혈압과 혈당을 재고 만성질환 관리와 건강 상담을 합니다."),
    ("장애인연금", "보건복지부", "노년", "장애인", "장애인연금", (18, None), "현금",
     "중증장애인의 생활 안정을 위해 장애인연금을 매달 지급합니다."),
    ("장애인 활동지원 서비스", "보건복지부", "노년", "장애인", "활동지원", (6, 64), "서비스",
     "활동지원사가 신체 활동, 가사, 외출과 이동을 돕습니다."),
    ("발달장애인 주간활동서비스", "보건복지부", "청년", "장애인", "주간활동서비스", (18, 64), "서비스",
     "성인 발달장애인이 낮 시간에 지역사회에서 여가와 자립 활동을 하도록 지원합니다."),
    ("노인학대 예방 및 피해노인 보호", "보건복지부", "노년", "해당없음", "노인학대 신고", OLD, "서비스",
     "학대 피해 어르신에게 상담, 법률 지원과 쉼터 보호를 제공합니다."),
    ("고독사 예방 및 관리 사업", "보건복지부", "노년", "독거노인", "고독사 예방", (50, None), "서비스",
     "사회적 고립 위험이 큰 1인 가구에 정기 안부 확인과 사회관계망 형성을 지원합니다."),
    ("경로당 냉난방비 및 양곡비 지원", "보건복지부", "노년", "해당없음", "경로당 난방비", OLD, "현물",
     "경로당의 여름 냉방비, 겨울 난방비와 양곡을 지원합니다."),
    ("노인 보청기 보장구 급여", "보건복지부", "노년", "장애인", "보청기 지원", OLD, "의료",
     "청각장애 판정을 받은 어르신에게 보청기 구입비를 지원합니다."),
    ("희망저축계좌", "보건복지부", "중장년", "저소득", "희망저축계좌", (19, 64), "현금",
     "일하는 저소득 가구가 저축하면 정부 지원금을 더해 자산 형성을 돕습니다."),
    ("아동수당", "보건복지부", "아동", "해당없음", "아동수당", (0, 7), "현금",
     "아동의 건강한 성장을 위해 아동수당을 매달 지급합니다."),
    ("청년월세 특별지원", "국토교통부", "청년", "저소득", "청년월세", (19, 34), "현금",
     "부모와 떨어져 사는 무주택 청년에게 월세를 지원합니다."),
    ("장애아동 재활치료 바우처", "보건복지부", "아동", "장애인", "재활치료 바우처", (0, 17), "바우처",
     "언어, 미술, 음악 재활치료 비용을 바우처로 지원합니다."),
    ("한부모가족 아동양육비", "여성가족부", "아동", "한부모·조손", "아동양육비", ANY, "현금",
     "한부모가족의 자녀 양육을 위해 아동양육비를 매달 지급합니다."),
    ("중장년 1인가구 사회관계망 지원", "보건복지부", "중장년", "1인가구", "중장년 1인가구", (40, 64), "서비스",
     "혼자 사는 중장년의 고립을 막기 위해 모임 활동과 상담을 지원합니다."),
)  # fmt: skip
LOCAL = (  # local services offered by many districts: (name suffix, keyword suffix, target group, ages, kind, description)
    ("어르신 이미용비 지원", "이미용비", "저소득", (70, None), "바우처", "이발과 미용 비용을 이용권으로 지원합니다."),
    ("어르신 목욕비 지원", "목욕비", "저소득", (70, None), "바우처", "대중목욕탕 이용권을 드립니다."),
    ("장수수당", "장수수당", "해당없음", (90, None), "현금", "장수를 축하하며 매달 장수수당을 드립니다."),
    ("효도수당", "효도수당", "해당없음", (80, None), "현금", "어르신 공경의 뜻으로 효도수당을 지급합니다."),
    ("홀로어르신 안부확인 서비스", "안부확인", "독거노인", OLD, "서비스",
      "홀로 사는 어르신께 주 2회 전화와 방문으로 안부를 여쭙습니다."),
    ("어르신 반찬 배달", "반찬배달", "독거노인", OLD, "현물", "식사를 챙기기 어려운 어르신께 주 1회 밑반찬을 배달합니다."),
    ("AI 스피커 돌봄 서비스", "AI 스피커", "독거노인", OLD, "서비스", "AI 스피커로 말벗, 복약 알림, 긴급 호출을 제공합니다."),
    ("스마트 플러그 안심 서비스", "스마트플러그", "독거노인", OLD, "서비스",
      "전력 사용량이 멈추면 담당자에게 알려 고독사를 예방합니다."),
    ("병원 동행 서비스", "병원동행", "독거노인", OLD, "서비스", "혼자 병원 가기 어려운 어르신의 진료 동행을 돕습니다."),
    ("어르신 교통비 지원", "교통비", "해당없음", (70, None), "현금", "버스 요금을 교통카드로 환급해 드립니다."),
    ("어르신 안경 구입비 지원", "안경 지원", "저소득", OLD, "현금", "돋보기와 안경 구입비를 지원합니다."),
    ("경로당 건강 프로그램", "경로당 프로그램", "해당없음", (60, None), "서비스",
      "경로당에서 체조, 건강 강좌, 여가 프로그램을 운영합니다."),
)  # fmt: skip
PROVINCIAL_TARGETS = (  # (target, ages, national-style target group)
    ("어르신", OLD, "해당없음"), ("홀로 사는 어르신", OLD, "독거노인"), ("발달장애인", ANY, "장애인"),
    ("저소득 가구", ANY, "저소득"), ("치매 환자 가족", ANY, "해당없음"), ("장애인", ANY, "장애인"),
    ("한부모 가정", ANY, "한부모·조손"), ("보훈 대상 어르신", OLD, "보훈대상자"),
)  # fmt: skip
PROVINCIAL_BENEFITS = (  # (benefit, kind, description)
    ("돌봄 지원", "서비스", "돌봄 인력이 가정을 찾아가 일상생활을 돕습니다."),
    ("의료비 지원", "의료", "병원 진료비와 약값의 본인부담금을 지원합니다."),
    ("안부 확인", "서비스", "정기적으로 전화와 방문으로 안부를 확인합니다."),
    ("식사 지원", "현물", "도시락과 밑반찬을 배달하거나 무료 급식을 제공합니다."),
    ("일자리 지원", "현금", "맞춤형 일자리를 연계하고 참여 수당을 지급합니다."),
    ("주거환경 개선", "현물", "도배, 장판, 단열, 안전 손잡이 설치 등 집수리를 해 드립니다."),
    ("심리상담", "서비스", "전문 상담사가 우울과 불안에 대한 심리상담을 제공합니다."),
    ("이동 지원", "서비스", "병원과 관공서 이동에 차량과 동행을 지원합니다."),
    ("AI 케어 서비스", "서비스", "AI 안부 전화와 돌봄 센서로 건강과 안전을 살핍니다."),
    ("가사 지원", "서비스", "청소, 세탁, 장보기 같은 가사 활동을 도와드립니다."),
    ("여가 활동 지원", "바우처", "문화, 체육, 여가 활동 이용권을 드립니다."),
    ("응급 안전 지원", "서비스", "응급 호출기와 화재 감지기를 설치하고 24시간 응답합니다."),
)  # fmt: skip
NOTICES = (  # (type, title pattern, ages, description)
    ("공고", "{year}년 노인일자리 참여자 모집 공고", (60, None), "공익활동과 사회서비스형 일자리 참여자를 모집합니다."),
    ("공고", "{year}년 AI 돌봄 서비스 대상자 추가 모집", OLD,
      "AI 안부 전화와 돌봄 센서 서비스를 받을 어르신을 추가로 모집합니다."),
    ("공고", "{district} 어르신 건강검진 지원사업 공고", (70, None), "보건소 연계 무료 건강검진 대상자를 모집합니다."),
    ("공지", "{district} 무더위 쉼터 운영 안내", ANY, "폭염 기간 동안 경로당과 주민센터를 무더위 쉼터로 운영합니다."),
    ("공지", "기초연금 신청 방법 안내", OLD, "기초연금 신청 자격과 필요한 서류, 신청 장소를 안내합니다."),
    ("공지", "{district} 한파 대비 취약계층 안전 점검 안내", ANY, "한파에 대비해 취약계층 가구의 난방과 안전을 점검합니다."),
)  # fmt: skip
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
    ages: tuple[int | None, int | None] = ANY
    kind: str = "서비스"
    description: str = ""

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


def _national_id(name: str) -> str:
    """The portal's id of a service: fixed for its name, whatever the seed (question sets refer to it)."""
    return f"WLF{zlib.crc32(name.encode()) % 90_000_000 + 10_000_000:08d}"


@cache
def catalogue(seed: int) -> tuple[tuple[Item, ...], tuple[Item, ...]]:
    """(national items, provincial welfare services), each sorted by id."""
    rng = rng_for(seed, "policy-catalogue")
    national = [
        _item(
            rng,
            0.05,
            id=_national_id(name),
            name=name,
            keyword=keyword,
            ministry=ministry,
            life=life,
            target_group=group,
            district=None,
            amount=int(rng.integers(5, 400)) * 10,
            ages=ages,
            kind=kind,
            description=description,
        )
        for name, ministry, life, group, keyword, ages, kind, description in NATIONAL
    ]
    combos = [(d.name_ko, s) for d in DISTRICTS for s in LOCAL]
    for k in rng.choice(len(combos), 320, replace=False):
        district, (suffix, keyword, group, ages, kind, description) = combos[k]
        national.append(
            _item(
                rng,
                0.2,
                id=_national_id(f"{district} {suffix}"),
                name=f"{district} {suffix}",
                keyword=f"{district} {keyword}",
                ministry=f"경기도 {district}",
                life="노년",
                target_group=group,
                district=district,
                amount=int(rng.integers(1, 30)) * 10,
                ages=ages,
                kind=kind,
                description=description,
            )
        )
    assert len({item.id for item in national}) == len(national), "national service ids collide"
    national.sort(key=lambda x: x.id)
    pairs = [(t, b) for t in PROVINCIAL_TARGETS for b in PROVINCIAL_BENEFITS]
    provincial = []
    for k, ((target, ages, group), (benefit, kind, description)) in enumerate(pairs, 1):
        district = DISTRICTS[rng.integers(len(DISTRICTS))].name_ko
        provincial.append(
            _item(
                rng,
                0.15,
                id=f"GGSVC{k:05d}",
                name=f"경기도 {target} {benefit}",
                keyword=f"{target} {benefit}",
                ministry="경기도",
                life="노년",
                target_group=group,
                district=district if rng.random() < 0.5 else None,  # the others are province-wide
                amount=int(rng.integers(1, 50)) * 10,
                ages=ages,
                kind=kind,
                description=f"{target}을 위한 사업입니다. {description}",
            )
        )
    return tuple(national), tuple(provincial)


def notices(seed: int, day: date) -> list[Item]:
    """Notices and announcements live on `day`: ~0.8 posted a day, each up for 30-90 days."""
    live = []
    for back in range(90, -1, -1):
        posted = day - timedelta(days=back)
        rng = rng_for(seed, "policy-notices", posted.toordinal())
        for k in range(int(rng.poisson(0.8))):
            kind, pattern, ages, description = NOTICES[rng.integers(len(NOTICES))]
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
                        ends=posted + timedelta(days=lifetime),
                        amount=0,
                        notice_type=kind,
                        ages=ages,
                        kind="공고",
                        description=description,
                    )
                )
    return live


DEPARTMENTS = {  # the department in charge, by target group
    "독거노인": "노인복지과", "저소득": "기초생활보장과", "장애인": "장애인복지과", "보훈대상자": "보훈정책과",
    "한부모·조손": "가족정책과", "1인가구": "복지정책과", "해당없음": "노인복지과",
}  # fmt: skip
LOW_INCOME_RULES = ("기초생활수급자 및 차상위계층", "기준 중위소득 50% 이하", "소득인정액 기준 하위 70%")
OTHER_INCOME_RULES = ("소득 기준 없음", "기준 중위소득 150% 이하", "소득 기준 없음")


def _age_text(ages: tuple[int | None, int | None]) -> str:
    low, high = ages
    if low is None and high is None:
        return "연령 제한 없음"
    if low in (None, 0):
        return f"만 {high + 1}세 미만"
    if high is None:
        return f"만 {low}세 이상"
    return f"만 {low}세 이상 {high}세 이하"


def _texts(item: Item, day: date) -> dict[str, str]:
    """Descriptive fields as the APIs word them; the benefit amount is revised with each update."""
    amount = item.amount * (100 + 3 * item.version(day)) // 100
    where = f"{item.district} 거주" if item.district else ("경기도 거주" if item.ministry.startswith("경기도") else "전국")
    group = "" if item.target_group == "해당없음" else f" {item.target_group}"
    rules = LOW_INCOME_RULES if item.target_group == "저소득" else OTHER_INCOME_RULES
    income = rules[zlib.crc32(item.name.encode()) % len(rules)]
    if item.ends is not None and item.notice_type != "복지서비스":
        period = f"신청기간: {item.registered:%Y.%m.%d} ~ {item.ends - timedelta(days=1):%Y.%m.%d}"
    elif item.ends is not None:
        period = f"신청기간: {item.registered:%Y.%m.%d} ~ {item.ends - timedelta(days=1):%Y.%m.%d} (기간 내 신청)"
    else:
        period = "신청기간: 연중 상시"
    department = f"{item.ministry} {DEPARTMENTS.get(item.target_group, '복지정책과')}"
    if amount:
        benefit = {"현금": f"현금 지급: 월 최대 {amount:,}천원", "바우처": f"바우처 지급: 연 {amount * 6:,}천원 한도",
                   "의료": f"의료비 지원: 1인당 최대 {amount:,}천원", "현물": f"현물 지원: 월 {amount:,}천원 상당",
                   }.get(item.kind, f"서비스 제공: 월 {amount:,}천원 상당 (본인부담 없음)")  # fmt: skip
    else:
        benefit = "상세 내용은 공고문 참조"
    return {
        "summary": f"{item.description} ({where}{group} 대상)",
        "target": f"{where} {_age_text(item.ages)}{group} (신청일 현재 주민등록상 거주자)",
        "criteria": f"{income} (세부 기준은 지자체 확인)",
        "benefit": benefit,
        "apply": f"주소지 읍면동 행정복지센터 방문 또는 복지로 온라인 신청. {period}. 문의: {department}",
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
