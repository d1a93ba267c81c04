"""Collection CSV import, pure: recognise the export, map and validate every
row, and return either all the relics or all the problems (never a part).

Two real exports are understood, recognised by their headers:

- the Met Collection API (`objectID`, `title`, `classification`, ...):
  float-string ids, CRLF inside quoted fields, Python-style lists;
- the National Palace Museum open data, flattened (`relic_id`, `name`,
  `aliases`, `dynasty`, `category`, `images` as JSON, ...).
"""

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from catalog.domain import Donor, Image, Provenance

__all__ = ["ImportedRelic", "RowProblem", "parse_collection"]

MAX_ROWS = 5_000


@dataclass(frozen=True)
class RowProblem:
    row: int  # 1-based data row (the header is row 0)
    field: str
    message: str


@dataclass(frozen=True)
class ImportedRelic:
    source_id: str
    name_zh: str
    name_en: str
    period: str | None
    category: str
    description: str | None
    images: list[Image] = field(default_factory=list)
    provenance: Provenance | None = None


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
_URL = re.compile(r"^https?://\S+$")


def _met_category(value: str) -> str:
    key = value.strip().lower()
    if key.startswith("textiles") or key.startswith("main dress"):
        return "textile"
    return _MET_CATEGORIES.get(key, "other")


def _text(value: str | None, limit: int = 10_000) -> str | None:
    cleaned = (value or "").replace("\r\n", "\n").strip()
    return cleaned[:limit] or None


def _donor_of(credit: str) -> tuple[str | None, Donor | None]:
    lowered = credit.lower()
    for prefix, kind in (("gift of ", "donation"), ("bequest of ", "bequest")):
        if lowered.startswith(prefix):
            name = credit[len(prefix) :].split(",")[0].strip()
            if name:
                slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
                return kind, Donor(donor_id=f"donor-{slug}"[:100], name=name[:200])
            return kind, None
    if "purchase" in lowered or "fund" in lowered:
        return "purchase", None
    return None, None


def _met_row(row: dict[str, str], problem: Callable[[str, str], None]) -> ImportedRelic | None:
    raw_id = (row.get("objectID") or "").strip()
    try:
        number = float(raw_id)
        if not number.is_integer() or number <= 0:
            raise ValueError
    except ValueError:
        problem("objectID", f"not an object number: {raw_id!r}")
        return None
    title = _text(row.get("title"), 200)
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
        source_id=f"met-{int(number)}",
        name_zh=title,  # the Met gives no Chinese title
        name_en=title,
        period=_text(row.get("period"), 200) or _text(row.get("objectDate"), 200),
        category=_met_category(row.get("classification") or ""),
        description=_text(description),
        images=[Image(uri=image, caption="The Metropolitan Museum of Art, Open Access")]
        if image
        else [],
        provenance=Provenance(
            acquisition=acquisition, acquired_year=year, donor=donor, notes=credit or None
        ),
    )


def _json_list(text: str, name: str, problem: Callable[[str, str], None]) -> list[Any] | None:
    if not text.strip():
        return []
    try:
        value = json.loads(text)
    except ValueError:
        problem(name, "not a JSON list")
        return None
    if not isinstance(value, list):
        problem(name, "not a JSON list")
        return None
    return value


def _npm_row(row: dict[str, str], problem: Callable[[str, str], None]) -> ImportedRelic | None:
    source_id = (row.get("relic_id") or "").strip()
    if not re.match(r"^[A-Za-z]+-\d+$", source_id):
        problem("relic_id", f"not a relic id: {source_id!r}")
        return None
    name = _text(row.get("name"), 200)
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
        source_id=source_id.lower(),
        name_zh=name,
        name_en=(english or name)[:200],
        period=None if dynasty in ("", "不详") else dynasty,
        category=_NPM_CATEGORIES.get((row.get("category") or "").strip(), "other"),
        description=_text(row.get("summary")),
        images=images[:50],
        provenance=Provenance(notes=f"inventory {inventory}" if inventory else None),
    )


_FORMATS: dict[str, tuple[set[str], Callable[..., ImportedRelic | None]]] = {
    "met": ({"objectID", "title", "classification"}, _met_row),
    "npm": ({"relic_id", "name", "category", "images"}, _npm_row),
}


def _rows(text: str) -> Iterator[dict[str, str]]:
    yield from csv.DictReader(io.StringIO(text, newline=""))


def parse_collection(text: str) -> tuple[list[ImportedRelic], list[RowProblem]]:
    """Every row mapped, or every problem found; one list is always empty."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    headers = set(reader.fieldnames or [])
    kind = next((k for k, (needed, _) in _FORMATS.items() if needed <= headers), None)
    if kind is None:
        return [], [RowProblem(0, "header", "not a known collection export (Met or NPM)")]
    _, map_row = _FORMATS[kind]
    relics: list[ImportedRelic] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(reader, start=1):
        if number > MAX_ROWS:
            problems.append(RowProblem(number, "file", f"more than {MAX_ROWS} rows"))
            break

        def problem(name: str, message: str, number: int = number) -> None:
            problems.append(RowProblem(number, name, message))

        relic = map_row(row, problem)
        if relic is None:
            continue
        if relic.source_id in seen:
            problem("id", f"duplicate of row {seen[relic.source_id]}")
            continue
        seen[relic.source_id] = number
        relics.append(relic)
    if not relics and not problems:
        problems.append(RowProblem(0, "file", "no rows"))
    return ([], problems) if problems else (relics, [])
