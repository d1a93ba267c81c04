"""Mapping between the catalog's entities and their stored documents (no
I/O): the store writes and reads through these."""

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from catalog.domain import (
    Asset,
    Donor,
    Image,
    Museum,
    Product,
    Provenance,
    Relic,
    SiteLocation,
)
from catalog.search import document_tokens
from contracts import Event
from servicekit.outbox import outbox_entry

__all__ = [
    "SOURCE",
    "aware",
    "change_id",
    "museum_from_doc",
    "outbox",
    "plain",
    "product_from_doc",
    "product_state_doc",
    "relic_from_doc",
    "to_ms",
]

SOURCE = "catalog"
Doc = dict[str, Any]


def change_id(kind: str, entity_id: str, version: int) -> str:
    return f"{kind}:{entity_id}@{version:010d}"


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def plain(entity: object, skip: frozenset[str] = frozenset({"events"})) -> Doc:
    doc: Doc = dataclasses.asdict(entity)  # type: ignore[call-overload]
    for name in skip:
        doc.pop(name, None)
    doc["_id"] = doc.pop("id")
    return doc


def outbox(events: Sequence[Event]) -> list[Doc]:
    return [outbox_entry(e, source=SOURCE) for e in events]


def museum_from_doc(doc: Doc) -> Museum:
    return Museum(
        id=doc["_id"],
        name_zh=doc["name_zh"],
        name_en=doc["name_en"],
        city=doc["city"],
        province=doc["province"],
        kind=doc["kind"],
        state_owned=doc["state_owned"],
        heritage_level=doc.get("heritage_level"),
        created_at=aware(doc["created_at"]),
        updated_at=aware(doc["updated_at"]),
        version=doc["version"],
    )


def relic_from_doc(doc: Doc) -> Relic:
    provenance = doc.get("provenance")
    site = doc.get("site")
    return Relic(
        id=doc["_id"],
        museum_id=doc["museum_id"],
        name_zh=doc["name_zh"],
        name_en=doc["name_en"],
        period=doc.get("period"),
        category=doc["category"],
        description=doc.get("description"),
        protection_grade=doc["protection_grade"],
        immovable=doc["immovable"],
        site=SiteLocation(**site) if site else None,
        images=[Image(**i) for i in doc.get("images", [])],
        provenance=Provenance(
            acquisition=provenance.get("acquisition"),
            acquired_year=provenance.get("acquired_year"),
            donor=Donor(**provenance["donor"]) if provenance.get("donor") else None,
            notes=provenance.get("notes"),
        )
        if provenance
        else None,
        assets=[Asset(**a) for a in doc.get("assets", [])],
        created_at=aware(doc["created_at"]),
        updated_at=aware(doc["updated_at"]),
        version=doc["version"],
    )


_PRODUCT_FIELDS = frozenset(f.name for f in dataclasses.fields(Product)) - {"id", "events"}


def product_from_doc(doc: Doc) -> Product:
    values = {name: doc[name] for name in _PRODUCT_FIELDS if name in doc}
    values["created_at"] = aware(doc["created_at"])
    values["updated_at"] = aware(doc["updated_at"])
    return Product(id=doc["_id"], **values)


def product_state_doc(product: Product) -> Doc:
    """Every stored field except stock (kept in the stock ledger)."""
    doc = plain(product, skip=frozenset({"events", "stock"}))
    doc.pop("_id")
    doc["tokens"] = document_tokens(
        product.title_zh,
        product.title_en,
        product.description_zh,
        product.description_en,
        product.category,
    )
    doc["title_tokens"] = document_tokens(product.title_zh, product.title_en)
    return doc
