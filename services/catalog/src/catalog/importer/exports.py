"""Two public exports read as they come: the Met Collection API and the
National Palace Museum open data (flattened). Recognised by their headers."""

import json
import re
from typing import Any

from catalog.domain import Image, Provenance
from catalog.importer.records import ImportedRelic, Problem
from catalog.importer.values import (
    MET_CATEGORIES,
    NPM_CATEGORIES,
    URL,
    acquisition_of,
    text,
)

__all__ = ["met_row", "npm_row"]

_NAME, _SHORT = 200, 200


def _met_category(value: str) -> str:
    key = value.strip().lower()
    if key.startswith("textiles") or key.startswith("main dress"):
        return "textile"
    return MET_CATEGORIES.get(key, "other")


def met_row(number: int, row: dict[str, str], problem: Problem) -> ImportedRelic | None:
    raw_id = (row.get("objectID") or "").strip()
    try:
        object_id = float(raw_id)
        if not object_id.is_integer() or object_id <= 0:
            raise ValueError
    except ValueError:
        problem("objectID", f"not an object number: {raw_id!r}")
        return None
    title = text(row.get("title"), _NAME)
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
    if image and not URL.match(image):
        problem("primaryImage", "not an http(s) URL")
        return None
    credit = text(row.get("creditLine"), 2_000) or ""
    acquisition, donor = acquisition_of(credit)
    parts = [row.get("objectName"), row.get("medium"), row.get("objectDate")]
    description = ". ".join(p.strip() for p in parts if p and p.strip())
    return ImportedRelic(
        row=number,
        source_id=f"met-{int(object_id)}",
        name_zh=title,  # the Met gives no Chinese title
        name_en=title,
        period=text(row.get("period"), _SHORT) or text(row.get("objectDate"), _SHORT),
        category=_met_category(row.get("classification") or ""),
        description=text(description),
        images=[Image(uri=image, caption="The Metropolitan Museum of Art, Open Access")]
        if image
        else [],
        provenance=Provenance(
            acquisition=acquisition, acquired_year=year, donor=donor, notes=credit or None
        ),
    )


def _json_list(value: str, name: str, problem: Problem) -> list[Any] | None:
    if not value.strip():
        return []
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if not isinstance(parsed, list):
        problem(name, "not a JSON list")
        return None
    return parsed


def npm_row(number: int, row: dict[str, str], problem: Problem) -> ImportedRelic | None:
    source_id = (row.get("relic_id") or "").strip()
    if not re.match(r"^[A-Za-z]+-\d+$", source_id):
        problem("relic_id", f"not a relic id: {source_id!r}")
        return None
    name = text(row.get("name"), _NAME)
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
        if not isinstance(url, str) or not URL.match(url):
            problem("images", "an image without an http(s) url")
            return None
        credit = item.get("credit")
        images.append(Image(uri=url, caption=credit if isinstance(credit, str) else None))
    english = next((a for a in aliases if isinstance(a, str) and a.strip()), None)
    dynasty = (row.get("dynasty") or "").strip()
    inventory = text(row.get("collection.inventory_no"), 500)
    return ImportedRelic(
        row=number,
        source_id=source_id.lower(),
        name_zh=name,
        name_en=(english or name)[:_NAME],
        period=None if dynasty in ("", "不详") else dynasty,
        category=NPM_CATEGORIES.get((row.get("category") or "").strip(), "other"),
        description=text(row.get("summary")),
        images=images[:50],
        provenance=Provenance(notes=f"inventory {inventory}" if inventory else None),
    )
