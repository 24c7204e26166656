"""Planted PII in free text (call transcripts, visit notes), and look-alikes that are not PII.

Real transcripts and notes carry names, phone numbers, resident registration numbers, e-mail and
street addresses; the lakehouse must redact them before silver. Some answered calls and some visits
get one or two sentences that carry PII, drawn from the resident's own registry record (name, given
name, phone, address, birth date for the registration number) or made up (family, neighbours,
workers, other addresses). Others get a look-alike sentence with no PII (bus numbers, blood
pressure, dates, place names, words that start like a surname), so that precision can be measured.

Every planted value is logged in `_generator/pii/<source>/date=YYYY-MM-DD.jsonl`, one line each:
`{"source", "file", "line", "key", "field", "type", "value", "start", "resident_id"}` (`value` is the
exact substring of the field, `start` its offset). Ingest never reads `_generator/`.
Every string here is encodable in CP949 (vendor `dasom` exports are CP949).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gglake.districts import DISTRICTS
from sources.defects import GENERATOR_DIR, write_log
from sources.lexicon import GIVEN_F, GIVEN_M, STREETS, SURNAMES

if TYPE_CHECKING:
    from sources.world import World

TYPES = ("name", "phone", "rrn", "email", "address")
CALL_PII_P, CALL_DECOY_P = 0.25, 0.35  # per answered call
NOTE_PII_P, NOTE_DECOY_P = 0.35, 0.35  # per visit
SECOND_P = 0.2  # a second PII sentence in the same text

# The residents' children, grandchildren, neighbours' carers and workers: a younger generation
YOUNG = (
    "성민", "지영", "은정", "민호", "현주", "정훈", "미경", "수진", "영미", "상우", "경희", "진호", "혜진", "동현",
    "지훈", "은영", "준호", "선영", "소영", "태호", "윤정", "승철", "민정", "현우", "은주", "도윤", "서연", "민준",
    "하은", "지우", "예린", "수빈", "재현", "유진", "세영", "경민", "보람", "한솔", "다은", "주원",
)  # fmt: skip
ROMAN_SURNAME = {
    "김": "kim", "이": "lee", "박": "park", "최": "choi", "정": "jung", "강": "kang", "조": "cho", "윤": "yoon",
    "장": "jang", "임": "lim", "한": "han", "오": "oh", "서": "seo", "신": "shin", "권": "kwon", "황": "hwang",
    "안": "ahn", "송": "song", "류": "ryu", "전": "jeon", "홍": "hong", "고": "ko", "문": "moon", "양": "yang",
    "손": "son", "배": "bae", "백": "baek", "허": "heo", "노": "noh", "남": "nam",
}  # fmt: skip
ROMAN_GIVEN = (
    "sungmin", "jiyoung", "eunjung", "minho", "hyunju", "junghoon", "mikyung", "sujin", "youngmi", "sangwoo",
    "kyunghee", "jinho", "hyejin", "donghyun", "jihoon", "eunyoung", "junho", "sunyoung", "soyoung", "taeho",
)  # fmt: skip
MAIL_DOMAINS = ("naver.com", "daum.net", "hanmail.net", "gmail.com", "kakao.com", "nate.com")
DONGS = (
    "매탄동", "영통동", "인계동", "정자동", "금곡동", "서현동", "행신동", "백석동", "중동", "상동", "소사동",
    "철산동", "하안동", "비전동", "고잔동", "별양동", "인창동", "호평동", "정왕동", "산본동", "내손동", "신장동",
    "풍덕천동", "금촌동", "창전동", "사우동", "병점동", "경안동", "덕정동", "신읍동", "홍문동",
)  # fmt: skip
VILLAGES = ("청평면 대성리", "양서면 양수리", "전곡읍 은대리", "가평읍 읍내리", "양평읍 오빈리")
BRANDS = ("래미안", "자이", "푸르지오", "힐스테이트", "주공", "현대", "삼성", "한신", "우성", "벽산")
BUILDINGS = ("아파트", "아파트", "아파트", "빌라", "맨션")
AREA_CODES = ("031", "031", "031", "02", "032")

CALL_PII = (
    "[AI] {own} 어르신 맞으시죠? [어르신] 네, 맞아요.",
    "[어르신] 네, 저 {own|이에요/예요}.",
    "[AI] {own_given} 님, 요즘 어떠세요? [어르신] 그냥 그래요.",
    "[어르신] 아들 {kin|이가/가} 주말에 다녀갔어요.",
    "[어르신] 딸 {kin}한테 연락 좀 해 주세요.",
    "[어르신] 요양보호사 {worker} 선생님이 어제 다녀가셨어요.",
    "[어르신] 옆집 {elder} 할머니가 반찬을 갖다 줬어요.",
    "[어르신] 며느리 {kin} 씨가 병원에 같이 가 줬어요.",
    "[어르신] 손녀 {kin_given|이가/가} 놀러 왔어요.",
    "[어르신] 우리 딸 번호는 {phone|이에요/예요}. 급하면 그리로 연락 주세요.",
    "[AI] 연락처가 {own_phone} 맞으세요? [어르신] 네, 맞아요.",
    "[어르신] 집 전화는 {landline|이에요/예요}.",
    "[어르신] 주민번호요? {rrn|이에요/예요}.",
    "[어르신] 손자가 {email|으로/로} 사진 보내 준대요.",
    "[어르신] 우리 집 주소는 {own_address|이에요/예요}.",
    "[어르신] 아들네는 {road_address}에 살아요.",
    "[어르신] 예전에는 {lot_address}에 살았어요.",
    "[어르신] 딸은 {apartment}에 살아요.",
)
NOTE_PII = (
    "{own} 어르신 본인 확인",
    "보호자(아들 {kin}, {phone})에게 상황 공유",
    "딸 {kin} 씨와 통화함",
    "주소지({own_address}) 확인",
    "요양보호사 {worker} 선생님 동행",
    "긴급연락처 {phone} (며느리)",
    "주민등록번호 {rrn} 확인 후 서비스 신청서 작성",
    "보호자 이메일 {email|으로/로} 결과 안내",
    "옆집 {elder} 할머니 진술 청취",
    "{own_given} 씨 본인 확인",
    "자녀 거주지 {road_address} 확인",
    "이전 주소 {lot_address}",
    "딸 거주지 {apartment}",
    "사회복지사 {worker} 님과 사례 회의 예정",
    "집 전화 {landline} 연결 확인",
)
# No PII, but numbers, dates, places and surname-initial words a careless redactor would take
CALL_DECOYS = (
    "[어르신] 3번 버스 타고 시장 다녀왔어요.",
    "[어르신] 아침에 혈압 재 보니 140/90 나왔어요.",
    "[어르신] 10월 5일에 보건소 예약했어요.",
    "[어르신] 경로당에서 오후 2시 30분까지 있다 왔어요.",
    "[어르신] 수원에 사는 동생이 다음 주에 온대요.",
    "[어르신] 이웃 할머니랑 공원을 30분 걸었어요.",
    "[어르신] 경수대로 쪽으로 산책 다녀왔어요.",
    "[어르신] 101번 버스가 자주 안 와요.",
    "[어르신] 약은 하루에 2번, 한 번에 3알씩 먹어요.",
    "[어르신] 체온 재 보니 36.5도예요.",
    "[어르신] 이마트에서 장 보고 왔어요.",
    "[어르신] 김장 김치 담갔어요.",
    "[어르신] 정말 고마워요, 선생님.",
    "[어르신] 복지관 2층에서 노래 교실 해요.",
    "[어르신] 운동 30분 하고 왔어요.",
    "[어르신] 한국전력에서 검침 나왔어요.",
    "[어르신] 3호선 타고 시내 나갔다 왔어요.",
    "[어르신] 걸음 수가 3,000보 넘었어요.",
    "[어르신] 남대문 시장 구경 갔다 왔어요.",
    "[어르신] 옆집 할아버지가 고구마를 갖다 줬어요.",
    "[어르신] 복지사 선생님이 다음 주에 오신대요.",
    "[AI] 센터 대표번호 1661-2129로 언제든 연락 주세요.",
    "[어르신] 2026년 달력 받았어요.",
    "[어르신] 신세계 백화점 앞에서 친구 만났어요.",
    "[어르신] 동생 집이 수원시 팔달구예요.",
    "[어르신] 딸 가족이랑 여행 다녀왔어요.",
    "[어르신] 아들 회사가 판교에 있어요.",
    "[어르신] 이웃 주민이 인사하러 왔어요.",
    "[어르신] 강원도에 사는 친구가 전화했어요.",
    "[어르신] 정조로 쪽 시장에서 옷을 샀어요.",
)
NOTE_DECOYS = (
    "혈압 140/90, 맥박 78회",
    "10월 5일 재방문 예정",
    "경로당 프로그램 안내",
    "3번 버스 정류장 앞에서 만남",
    "수원 소재 병원 진료 예정",
    "체온 36.8도",
    "2층 계단 난간 설치 필요",
    "보건소 방문간호 주 2회 연계",
    "이웃 할머니가 자주 들르심",
    "복지사 선생님 동행",
    "주민센터 긴급지원 신청 안내",
    "102번 버스 이용 안내",
    "센터 대표번호 1661-2129 안내",
    "약 30분 상담",
    "정말 고마워하심",
    "딸 가족이 주말마다 방문",
)


@dataclass(frozen=True)
class Person:
    """What the registry knows about the resident a text is about."""

    resident_id: str
    name: str
    phone: str
    address: str
    birth_date: str  # YYYY-MM-DD
    female: bool
    district: str  # e.g. 수원시


def person_of(world: World, day: date, r: int) -> Person:
    """Resident `r` as the registry shows them on `day`."""
    c, registry = world.cohort, world.day(day).registry
    district = DISTRICTS[registry.district[r]].name_ko
    return Person(c.ids[r], c.names[r], registry.phone[r], registry.address[r], c.birth_dates[r], bool(c.female[r]), district)


@dataclass(frozen=True)
class Planted:
    type: str
    value: str
    start: int  # offset in the field


def _final(text: str) -> str:
    """The final consonant of how `text` is read: '' (a vowel), 'ㄹ', or 'c' (another consonant)."""
    ch = text[-1]
    if "가" <= ch <= "힣":
        jong = (ord(ch) - 0xAC00) % 28
        return "" if jong == 0 else "ㄹ" if jong == 8 else "c"
    if ch.isdigit():
        return {"1": "ㄹ", "7": "ㄹ", "8": "ㄹ", "0": "c", "3": "c", "6": "c"}.get(ch, "")
    return "" if ch.lower() in "aeiouy" else "c"


def _josa(text: str, pair: str) -> str:
    after_consonant, after_vowel = pair.split("/")
    final = _final(text)
    if after_consonant == "으로":
        return after_vowel if final in ("", "ㄹ") else after_consonant
    return after_vowel if final == "" else after_consonant


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, n))


def format_mobile(rng: np.random.Generator, number: str) -> str:
    """010-1234-5678 in one of the ways people write it."""
    a, b, c = number.split("-")
    style = int(rng.integers(7))
    return (
        f"{a}-{b}-{c}",
        f"{a} {b} {c}",
        f"{a}{b}{c}",
        f"{a}.{b}.{c}",
        f"+82 {a[1:]}-{b}-{c}",
        f"+82-{a[1:]}-{b}-{c}",
        f"+82{a[1:]}{b}{c}",
    )[style]


def _landline(rng: np.random.Generator) -> str:
    area = AREA_CODES[rng.integers(len(AREA_CODES))]
    mid = f"{rng.integers(200, 1000)}" if area == "02" or rng.random() < 0.6 else f"{rng.integers(2000, 10000)}"
    last = _digits(rng, 4)
    style = int(rng.integers(5))
    return (f"{area}-{mid}-{last}", f"{area} {mid} {last}", f"({area}) {mid}-{last}", f"{area}{mid}{last}",
            f"+82 {area[1:]}-{mid}-{last}")[style]  # fmt: skip


def _rrn(rng: np.random.Generator, person: Person) -> str:
    y, m, d = person.birth_date.split("-")
    sex = ("2" if person.female else "1") if y < "2000" else ("4" if person.female else "3")
    front, back = f"{y[2:]}{m}{d}", sex + _digits(rng, 6)
    return f"{front}-{back}" if rng.random() < 0.6 else f"{front}{back}"


def _surname(rng: np.random.Generator) -> str:
    shares = np.array([p for _, p in SURNAMES])
    return SURNAMES[rng.choice(len(SURNAMES), p=shares / shares.sum())][0]


def _road_address(rng: np.random.Generator) -> str:
    district = list(STREETS)[rng.integers(len(STREETS))]
    wards, roads = STREETS[district]
    road = roads[rng.integers(len(roads))]
    style = int(rng.integers(4))
    if style == 0:  # the full form
        ward = f" {wards[rng.integers(len(wards))]}" if wards else ""
        return f"{district}{ward} {road} {rng.integers(1, 400)}"
    if style == 1:
        return f"{road} {rng.integers(1, 120)}번길 {rng.integers(1, 40)}"
    if style == 2:
        return f"{district} {road}{rng.integers(1, 120)}번길 {rng.integers(1, 40)}"
    return f"{road} {rng.integers(1, 400)}"


def _lot_address(rng: np.random.Generator) -> str:
    if rng.random() < 0.2:
        return f"{VILLAGES[rng.integers(len(VILLAGES))]} {rng.integers(1, 900)}"
    dong = DONGS[rng.integers(len(DONGS))]
    if rng.random() < 0.3:
        return f"{dong} {rng.integers(1, 1000)}번지"
    return f"{dong} {rng.integers(1, 1000)}-{rng.integers(1, 30)}"


def _apartment(rng: np.random.Generator) -> str:
    unit = f"{rng.integers(101, 120)}동 {rng.integers(1, 25)}{rng.integers(1, 5):02d}호"
    if rng.random() < 0.25:
        return unit
    brand, building = BRANDS[rng.integers(len(BRANDS))], BUILDINGS[rng.integers(len(BUILDINGS))]
    return f"{brand}{building} {unit}"


def _email(rng: np.random.Generator) -> str:
    given = ROMAN_GIVEN[rng.integers(len(ROMAN_GIVEN))]
    surname = list(ROMAN_SURNAME.values())[rng.integers(len(ROMAN_SURNAME))]
    style = int(rng.integers(4))
    number = rng.integers(1, 999)
    forms = (f"{given}.{surname}", f"{surname}{given}{number % 50 + 50}", f"{surname}_{given[:2]}", f"{given}{number}")
    return f"{forms[style]}@{MAIL_DOMAINS[rng.integers(len(MAIL_DOMAINS))]}"


def _slot(rng: np.random.Generator, person: Person, slot: str) -> tuple[str, str]:
    """(PII type, value) for one template slot."""
    fill: dict[str, Callable[[], tuple[str, str]]] = {
        "own": lambda: ("name", person.name),
        "own_given": lambda: ("name", person.name[1:]),
        "kin": lambda: ("name", _surname(rng) + YOUNG[rng.integers(len(YOUNG))]),
        "kin_given": lambda: ("name", YOUNG[rng.integers(len(YOUNG))]),
        "worker": lambda: ("name", _surname(rng) + YOUNG[rng.integers(len(YOUNG))]),
        "elder": lambda: ("name", _surname(rng) + (GIVEN_F + GIVEN_M)[rng.integers(len(GIVEN_F) + len(GIVEN_M))]),
        "phone": lambda: ("phone", format_mobile(rng, f"010-{rng.integers(2000, 10000)}-{_digits(rng, 4)}")),
        "own_phone": lambda: ("phone", format_mobile(rng, person.phone)),
        "landline": lambda: ("phone", _landline(rng)),
        "rrn": lambda: ("rrn", _rrn(rng, person)),
        "email": lambda: ("email", _email(rng)),
        "own_address": lambda: ("address", person.address),
        "road_address": lambda: ("address", _road_address(rng)),
        "lot_address": lambda: ("address", _lot_address(rng)),
        "apartment": lambda: ("address", _apartment(rng)),
    }
    return fill[slot]()


def fill(rng: np.random.Generator, template: str, person: Person) -> tuple[str, list[Planted]]:
    """A template with its `{slot}` / `{slot|이에요/예요}` parts filled; offsets are within the sentence."""
    out, planted, at = "", [], 0
    while (open_ := template.find("{", at)) >= 0:
        close = template.index("}", open_)
        out += template[at:open_]
        slot, _, pair = template[open_ + 1 : close].partition("|")
        kind, value = _slot(rng, person, slot)
        planted.append(Planted(kind, value, len(out)))
        out += value + (_josa(value, pair) if pair else "")
        at = close + 1
    return out + template[at:], planted


def extras(rng: np.random.Generator, person: Person, source: str) -> list[tuple[str, list[Planted]]]:
    """The sentences to add to one call transcript or visit note (`source`: calls or visits), maybe
    none: PII sentences and look-alikes, in text order."""
    calls = source == "calls"
    pii_templates, decoys = (CALL_PII, CALL_DECOYS) if calls else (NOTE_PII, NOTE_DECOYS)
    pii_p, decoy_p = (CALL_PII_P, CALL_DECOY_P) if calls else (NOTE_PII_P, NOTE_DECOY_P)
    added: list[tuple[str, list[Planted]]] = []
    if rng.random() < decoy_p:
        added.append((decoys[rng.integers(len(decoys))], []))
    if rng.random() < pii_p:
        for _ in range(2 if rng.random() < SECOND_P else 1):
            added.append(fill(rng, pii_templates[rng.integers(len(pii_templates))], person))
    if len(added) > 1 and rng.random() < 0.5:
        added.reverse()
    return added


def join(parts: list[str], added: list[tuple[str, list[Planted]]], at: int, sep: str = " ") -> tuple[str, list[Planted]]:
    """`parts` joined by `sep` with the added sentences inserted before index `at`; planted offsets in the whole text."""
    pieces: list[tuple[str, list[Planted]]] = [(p, []) for p in parts[:at]] + added + [(p, []) for p in parts[at:]]
    text, planted = "", []
    for i, (piece, marks) in enumerate(pieces):
        if i:
            text += sep
        planted += [Planted(m.type, m.value, len(text) + m.start) for m in marks]
        text += piece
    return text, planted


def record(source: str, file: str, line: int, key: str, field: str, resident_id: str, p: Planted) -> str:
    return json.dumps(
        {
            "source": source,
            "file": file,
            "line": line,
            "key": key,
            "field": field,
            "type": p.type,
            "value": p.value,
            "start": p.start,
            "resident_id": resident_id,
        },
        ensure_ascii=False,
    )


def final_lines(n_rows: int, insert_positions: list[int], first_line: int) -> list[int]:
    """Physical line of each original row once planted defect lines went in before positions `insert_positions`."""
    ats = sorted(insert_positions)
    lines, k = [], 0
    for i in range(n_rows):
        while k < len(ats) and ats[k] <= i:
            k += 1
        lines.append(first_line + i + k)
    return lines


def write(out: Path, source: str, day: str, records: list[str]) -> None:
    write_log(out / GENERATOR_DIR / "pii" / source / f"date={day}.jsonl", records)


def load(root: Path) -> list[dict]:
    """Every planted PII value of a landing folder, calls then visits, by day."""
    return [
        json.loads(line)
        for source in ("calls", "visits")
        for path in sorted((root / GENERATOR_DIR / "pii" / source).glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
