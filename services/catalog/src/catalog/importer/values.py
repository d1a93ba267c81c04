"""Cell values to catalog values, pure: protection grades, donors and the
acquisition a credit line names, categories, and the shared text rules."""

import hashlib
import re
import unicodedata
from typing import get_args

from catalog.domain import Donor, ProtectionGrade

__all__ = [
    "ACCEPTED_GRADES",
    "CATEGORIES",
    "MET_CATEGORIES",
    "NPM_CATEGORIES",
    "URL",
    "acquisition_of",
    "donor_named",
    "grade_of",
    "slug",
    "text",
]

URL = re.compile(r"^https?://[^\s/]+\S*$")


def text(value: str | None, limit: int = 10_000) -> str | None:
    cleaned = (value or "").replace("\r\n", "\n").strip()
    return cleaned[:limit] or None


def slug(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")


# --- protection grade (文物级别) ---------------------------------------------------
#
# China grades movable relics 一级 / 二级 / 三级 (the "precious" ones) and
# 一般 (general). Ledgers write them many ways: 一级文物, 1级, 国家一级, 壹级,
# Grade 1, grade I, first-class ... A value is matched ignoring case, width,
# spaces and punctuation.

_NUMBERS: dict[str, ProtectionGrade] = {
    "1": "grade_1", "一": "grade_1", "壹": "grade_1", "i": "grade_1", "one": "grade_1",
    "first": "grade_1", "1st": "grade_1",
    "2": "grade_2", "二": "grade_2", "贰": "grade_2", "ii": "grade_2", "two": "grade_2",
    "second": "grade_2", "2nd": "grade_2",
    "3": "grade_3", "三": "grade_3", "叁": "grade_3", "iii": "grade_3", "three": "grade_3",
    "third": "grade_3", "3rd": "grade_3",
}  # fmt: skip
_CHINESE_GRADE = re.compile(r"^(?:国家)?(?:珍贵文物)?([一二三壹贰叁123])级(?:文物|品|藏品)?$")
_ENGLISH_GRADE = re.compile(
    r"^(?:(?:grade|class|level)(1|2|3|i|ii|iii|one|two|three)"
    r"|(first|second|third|1st|2nd|3rd)(?:grade|class|level)?"
    r"|(1|2|3))(?:relic|object)?$"
)
_GENERAL = frozenset(
    {
        "一般", "一般文物", "一般藏品", "一般品", "未定级", "general", "generalrelic",
        "ordinary", "ungraded", "nongraded", "notgraded",
    }
)  # fmt: skip
_CODES: dict[str, ProtectionGrade] = {g.replace("_", ""): g for g in get_args(ProtectionGrade)}
ACCEPTED_GRADES = (
    "一级 / 一级文物 / 1级 / 国家一级 / grade 1 / first-class (grade_1); "
    "二级 ... (grade_2); 三级 ... (grade_3); 一般 / 一般文物 / 未定级 / general (general)"
)


def _grade_key(value: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", value).casefold())


def grade_of(value: str) -> ProtectionGrade | None:
    """The grade a cell names, None when it names none we know."""
    key = _grade_key(value)
    if key in _CODES:
        return _CODES[key]
    if key in _GENERAL:
        return "general"
    number: str | None = None
    if match := _CHINESE_GRADE.match(key):
        number = match.group(1)
    elif match := _ENGLISH_GRADE.match(key):
        number = next(g for g in match.groups() if g)
    return _NUMBERS[number] if number else None


# --- donors and acquisition ----------------------------------------------------------

_HONORIFIC = re.compile(r"(?:老?先生|女士|夫人|同志)$")


def donor_named(name: str) -> Donor | None:
    """The donor a name stands for: one id per name however it is written
    (width, spaces, a trailing 先生/女士), so a donor named in its own column
    and in the credit line is one donor."""
    cleaned = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", name)).strip(" ,;，；、")
    cleaned = _HONORIFIC.sub("", cleaned).strip()
    if not cleaned:
        return None
    donor_id = f"donor-{slug(cleaned) or hashlib.sha256(cleaned.encode()).hexdigest()[:12]}"
    return Donor(donor_id=donor_id[:100], name=cleaned[:200])


def acquisition_of(credit: str) -> tuple[str | None, Donor | None]:
    """Acquisition and donor from a credit line, English or Chinese."""
    lowered = credit.lower()
    name: str | None = None
    kind: str | None = None
    for prefix, what in (("gift of ", "donation"), ("bequest of ", "bequest")):
        if lowered.startswith(prefix):
            kind, name = what, credit[len(prefix) :].split(",")[0].strip()
    chinese = re.fullmatch(r"(?:由)?(.*?)(?:先生|女士)?(?:捐赠|捐献|惠赠)", credit.strip())
    chinese = chinese or re.fullmatch(r"(?:捐赠|捐献|惠赠)(?:人)?[:：\s]*(.*)", credit.strip())
    if kind is None and chinese:
        kind, name = "donation", chinese.group(1).strip()
    if kind is None:
        if "purchase" in lowered or "fund" in lowered or "购买" in credit or "征集" in credit:
            return "purchase", None
        if "excavat" in lowered or "发掘" in credit or "出土" in credit:
            return "excavation", None
        if "transfer" in lowered or "调拨" in credit:
            return "transfer", None
        return None, None
    return kind, donor_named(name) if name else None


# --- categories ----------------------------------------------------------------------

MET_CATEGORIES = {
    "paintings": "calligraphy_painting",
    "calligraphy": "calligraphy_painting",
    "prints": "calligraphy_painting",
    "fans": "calligraphy_painting",
    "illustrated books": "calligraphy_painting",
    "lacquer": "lacquer",
    "metalwork": "metalwork",
    "mirrors": "bronze",
    "ceramics": "ceramics",
    "tomb pottery": "pottery",
    "sculpture": "sculpture",
    "jade": "jade",
    "hardstone": "jade",
    "furniture": "furniture",
    "inkstone": "stationery",
    "ink": "stationery",
}
NPM_CATEGORIES = {
    "书画": "calligraphy_painting",
    "瓷器": "ceramics",
    "青铜器": "bronze",
    "玉器": "jade",
    "宗教造像": "sculpture",
    "陶器": "pottery",
    "文房用具": "stationery",
    "漆器": "lacquer",
    "织绣": "textile",
}
# a museum's classification, in English or Chinese, to our category
CATEGORIES = {
    **MET_CATEGORIES,
    **NPM_CATEGORIES,
    "painting": "calligraphy_painting",
    "书法": "calligraphy_painting",
    "绘画": "calligraphy_painting",
    "bronze": "bronze",
    "bronzes": "bronze",
    "青铜": "bronze",
    "porcelain": "ceramics",
    "陶瓷": "ceramics",
    "瓷": "ceramics",
    "pottery": "pottery",
    "陶": "pottery",
    "玉": "jade",
    "textiles": "textile",
    "textile": "textile",
    "纺织品": "textile",
    "雕塑": "sculpture",
    "造像": "sculpture",
    "金银器": "metalwork",
    "家具": "furniture",
}
