"""Use case: import a museum's collection file (an admin path: a museum's
staff or an operator, now and then; reading the file's relics by one `$in`
of their ids).

Each row lands whole or not at all: one single-document write (a new relic
with its `relic.registered`, or a logged revision with its `relic.updated`).
Ids derive from the museum and the row's object number, so importing a
corrected file again updates those relics in place: a changed grade or
donor is a `relic.updated` event carrying them, from which ip changes the
relic's ownership. A donor's id joins the museum's to the donor's name
(`museum_donor`): a donor is a museum's relationship.
"""

import dataclasses
import hashlib
from dataclasses import replace
from typing import Any

from catalog.domain import Donor, Relic
from catalog.errors import ConcurrentChange, ImportRejected, UnknownReference
from catalog.handlers import Clock, may_manage_museum, revise_relic, utcnow
from catalog.importer import (
    ImportedRelic,
    ImportReport,
    RowProblem,
    UnreadableFile,
    decode_collection,
    parse_collection,
    registered_donor,
)
from catalog.store import CatalogStore
from servicekit.auth import Principal

__all__ = ["import_relics"]


async def import_relics(
    *,
    store: CatalogStore,
    actor: Principal,
    museum_id: str,
    data: bytes,
    charset: str | None = None,
    now: Clock = utcnow,
) -> ImportReport:
    """Every row is validated; valid rows import and invalid ones come back
    as problems. A file without one valid row imports nothing
    (ImportRejected)."""
    may_manage_museum(actor, museum_id)
    if await store.museum(museum_id) is None:
        raise UnknownReference("museum", [museum_id])
    try:
        text = decode_collection(data, charset)
    except UnreadableFile as exc:
        raise ImportRejected([{"row": 0, "field": "file", "error": str(exc)}]) from exc
    rows, problems = parse_collection(text)
    if not rows:
        raise ImportRejected([dataclasses.asdict(p) for p in problems])
    moment = now()
    ids = [f"rel_{museum_id}_{row.source_id}" for row in rows]
    existing = await store.relics_by_id(ids)
    fresh: list[Relic] = []
    updated = unchanged = 0
    imported: list[str] = []
    donors: set[str] = set()
    for row, relic_id in zip(rows, ids, strict=True):
        values = imported_values(row, museum_id)
        before = existing.get(relic_id)
        if before is None:
            relic = Relic.register(
                id=relic_id,
                museum_id=museum_id,
                immovable=False,
                site=None,
                assets=[],
                created_at=moment,
                updated_at=moment,
                **{"protection_grade": "general", **values},
            )
            fresh.append(relic)
        else:
            try:
                relic = await revise_relic(
                    store=store, actor=actor, relic_id=relic_id, changes=values, now=lambda: moment
                )
            except ConcurrentChange:
                problems.append(
                    RowProblem(row.row, "row", "changed by someone else meanwhile; retry")
                )
                continue
            if relic.events:
                updated += 1
            else:
                unchanged += 1
        imported.append(relic_id)
        donor_id = registered_donor(before, relic) if relic.events else None
        if donor_id is not None:
            donors.add(donor_id)
    created = await store.add_relics(fresh)
    problems.sort(key=lambda p: p.row)
    return ImportReport(imported, created, updated, unchanged, problems, sorted(donors))


def museum_donor(donor: Donor, museum_id: str) -> Donor:
    """A donor named in a museum's file is that museum's donor: the id joins
    the museum's to the name's, so two museums' donors who share a name
    never become one rights holder (whose balance only one museum sees)."""
    digest = hashlib.sha256(f"{museum_id}|{donor.donor_id}".encode()).hexdigest()[:10]
    return replace(donor, donor_id=f"{donor.donor_id[:80]}-{digest}")


def imported_values(row: ImportedRelic, museum_id: str) -> dict[str, Any]:
    """The fields an import sets; the rest (site, assets) stay the museum's,
    and so does the grade when the file gives none for the row."""
    provenance = row.provenance
    if provenance is not None and provenance.donor is not None:
        provenance = replace(provenance, donor=museum_donor(provenance.donor, museum_id))
    values: dict[str, Any] = {
        "name_zh": row.name_zh,
        "name_en": row.name_en,
        "period": row.period,
        "category": row.category,
        "description": row.description,
        "images": row.images,
        "provenance": provenance,
    }
    if row.protection_grade is not None:
        values["protection_grade"] = row.protection_grade
    return values
