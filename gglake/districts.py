"""Gyeonggi-do's 31 cities and counties; figures are approximate public 2024 numbers, for realism only."""

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class District:
    code: str  # 5-digit administrative (시군구) code
    name_ko: str
    name_en: str
    kind: Literal["si", "gun"]
    population: int
    elderly_living_alone: int  # residents aged 65+ who live alone


DISTRICTS: tuple[District, ...] = (
    District("41110", "수원시", "Suwon", "si", 1_190_000, 32_780),
    District("41130", "성남시", "Seongnam", "si", 910_000, 30_940),
    District("41150", "의정부시", "Uijeongbu", "si", 462_000, 19_820),
    District("41170", "안양시", "Anyang", "si", 551_000, 18_730),
    District("41190", "부천시", "Bucheon", "si", 778_000, 28_590),
    District("41210", "광명시", "Gwangmyeong", "si", 279_000, 9_760),
    District("41220", "평택시", "Pyeongtaek", "si", 595_000, 18_120),
    District("41250", "동두천시", "Dongducheon", "si", 89_000, 5_670),
    District("41270", "안산시", "Ansan", "si", 628_000, 20_720),
    District("41280", "고양시", "Goyang", "si", 1_071_000, 35_610),
    District("41290", "과천시", "Gwacheon", "si", 80_000, 2_160),
    District("41310", "구리시", "Guri", "si", 186_000, 7_030),
    District("41360", "남양주시", "Namyangju", "si", 731_000, 25_580),
    District("41370", "오산시", "Osan", "si", 231_000, 5_780),
    District("41390", "시흥시", "Siheung", "si", 520_000, 13_650),
    District("41410", "군포시", "Gunpo", "si", 261_000, 9_140),
    District("41430", "의왕시", "Uiwang", "si", 156_000, 5_190),
    District("41450", "하남시", "Hanam", "si", 330_000, 8_460),
    District("41460", "용인시", "Yongin", "si", 1_078_000, 30_080),
    District("41480", "파주시", "Paju", "si", 513_000, 17_240),
    District("41500", "이천시", "Icheon", "si", 223_000, 8_590),
    District("41550", "안성시", "Anseong", "si", 190_000, 8_960),
    District("41570", "김포시", "Gimpo", "si", 489_000, 13_470),
    District("41590", "화성시", "Hwaseong", "si", 956_000, 21_030),
    District("41610", "광주시", "Gwangju", "si", 389_000, 12_060),
    District("41630", "양주시", "Yangju", "si", 249_000, 9_590),
    District("41650", "포천시", "Pocheon", "si", 145_000, 8_880),
    District("41670", "여주시", "Yeoju", "si", 112_000, 7_140),
    District("41800", "연천군", "Yeoncheon", "gun", 41_000, 3_200),
    District("41820", "가평군", "Gapyeong", "gun", 62_000, 4_920),
    District("41830", "양평군", "Yangpyeong", "gun", 123_000, 9_530),
)

DISTRICT_NAMES_KO: frozenset[str] = frozenset(d.name_ko for d in DISTRICTS)
