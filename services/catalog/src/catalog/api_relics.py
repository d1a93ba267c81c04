"""Routes of relics: register, import a collection CSV, list, read, revise,
add digital twins; a relic's products. Thin: parse, call a use case, render."""

import uuid
from email.message import Message
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from catalog import handlers, relic_import
from catalog.api_common import (
    ERRORS,
    PUBLIC_ITEM,
    PUBLIC_LIST,
    CursorParam,
    Limit,
    cached,
    changes_of,
    newest_products_page,
)
from catalog.deps import Index, Store
from catalog.schemas import (
    AssetIn,
    ProductPage,
    RelicCreate,
    RelicPage,
    RelicRead,
    RelicUpdate,
)
from catalog.search import decode_id_cursor, encode_id_cursor
from servicekit.auth import CurrentPrincipal
from servicekit.errors import TooLarge

__all__ = ["router"]

router = APIRouter()


def _relic_values(body: RelicCreate) -> dict[str, Any]:
    return {
        "museum_id": body.museum_id,
        "name_zh": body.name_zh,
        "name_en": body.name_en,
        "period": body.period,
        "category": body.category,
        "description": body.description,
        "protection_grade": body.protection_grade,
        "immovable": body.immovable,
        "site": body.site.to_domain() if body.site else None,
        "images": [i.to_domain() for i in body.images],
        "provenance": body.provenance.to_domain() if body.provenance else None,
        "assets": [a.to_domain(f"ast_{uuid.uuid4().hex}") for a in body.assets],
    }


def _relic_changes(body: RelicUpdate) -> dict[str, Any]:
    changes = changes_of(body, RelicUpdate.NULLABLE)
    if "site" in changes:
        changes["site"] = body.site.to_domain() if body.site else None
    if "images" in changes:
        changes["images"] = [i.to_domain() for i in body.images or []]
    if "provenance" in changes:
        changes["provenance"] = body.provenance.to_domain() if body.provenance else None
    return changes


@router.post(
    "/relics", status_code=201, response_model=RelicRead, tags=["relics"], responses=ERRORS
)
async def create_relic(body: RelicCreate, actor: CurrentPrincipal, store: Store) -> RelicRead:
    relic = await handlers.register_relic(store=store, actor=actor, values=_relic_values(body))
    return RelicRead.of(relic)


class ImportProblem(BaseModel):
    row: int  # as a spreadsheet numbers it: the header is row 1; 0 is the whole file
    field: str  # the file's own header
    error: str


class ImportResult(BaseModel):
    museum_id: str
    rows: int  # rows imported: created + updated + unchanged
    created: int
    updated: int
    unchanged: int  # there already, the same (the file was imported before)
    relic_ids: list[str]
    donors: int  # donors registered: on new relics, or a relic's new donor
    donor_ids: list[str]
    rejected: int
    errors: list[ImportProblem]  # the rows not imported, with why


MAX_IMPORT_BYTES = 20 * 1024 * 1024


@router.post(
    "/relics:import",
    status_code=201,
    response_model=ImportResult,
    tags=["relics"],
    responses={**ERRORS, 413: {"description": "The file is too large"}},
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    },
)
async def import_relics(
    request: Request,
    actor: CurrentPrincipal,
    store: Store,
    museum_id: Annotated[str, Query(min_length=1, max_length=100)],
) -> ImportResult:
    """Import a collection CSV (docs/import.md): UTF-8 with or without BOM,
    or GB18030; a `charset` in Content-Type is tried first. Valid rows import
    (again: updated by object number), invalid ones are listed in `errors`
    as row, field, error. Without one valid row nothing is imported: 422
    problem+json with `errors`."""
    body = await request.body()
    if len(body) > MAX_IMPORT_BYTES:
        raise TooLarge(f"the file is larger than {MAX_IMPORT_BYTES} bytes; split it")
    report = await relic_import.import_relics(
        store=store,
        actor=actor,
        museum_id=museum_id,
        data=body,
        charset=_charset(request.headers.get("content-type")),
    )
    return ImportResult(
        museum_id=museum_id,
        rows=len(report.relic_ids),
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        relic_ids=report.relic_ids,
        donors=len(report.donor_ids),
        donor_ids=report.donor_ids,
        rejected=len({p.row for p in report.problems}),
        errors=[ImportProblem(row=p.row, field=p.field, error=p.error) for p in report.problems],
    )


def _charset(content_type: str | None) -> str | None:
    message = Message()
    message["content-type"] = content_type or "text/csv"
    return message.get_content_charset()


@router.get("/relics", response_model=RelicPage, tags=["relics"])
async def list_relics(
    request: Request,
    store: Store,
    museum_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Response:
    after = decode_id_cursor(cursor) if cursor else None
    found = await store.list_relics(museum_id, after, limit + 1)
    page = found[:limit]
    next_cursor = encode_id_cursor(page[-1].id) if len(found) > limit else None
    body = RelicPage(items=[RelicRead.of(r) for r in page], next_cursor=next_cursor)
    return cached(request, body, PUBLIC_LIST)


@router.get("/relics/{relic_id}", response_model=RelicRead, tags=["relics"], responses=ERRORS)
async def get_relic(request: Request, relic_id: str, store: Store) -> Response:
    relic = await handlers.get_relic(store=store, relic_id=relic_id)
    return cached(request, RelicRead.of(relic), PUBLIC_ITEM)


@router.patch("/relics/{relic_id}", response_model=RelicRead, tags=["relics"], responses=ERRORS)
async def update_relic(
    relic_id: str, body: RelicUpdate, actor: CurrentPrincipal, store: Store
) -> RelicRead:
    relic = await handlers.revise_relic(
        store=store, actor=actor, relic_id=relic_id, changes=_relic_changes(body)
    )
    return RelicRead.of(relic)


@router.post(
    "/relics/{relic_id}/assets",
    status_code=201,
    response_model=RelicRead,
    tags=["relics"],
    responses=ERRORS,
)
async def add_asset(
    relic_id: str, body: AssetIn, actor: CurrentPrincipal, store: Store
) -> RelicRead:
    """Attach a digital twin (3D model, scan or panorama) to a relic."""
    relic = await handlers.add_relic_asset(
        store=store,
        actor=actor,
        relic_id=relic_id,
        asset=body.to_domain(f"ast_{uuid.uuid4().hex}"),
    )
    return RelicRead.of(relic)


@router.get(
    "/relics/{relic_id}/products", response_model=ProductPage, tags=["relics"], responses=ERRORS
)
async def relic_products(
    request: Request,
    relic_id: str,
    store: Store,
    index: Index,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Response:
    """The relic's page: sellable products derived from it, newest first."""
    await handlers.get_relic(store=store, relic_id=relic_id)
    return await newest_products_page(
        request,
        store,
        index,
        limit=limit,
        cursor=cursor,
        cache_control=PUBLIC_LIST,
        relic_id=relic_id,
    )
