"""Collection CSV import, pure: decode the bytes, recognise the export, map
and validate every row. Valid rows come back as relics, invalid ones as
(row, field, error) problems; the caller imports the first and reports the
second. The columns are documented in docs/import.md.

Three layouts are understood, recognised by their headers:

- the Met Collection API (`objectID`, `title`, `classification`, ...):
  float-string ids, CRLF inside quoted fields, Python-style lists;
- the National Palace Museum open data, flattened (`relic_id`, `name`,
  `aliases`, `dynasty`, `category`, `images` as JSON, ...);
- any other collection spreadsheet whose headers name an object number and
  a title, in English or Chinese (`Object Number`/`藏品编号`, `Title`/`名称`,
  ...), matched ignoring case, spaces and punctuation.

Rows are numbered as a spreadsheet shows them: the header is row 1, the
first record row 2. Problems with the whole file have row 0 (or 1 for the
header).
"""

import codecs
import csv
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from catalog.domain import Donor, Image, Provenance

__all__ = [
    "COLUMNS",
    "MAX_ROWS",
    "ImportReport",
    "ImportedRelic",
    "Record",
    "RowProblem",
    "UnreadableFile",
    "column_of",
    "decode_collection",
    "parse_collection",
    "read_records",
]

MAX_ROWS = 5_000
_NAME, _SHORT, _LONG, _URI = 200, 200, 10_000, 2_000


class UnreadableFile(ValueError):
    """The bytes are not text in any encoding we read."""


@dataclass(frozen=True)
class RowProblem:
    row: int
    field: str
    error: str


@dataclass(frozen=True)
class ImportedRelic:
    row: int
    source_id: str  # stable per object number: re-imports update, never duplicate
    name_zh: str
    name_en: str
    period: str | None
    category: str
    description: str | None
    images: list[Image] = field(default_factory=list)
    provenance: Provenance | None = None


@dataclass(frozen=True)
class ImportReport:
    """What an import did: the relic of every imported row, in file order,
    and the rows it refused."""

    relic_ids: list[str]
    created: int
    updated: int
    unchanged: int
    problems: list[RowProblem]


@dataclass(frozen=True)
class Record:
    row: int
    cells: list[str]


# --- bytes to text -----------------------------------------------------------------

# GBK and GB2312 files are GB18030 files: GB18030 is their superset
_SUPERSETS = {"gbk": "gb18030", "gb2312": "gb18030", "utf-8": "utf-8-sig"}


def decode_collection(data: bytes, charset: str | None = None) -> str:
    """UTF-8 (with or without BOM) or GB18030, or the charset the sender
    named; a BOM always wins. Raises UnreadableFile."""
    tried: list[str] = []
    candidates = ["utf-8-sig", "gb18030"]
    if charset and not data.startswith(codecs.BOM_UTF8):
        try:
            name = codecs.lookup(charset).name
        except LookupError as exc:
            raise UnreadableFile(f"unknown charset {charset!r}") from exc
        candidates.insert(0, _SUPERSETS.get(name, name))
    for encoding in dict.fromkeys(candidates):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            tried.append(f"{encoding} (bad byte at offset {exc.start})")
        except LookupError:  # a codec that is no text encoding (rot13 ...)
            tried.append(f"{encoding} (not a text encoding)")
    raise UnreadableFile(f"not text in {', '.join(tried)}")


# --- text to records ---------------------------------------------------------------


def read_records(text: str) -> tuple[list[str], Iterator[Record]]:
    """The header and the records after it, numbered as a spreadsheet shows
    them (blank lines count, as they do there). csv.Error propagates."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])

    def records() -> Iterator[Record]:
        for number, cells in enumerate(reader, start=2):
            yield Record(number, cells)

    return header, records()


# --- shared value rules ------------------------------------------------------------

_URL = re.compile(r"^https?://[^\s/]+\S*$")
Problem = Callable[[str, str], None]


def _text(value: str | None, limit: int = _LONG) -> str | None:
    cleaned = (value or "").replace("\r\n", "\n").strip()
    return cleaned[:limit] or None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _donor_of(credit: str) -> tuple[str | None, Donor | None]:
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
    if not name:
        return kind, None
    donor_id = f"donor-{_slug(name) or hashlib.sha256(name.encode()).hexdigest()[:12]}"
    return kind, Donor(donor_id=donor_id[:100], name=name[:200])


# --- the Met ---------------------------------------------------------------------

_MET_CATEGORIES = {
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


def _met_category(value: str) -> str:
    key = value.strip().lower()
    if key.startswith("textiles") or key.startswith("main dress"):
        return "textile"
    return _MET_CATEGORIES.get(key, "other")


def _met_row(number: int, row: dict[str, str], problem: Problem) -> ImportedRelic | None:
    raw_id = (row.get("objectID") or "").strip()
    try:
        object_id = float(raw_id)
        if not object_id.is_integer() or object_id <= 0:
            raise ValueError
    except ValueError:
        problem("objectID", f"not an object number: {raw_id!r}")
        return None
    title = _text(row.get("title"), _NAME)
    if not title:
        problem("title", "missing")
        return None
    year_text = (row.get("accessionYear") or "").strip()
    year: int | None = None
    if year_text:
        match = re.match(r"^(\d{4})", year_text)
        if match is None:
            problem("accessionYear", f"not a year: {year_text!r}")
            return None
        year = int(match.group(1))
    image = (row.get("primaryImage") or "").strip()
    if image and not _URL.match(image):
        problem("primaryImage", "not an http(s) URL")
        return None
    credit = _text(row.get("creditLine"), 2_000) or ""
    acquisition, donor = _donor_of(credit)
    parts = [row.get("objectName"), row.get("medium"), row.get("objectDate")]
    description = ". ".join(p.strip() for p in parts if p and p.strip())
    return ImportedRelic(
        row=number,
        source_id=f"met-{int(object_id)}",
        name_zh=title,  # the Met gives no Chinese title
        name_en=title,
        period=_text(row.get("period"), _SHORT) or _text(row.get("objectDate"), _SHORT),
        category=_met_category(row.get("classification") or ""),
        description=_text(description),
        images=[Image(uri=image, caption="The Metropolitan Museum of Art, Open Access")]
        if image
        else [],
        provenance=Provenance(
            acquisition=acquisition, acquired_year=year, donor=donor, notes=credit or None
        ),
    )


# --- the National Palace Museum ----------------------------------------------------

_NPM_CATEGORIES = {
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


def _json_list(text: str, name: str, problem: Problem) -> list[Any] | None:
    if not text.strip():
        return []
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, list):
        problem(name, "not a JSON list")
        return None
    return value


def _npm_row(number: int, row: dict[str, str], problem: Problem) -> ImportedRelic | None:
    source_id = (row.get("relic_id") or "").strip()
    if not re.match(r"^[A-Za-z]+-\d+$", source_id):
        problem("relic_id", f"not a relic id: {source_id!r}")
        return None
    name = _text(row.get("name"), _NAME)
    if not name:
        problem("name", "missing")
        return None
    aliases = _json_list(row.get("aliases") or "", "aliases", problem)
    images_raw = _json_list(row.get("images") or "", "images", problem)
    if aliases is None or images_raw is None:
        return None
    images: list[Image] = []
    for item in images_raw:
        url = item.get("url") if isinstance(item, dict) else None
        if not isinstance(url, str) or not _URL.match(url):
            problem("images", "an image without an http(s) url")
            return None
        credit = item.get("credit")
        images.append(Image(uri=url, caption=credit if isinstance(credit, str) else None))
    english = next((a for a in aliases if isinstance(a, str) and a.strip()), None)
    dynasty = (row.get("dynasty") or "").strip()
    inventory = _text(row.get("collection.inventory_no"), 500)
    return ImportedRelic(
        row=number,
        source_id=source_id.lower(),
        name_zh=name,
        name_en=(english or name)[:_NAME],
        period=None if dynasty in ("", "不详") else dynasty,
        category=_NPM_CATEGORIES.get((row.get("category") or "").strip(), "other"),
        description=_text(row.get("summary")),
        images=images[:50],
        provenance=Provenance(notes=f"inventory {inventory}" if inventory else None),
    )


# --- any collection spreadsheet ----------------------------------------------------

# column -> header synonyms; a header matches ignoring case, width, spaces and
# punctuation ("Object No.", "object_number" and "OBJECT NUMBER" are one)
COLUMNS: dict[str, tuple[str, ...]] = {
    "object_number": (
        "object number", "object no", "accession number", "accession no", "inventory number",
        "inventory no", "catalogue number", "catalog number", "registration number",
        "编号", "藏品编号", "登录号", "文物编号", "藏品号", "总登记号", "登记号", "馆藏编号",
    ),
    "title": ("title", "name", "object title", "名称", "藏品名称", "文物名称", "题名", "品名"),
    "title_zh": ("title zh", "chinese title", "name zh", "chinese name", "中文名称", "中文名"),
    "title_en": ("title en", "english title", "name en", "english name", "英文名称", "英文名"),
    "date": ("date", "period", "dynasty", "object date", "era", "年代", "时代", "朝代", "时期"),
    "medium": ("medium", "material", "materials", "medium material", "质地", "材质", "材料"),
    "classification": (
        "classification", "category", "object type", "type", "类别", "分类", "类型", "门类",
    ),
    "credit_line": ("credit line", "credit", "source", "provenance", "来源", "捐赠", "入藏来源"),
    "image_url": (
        "image url", "image", "images", "primary image", "image link", "picture", "photo",
        "图片", "图片链接", "图片地址", "图像", "照片",
    ),
    "description": ("description", "summary", "简介", "描述", "说明", "介绍"),
    "acquired_year": (
        "accession year", "acquired year", "year acquired", "入藏年份", "入藏年代", "入藏时间",
    ),
}  # fmt: skip


def _header_key(header: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", header).casefold())


_BY_KEY = {_header_key(h): column for column, names in COLUMNS.items() for h in names}


def column_of(header: str) -> str | None:
    """The documented column a spreadsheet header stands for, if any."""
    return _BY_KEY.get(_header_key(header))


# a museum's classification, in English or Chinese, to our category
_CATEGORIES = {
    **_MET_CATEGORIES,
    **_NPM_CATEGORIES,
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


def _clean(value: str, column: str, limit: int, bad: Problem) -> str | None:
    """One stripped cell; None (and a problem) when it is too long."""
    text = value.replace("\r\n", "\n").strip()
    if len(text) > limit:
        bad(column, f"longer than {limit} characters")
        return None
    return text


def _generic_row(number: int, values: dict[str, str], problem: Problem) -> ImportedRelic | None:
    """A row of any spreadsheet, `values` by documented column."""
    errors: list[tuple[str, str]] = []

    def bad(column: str, message: str) -> None:
        errors.append((column, message))

    object_number = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", values["object_number"]))
    object_number = object_number.strip()
    if not object_number:
        bad("object_number", "missing")
    elif len(object_number) > 100:
        bad("object_number", "longer than 100 characters")
    titles = [_clean(values.get(c, ""), c, _NAME, bad) for c in ("title_zh", "title", "title_en")]
    if all(t == "" for t in titles):
        bad("title", "missing")
    period = _clean(values.get("date", ""), "date", _SHORT, bad)
    classification = _clean(values.get("classification", ""), "classification", _SHORT, bad)
    texts = (_text(values.get("description")), _text(values.get("medium")))
    description = "\n".join(t for t in texts if t)
    if len(description) > _LONG:
        bad("description", f"with the medium, longer than {_LONG} characters")
    images = []
    for uri in re.split(r"[\s;|]+", values.get("image_url", "").strip()):
        if uri and (not _URL.match(uri) or len(uri) > _URI):
            bad("image_url", f"not an http(s) URL: {uri[:80]!r}")
        elif uri:
            images.append(Image(uri=uri))
    if len(images) > 50:
        bad("image_url", "more than 50 images")
    year: int | None = None
    year_text = unicodedata.normalize("NFKC", values.get("acquired_year", "")).strip()
    if year_text:
        match = re.match(r"^(\d{4})(?:\D|$)", year_text)
        if match is None or int(match.group(1)) > 2100:
            bad("acquired_year", f"not a year: {year_text[:40]!r}")
        else:
            year = int(match.group(1))
    for column, message in errors:
        problem(column, message)
    if errors:
        return None
    credit = _text(values.get("credit_line"), 2_000) or ""
    acquisition, donor = _donor_of(credit)
    zh, plain, en = titles
    digest = hashlib.sha256(object_number.encode()).hexdigest()[:10]
    slug = _slug(object_number)[:40]
    return ImportedRelic(
        row=number,
        source_id=f"{slug}-{digest}" if slug else digest,
        name_zh=zh or plain or en or "",
        name_en=en or plain or zh or "",
        period=period or None,
        category=_CATEGORIES.get((classification or "").casefold(), classification or "other"),
        description=description or None,
        images=images,
        provenance=Provenance(
            acquisition=acquisition,
            acquired_year=year,
            donor=donor,
            notes="\n".join(t for t in (f"object number {object_number}", credit) if t),
        ),
    )


# --- the whole file ----------------------------------------------------------------

RowMapper = Callable[[int, list[str], Problem], ImportedRelic | None]
NamedRowMapper = Callable[[int, dict[str, str], Problem], ImportedRelic | None]
_KNOWN: list[tuple[set[str], str, NamedRowMapper]] = [
    ({"objectID", "title", "classification"}, "objectID", _met_row),
    ({"relic_id", "name", "category", "images"}, "relic_id", _npm_row),
]


def _by_name(header: list[str], known: NamedRowMapper) -> RowMapper:
    def mapper(number: int, cells: list[str], problem: Problem) -> ImportedRelic | None:
        return known(number, dict(zip(header, cells, strict=True)), problem)

    return mapper


def _mapper(header: list[str]) -> tuple[RowMapper, str] | None:
    """How a row's cells become a relic, and the header of the id column;
    None for a layout we do not know."""
    present = set(header)
    for needed, id_header, known in _KNOWN:
        if needed <= present:
            return _by_name(header, known), id_header
    columns: dict[str, list[int]] = {}
    for index, name in enumerate(header):
        if (column := column_of(name)) is not None:
            columns.setdefault(column, []).append(index)
    if "object_number" not in columns or not {"title", "title_zh", "title_en"} & set(columns):
        return None
    # problems name the spreadsheet's own header (the first that maps to a column)
    shown = {column: header[indexes[0]] for column, indexes in columns.items()}

    def generic(number: int, cells: list[str], problem: Problem) -> ImportedRelic | None:
        values = {
            # several headers may mean one column: the first non-empty cell wins
            column: next((cells[i] for i in indexes if cells[i].strip()), "")
            for column, indexes in columns.items()
        }
        if values.get("medium", "").strip():  # labelled as the sheet does: "质地: 青铜"
            values["medium"] = f"{shown['medium']}: {values['medium'].strip()}"
        return _generic_row(number, values, lambda c, m: problem(shown.get(c, c), m))

    return generic, shown["object_number"]


def parse_collection(
    text: str, max_rows: int | None = MAX_ROWS
) -> tuple[list[ImportedRelic], list[RowProblem]]:
    """The valid rows as relics and every problem found. A problem with the
    whole file (unknown header, too many rows, broken CSV) comes back alone
    with no relics."""
    problems: list[RowProblem] = []
    relics: list[ImportedRelic] = []
    try:
        header, records = read_records(text)
        found = _mapper(header)
        if found is None:
            needs = "a Met or NPM export, or a sheet with object number and title columns"
            return [], [RowProblem(1, "header", f"not a known collection layout: {needs}")]
        map_row, id_header = found
        seen: dict[str, int] = {}
        for record in records:
            if not any(cell.strip() for cell in record.cells):
                continue  # blank rows are spacing, not records
            if max_rows is not None and record.row - 1 > max_rows:
                return [], [RowProblem(record.row, "file", f"more than {max_rows} rows")]

            def problem(name: str, message: str, number: int = record.row) -> None:
                problems.append(RowProblem(number, name, message))

            extra = record.cells[len(header) :]
            if any(cell.strip() for cell in extra):
                problem("row", f"{len(record.cells)} cells under {len(header)} headers")
                continue
            cells = record.cells[: len(header)] + [""] * (len(header) - len(record.cells))
            relic = map_row(record.row, cells, problem)
            if relic is None:
                continue
            if relic.source_id in seen:
                problem(id_header, f"the same object as row {seen[relic.source_id]}")
                continue
            seen[relic.source_id] = record.row
            relics.append(relic)
    except csv.Error as exc:  # e.g. a field over csv's size limit
        return [], [RowProblem(0, "file", f"not readable as CSV: {exc}")]
    if not relics and not problems:
        problems.append(RowProblem(0, "file", "no rows"))
    return relics, problems
