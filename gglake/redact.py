"""Redaction of PII in Korean free text (call transcripts, visit notes) before it reaches silver.

Detected spans are replaced by typed placeholders:

    name     <이름>           the registry's names (exact), and Korean names found by cue + morphology
    phone    <전화번호>       mobile / landline / 070 / 050x, with or without separators, +82
    rrn      <주민등록번호>   YYMMDD-NNNNNNN (hyphen or space optional, back half may be masked)
    email    <이메일>
    address  <주소>           road-name and lot-number addresses, apartment building/unit numbers

Patterns run on the text as is. Names come from two places:

1. known names (the restricted registry's `name`, given once per batch, plus the row's own resident
   with their given name, passed per text): exact matches at a word start;
2. everyone else (family, neighbours, workers): a word whose first syllable is a common surname and
   whose next 1-3 syllables are followed only by a particle, next to a cue word (an honorific or
   title after it: 씨, 님, 할머니, 선생님, …; a kinship or role word before it: 아들, 딸, 옆집,
   요양보호사, …). Kiwi then judges the word in its context: no candidate may be one dictionary
   word that is not a proper noun (이웃, 김장, 정말, 이재민 …); a two-syllable one must be a proper
   noun (NNP); a three-syllable one with only a kinship word before it must show a proper noun, an
   unknown word or the surname as a morpheme of its own, and must not end in a particle (딸 가족이랑).
   A given name alone must be an NNP, followed by an honorific (영자 씨) or after a kinship word
   (손녀 지우가). Kiwi only sees these few short windows, never whole texts (~8 ms a transcript),
   and is loaded lazily the first time a window needs it.

Everything here is pure: no I/O, no engine.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import pyarrow as pa

from gglake.districts import DISTRICT_NAMES_KO

Kind = Literal["rrn", "email", "phone", "address", "name"]
KINDS: tuple[Kind, ...] = ("rrn", "email", "phone", "address", "name")  # priority order when spans overlap
PLACEHOLDERS: dict[Kind, str] = {
    "name": "<이름>",
    "phone": "<전화번호>",
    "rrn": "<주민등록번호>",
    "email": "<이메일>",
    "address": "<주소>",
}

# -- patterns ------------------------------------------------------------------------------------

_NUM_L = r"(?<![0-9A-Za-z+])"  # a number starts here (not inside another number or word)
RRN = re.compile(_NUM_L + r"\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\s?[-–]?\s?[1-8](?:\d{6}|\d?\*{5,6})(?![0-9])")
EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE = re.compile(
    _NUM_L
    + r"(?:\+\s?82[-.\s]?(?:\(0\)\s?)?|\(0|0)"  # +82 (0 dropped), or a leading 0, maybe in brackets
    + r"(?:1[016789]|2|3[1-3]|4[1-4]|5[1-5]|6[1-4]|70|50[2-8])"  # mobile, area codes, 070, 050x
    + r"\)?(?:\s?[-.]\s?|\s)?\d{3,4}(?:\s?[-.]\s?|\s)?\d{4}(?![0-9])"  # separated by -, ., spaces or nothing
)

_H = "가-힣"
_PROVINCES = (
    "경기도|경기|서울특별시|서울시|서울|인천광역시|인천시|인천|강원특별자치도|강원도|충청북도|충청남도|충북|충남"
    "|대전광역시|대전시|세종특별자치시|세종시|전북특별자치도|전라북도|전라남도|전북|전남|광주광역시|대구광역시"
    "|대구시|경상북도|경상남도|경북|경남|부산광역시|부산시|울산광역시|울산시|제주특별자치도|제주도"
)
# Words that end like an administrative unit (…시/군/구/읍/면) but are not one
_NOT_ADMIN = "친구|입구|출구|가구|연구|요구|도구|당시|역시|혹시|동시|다시|무시|평시|임시|수시|즉시|정시|장면|방면|측면|표면"
_ADMIN = rf"(?:{_PROVINCES}|(?!(?:{_NOT_ADMIN})\s)[{_H}]{{1,6}}(?:시|군|구|읍|면))"
# Words ending in 로/길 that are not road names (particle 으로, common nouns)
_NOT_ROAD = (
    "도로|경로|진로|항로|통로|대로|그대로|마음대로|멋대로|제대로|이대로|저대로|따로|새로|서로|절로|별로"
    "|길|오솔길|골목길|산책길|가는길|오는길"
)
_ROAD = (
    rf"(?<![{_H}])(?!(?:{_NOT_ROAD})[\s\d])(?![{_H}]*으로[\s\d])[{_H}][{_H}0-9]{{0,11}}(?:로|길)"
    r"(?:\s?\d{1,4}번?(?:길|가길))?\s?\d{1,5}(?:-\d{1,5})?"
)
# Words ending in 동/리 that are not neighbourhoods or villages
_NOT_LOT = (
    "운동|활동|행동|이동|자동|공동|노동|감동|출동|작동|충동|변동|가동|연동|진동|난동|발동|파동|유동|거동|준동|소동|폭동"
    "|거리|소리|우리|자리|머리|다리|요리|유리|관리|처리|정리|무리|수리|의리|원리|논리|심리|이리|저리|그리|너무리"
)
_LOT = rf"(?<![{_H}])(?!(?:{_NOT_LOT})[\s\d])[{_H}○◯]{{1,6}}(?:동|리)\s?\d{{1,4}}(?:-\d{{1,4}})?(?:번지)?"
_BUILDING = r"(?:아파트|빌라|맨션|오피스텔|타운|하이츠|빌리지|주공|캐슬|자이|푸르지오|래미안|아이파크|힐스테이트|e편한세상)"
_UNIT = rf"(?:[{_H}A-Za-z0-9]{{0,12}}{_BUILDING}\s?)?\d{{1,4}}동\s?\d{{1,5}}호|[{_H}A-Za-z0-9]{{0,12}}{_BUILDING}\s?\d{{1,5}}호"
# A number followed by one of these is a quantity, not a building or lot number
_QUANTITY = (
    r"(?!\s?(?:분|시|번(?!지)|회|개|일|월|년|살|세|층|원|명|보|도|알|잔|병|킬로|km|kg|호선|차|등|점|장|권|초|주|달|배"
    r"|퍼센트|%|cm|mm|평|미터|m\b)|[/.:,]\d|\d)"
)
ADDRESS = re.compile(
    rf"(?:{_ADMIN}\s?)*(?:{_ROAD}|{_LOT}){_QUANTITY}(?:,?\s?(?:{_UNIT}))?"  # road or lot, maybe a unit
    rf"|(?:{_ADMIN}\s?)*(?<![0-9{_H}A-Za-z])(?:{_UNIT})"  # an apartment unit alone
)
_DIGIT_OR_AT = re.compile("[0-9@]")
PATTERNS: tuple[tuple[Kind, re.Pattern[str]], ...] = (("rrn", RRN), ("email", EMAIL), ("phone", PHONE), ("address", ADDRESS))

# -- names -----------------------------------------------------------------------------------------

SURNAMES = frozenset(
    "김이박최정강조윤장임한오서신권황안송전홍유류고문양손배백허남심노하곽성차주우구민진지엄채원천방공현함변염"
    "여추도소석선설마길연위표명기반왕금옥육인맹제모탁국어은편용예경봉사부복태목형피두감호라"
)
COMPOUND_SURNAMES = frozenset({"남궁", "황보", "제갈", "선우", "독고", "사공", "서문", "동방"})
# Honorifics and titles that follow a name (in the same word or the next one)
FOLLOWING_CUES = (
    "할머니", "할아버지", "할매", "할배", "어르신", "선생님", "선생", "복지사", "보호사", "간호사", "여사", "아저씨",
    "아주머니", "아줌마", "주무관", "팀장", "과장", "원장", "센터장", "담당자", "기사님", "통장님", "이장님", "씨", "님",
)  # fmt: skip
STRICT_FOLLOWING = ("씨", "님", "할머니", "할아버지", "어르신", "선생님", "여사")  # enough for a given name alone
# Kinship and role words that come right before a name
PRECEDING_CUES = frozenset(
    {
        "아들", "딸", "큰딸", "작은딸", "큰아들", "작은아들", "막내", "막내딸", "막내아들", "며느리", "사위", "손자",
        "손녀", "조카", "남편", "아내", "부인", "동생", "남동생", "여동생", "형", "오빠", "언니", "누나", "형님",
        "보호자", "요양보호사", "보호사", "사회복지사", "복지사", "간호사", "방문간호사", "생활지원사", "옆집", "이웃",
        "친구", "담당", "담당자", "주무관", "통장", "이장", "반장", "가족", "손주", "외손자", "외손녀", "친척",
    }
)  # fmt: skip
# What may follow a name inside its word (no cue): particles and the copula
PARTICLES = frozenset(
    {
        "", "이", "가", "은", "는", "을", "를", "도", "만", "의", "와", "과", "랑", "이랑", "하고", "에게", "한테", "께",
        "께서", "에게서", "한테서", "처럼", "보다", "부터", "까지", "이가", "이는", "이를", "이도", "이만", "이의",
        "이하고", "이한테", "이에게", "이에요", "예요", "이야", "야", "아", "이고", "이며", "이다", "입니다", "이었어요",
        "였어요", "이네", "이라고", "라고", "이라는", "라는", "인데", "이신데", "이세요", "세요", "이십니다", "이께서",
    }
)  # fmt: skip
# Proper nouns that take honorifics but are places (수원 할머니, 판교 선생님)
PLACE_WORDS = frozenset(
    {
        "수원", "성남", "의정부", "안양", "부천", "광명", "평택", "동두천", "안산", "고양", "과천", "구리", "남양주",
        "오산", "시흥", "군포", "의왕", "하남", "용인", "파주", "이천", "안성", "김포", "화성", "광주", "양주", "포천",
        "여주", "연천", "가평", "양평", "서울", "부산", "대구", "인천", "대전", "울산", "세종", "제주", "강원", "경기",
        "충청", "전라", "경상", "광교", "판교", "분당", "일산", "동탄", "평촌", "산본", "영통", "매탄", "인계", "한국",
        "미국", "중국", "일본", "교회", "성당", "절", "서울시", "경기도", "장안구", "권선구", "팔달구", "영통구", "수정구",
        "중원구", "분당구", "만안구", "동안구", "원미구", "소사구", "오정구", "상록구", "단원구", "덕양구", "처인구",
        "기흥구", "수지구",
    }
    | DISTRICT_NAMES_KO  # 수원시, 연천군 …
)  # fmt: skip
# Surname-initial common words Kiwi may not know as one dictionary word
NOT_NAMES = frozenset(
    {"한동네", "옆동네", "이웃집", "고향집", "조카딸", "안사람", "전남편", "노부부", "남자친구", "여자친구", "장모님", "시어머니"}
)
_HANGUL = re.compile(f"[{_H}]+")
_JAMO = re.compile("^[\u1100-\u11ff\u3130-\u318f]+$")  # Kiwi splits 순 into 수 + ᆫ: not a real particle
_GRAMMATICAL = ("J", "E", "VCP", "VX", "XSV", "XSA")
_WORD = re.compile(r"\S+")


def _is_hangul(ch: str) -> bool:
    return "가" <= ch <= "힣"


_CUE_AT_START = re.compile("|".join(sorted(FOLLOWING_CUES, key=len, reverse=True)))
_PRECEDING_AT_END = re.compile("(?:" + "|".join(sorted((c for c in PRECEDING_CUES if len(c) > 1), key=len, reverse=True)) + ")$")
_LEAD = re.compile(f"[^{_H}0-9A-Za-z]*([{_H}]+)")
_ENDS_HANGUL = re.compile(f"[{_H}][^{_H}0-9A-Za-z]*$")
_NO_CUE = (False, False)


def _cue_in_word(rest: str) -> tuple[bool, bool]:
    """(an honorific or title starts `rest`, it is a strict one): 김영자님이, 김영자할머니."""
    m = _CUE_AT_START.match(rest)
    return (True, m.group() in STRICT_FOLLOWING) if m else _NO_CUE


def _cue_word(next_run: str) -> tuple[bool, bool]:
    """The same for the next word: 김영자 할머니가, 영자 씨."""
    m = _CUE_AT_START.match(next_run)
    if m and (len(m.group()) > 1 or next_run[1:] in PARTICLES):
        return True, m.group() in STRICT_FOLLOWING
    return _NO_CUE


def _preceding_cue(prev_run: str) -> bool:
    return prev_run in PRECEDING_CUES or _PRECEDING_AT_END.search(prev_run) is not None


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: Kind


@dataclass(frozen=True)
class _Candidate:
    start: int  # in the text
    end: int
    window: str  # a few words around it, for Kiwi
    offset: int  # where the window starts in the text
    rule: Literal["surname2", "surname3", "given"]
    honorific: bool  # a title or honorific follows (김영자 할머니), not only a kinship word before


def _name_candidates(text: str) -> list[list[_Candidate]]:
    """Words that could start with a name next to a cue: for each, the readings to try in order
    (김영자, 영자가 → 영자). Kiwi decides later."""
    words = [(m.start(), m.group()) for m in _WORD.finditer(text)]
    out: list[list[_Candidate]] = []
    for i, (at, word) in enumerate(words):
        lead = _LEAD.match(word)
        if not lead:
            continue
        run, start = lead.group(1), at + lead.start(1)
        if word[lead.start(1) - 1 : lead.start(1)] == "<":
            continue  # a placeholder (<이름>, <주소>) from an earlier pass
        nxt = _HANGUL.match(words[i + 1][1]) if i + 1 < len(words) else None
        next_cue = _cue_word(nxt.group()) if nxt else _NO_CUE
        before = False
        if i and _ENDS_HANGUL.search(words[i - 1][1]):
            before = _preceding_cue(_HANGUL.findall(words[i - 1][1])[-1])
        if not (before or next_cue[0] or _CUE_AT_START.search(run, 1)):
            continue  # no cue anywhere near this word
        found: list[tuple[int, Literal["surname2", "surname3", "given"], bool]] = []
        for length in (3, 2, 4):
            stem, rest = run[:length], run[length:]
            if len(stem) < length or stem[-1] in "님씨" or stem in NOT_NAMES or stem in PLACE_WORDS:
                continue
            if stem in PRECEDING_CUES or _CUE_AT_START.match(stem):
                continue  # the cue word itself (옆집, 할머니)
            after, strict = next_cue if not rest else _cue_in_word(rest)
            if not (after or rest in PARTICLES):
                continue
            surname = stem[:2] in COMPOUND_SURNAMES if length == 4 else stem[0] in SURNAMES
            if surname and (after or before):
                found.append((length, "surname2" if length == 2 else "surname3", after))
            elif length <= 3 and (strict or (before and not after)):
                found.append((length, "given", after))  # 영자 씨; 손녀 지우가 (Kiwi must call it a proper noun)
        if found:
            lo = words[i - 1][0] if i else at
            hi = words[i + 1][0] + len(words[i + 1][1]) if i + 1 < len(words) else at + len(word)
            out.append([_Candidate(start, start + n, text[lo:hi], lo, rule, honorific) for n, rule, honorific in found])
    return out


def _judge(candidate: _Candidate, tokens: Sequence[Any]) -> bool:
    """Kiwi's reading of the candidate's window: is the stem a proper noun, or one ordinary word?"""
    s, e = candidate.start - candidate.offset, candidate.end - candidate.offset
    covering = [t for t in tokens if t.len and t.start < e and t.start + t.len > s]
    if not covering:
        return False
    nnp = any(t.tag == "NNP" for t in covering)
    whole = [t for t in covering if t.start <= s and t.start + t.len >= e]
    if whole and whole[0].tag != "NNP" and not whole[0].oov:
        return False  # one dictionary word that is not a proper noun: 이웃, 김장, 정말, 이분 …
    last = [t for t in covering if t.start < e <= t.start + t.len and not _JAMO.match(t.form)]
    if not candidate.honorific and any(t.tag.startswith(_GRAMMATICAL) for t in last):
        return False  # with only a kinship word before it, the "name" ends in a particle: 가족이(랑), 모임(에)
    if candidate.rule == "surname3":
        # An honorific after it is strong evidence. A kinship word before it needs Kiwi to see a name:
        # a proper noun, an unknown word, or the surname split off as a morpheme of its own (오/옥/순),
        # not a two-syllable word plus a bit (신청/일).
        first = covering[0]
        split_surname = first.start == s and first.len == 1
        return candidate.honorific or nnp or split_surname or any(t.oov for t in covering)
    if candidate.rule == "given":
        return bool(whole) and whole[0].form not in PLACE_WORDS
    return nnp


@lru_cache(maxsize=1)
def kiwi():
    """The Kiwi analyser, loaded once per process on first use (~2.5 s with its first analysis).

    Without the typo and multi-word dictionaries it loads in half the time (~5 s otherwise); short
    windows around a candidate name do not need them. One worker: the windows are few and short.
    """
    from kiwipiepy import Kiwi

    return Kiwi(num_workers=1, load_typo_dict=False, load_multi_dict=False)


def _tokenize(windows: list[str]) -> list[Sequence[Any]]:
    if not windows:
        return []
    return list(kiwi().tokenize(windows))


# -- the redactor ----------------------------------------------------------------------------------


def own_names(name: str | None) -> tuple[str, ...]:
    """A resident's registry name and their given name alone (영자 for 김영자)."""
    if not name:
        return ()
    given = name[2:] if name[:2] in COMPOUND_SURNAMES and len(name) > 3 else name[1:]
    return (name, given) if len(given) >= 2 else (name,)


def _resolve(spans: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans: higher-priority kinds first, then longer ones; in text order."""
    rank = {k: i for i, k in enumerate(KINDS)}
    chosen: list[Span] = []
    for span in sorted(spans, key=lambda s: (rank[s.kind], -(s.end - s.start), s.start)):
        if all(span.end <= c.start or span.start >= c.end for c in chosen):
            chosen.append(span)
    return sorted(chosen, key=lambda s: s.start)


def apply(text: str, spans: Sequence[Span]) -> tuple[str, Counter[str]]:
    """Replace resolved spans by their placeholders."""
    parts, at, counts = [], 0, Counter()
    for span in spans:
        parts += [text[at : span.start], PLACEHOLDERS[span.kind]]
        at = span.end
        counts[span.kind] += 1
    parts.append(text[at:])
    return "".join(parts), counts


class Redactor:
    """Built once per batch with every known name (the registry's); `names` per text add the row's own."""

    def __init__(self, known_names: Iterable[str] = (), *, detect_names: bool = True) -> None:
        self.known = frozenset(n for n in known_names if n and len(n) >= 2)
        self._lengths = sorted({len(n) for n in self.known}, reverse=True)
        self.detect_names = detect_names

    def _pattern_spans(self, text: str) -> list[Span]:
        if not _DIGIT_OR_AT.search(text):
            return []  # every pattern needs a digit (or the @ of an e-mail address)
        return [Span(m.start(), m.end(), kind) for kind, pattern in PATTERNS for m in pattern.finditer(text)]

    def _known_spans(self, text: str, names: Sequence[str]) -> list[Span]:
        extra = frozenset(n for n in names if n and len(n) >= 2)
        lengths = sorted(set(self._lengths) | {len(n) for n in extra}, reverse=True)
        spans = []
        for m in _HANGUL.finditer(text):
            run, start = m.group(), m.start()
            for length in lengths:
                stem, rest = run[:length], run[length:]
                if len(stem) < length:
                    continue
                full = stem in self.known and length >= 3
                if full or ((stem in extra or stem in self.known) and (rest in PARTICLES or _cue_in_word(rest)[0])):
                    spans.append(Span(start, start + length, "name"))
                    break
        return spans

    def spans_many(self, texts: Sequence[str | None], names: Sequence[Sequence[str]] | None = None) -> list[list[Span]]:
        """Resolved spans for each text (Kiwi runs once over every candidate window of the lot)."""
        found: list[list[Span]] = []
        pending: list[tuple[int, list[_Candidate]]] = []
        for i, text in enumerate(texts):
            if not text:
                found.append([])
                continue
            spans = self._pattern_spans(text) + self._known_spans(text, names[i] if names else ())
            found.append(spans)
            if self.detect_names:
                taken = [(s.start, s.end) for s in spans]
                for readings in _name_candidates(text):
                    at = readings[0].start
                    if not any(s <= at < e for s, e in taken):
                        pending.append((i, readings))
        windows = list(dict.fromkeys(r[0].window for _, r in pending))  # the same phrases recur a lot
        analysed = dict(zip(windows, _tokenize(windows), strict=True))
        for i, readings in pending:
            for c in readings:
                if _judge(c, analysed[c.window]):
                    found[i].append(Span(c.start, c.end, "name"))
                    break
        return [_resolve(s) for s in found]

    def spans(self, text: str, names: Sequence[str] = ()) -> list[Span]:
        return self.spans_many([text], [names])[0]

    def redact(self, text: str, names: Sequence[str] = ()) -> tuple[str, Counter[str]]:
        """The text with every detected span replaced by its placeholder, and counts by kind."""
        return apply(text, self.spans(text, names))

    def redact_many(
        self, texts: Sequence[str | None], names: Sequence[Sequence[str]] | None = None
    ) -> tuple[list[str | None], Counter[str]]:
        total: Counter[str] = Counter()
        out: list[str | None] = []
        for text, spans in zip(texts, self.spans_many(texts, names), strict=True):
            if text is None or not spans:
                out.append(text)
                continue
            redacted, counts = apply(text, spans)
            out.append(redacted)
            total += counts
        return out, total

    def redact_array(
        self, texts: pa.Array | pa.ChunkedArray, names: Sequence[Sequence[str]] | None = None
    ) -> tuple[pa.Array, Counter[str]]:
        """A string array redacted element-wise (nulls stay null), same type, and counts by kind."""
        redacted, counts = self.redact_many(texts.to_pylist(), names)
        return pa.array(redacted, type=texts.type), counts


def redact_table(
    table: pa.Table,
    columns: Sequence[str],
    redactor: Redactor,
    names_by_key: Mapping[str, str] | None = None,
    key_column: str = "resident_key",
) -> tuple[pa.Table, Counter[str]]:
    """`columns` of `table` redacted; each row also matches its own resident's name (via `key_column`)."""
    names = None
    if names_by_key is not None and key_column in table.column_names:
        names = [own_names(names_by_key.get(k)) if k else () for k in table.column(key_column).to_pylist()]
    total: Counter[str] = Counter()
    for column in columns:
        if column not in table.column_names:
            continue
        index = table.column_names.index(column)
        redacted, counts = redactor.redact_array(table.column(column), names)
        table = table.set_column(index, table.field(index), redacted)
        total += counts
    return table, total
