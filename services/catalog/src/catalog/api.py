"""Routes: thin. Parse, call a use case, render; reads carry ETag and
Cache-Control and answer `If-None-Match` with 304."""

import hashlib
import uuid
from email.message import Message
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel

from catalog import handlers, product_search, relic_import
from catalog.deps import Index, Store
from catalog.errors import InvalidChange
from catalog.schemas import (
    AssetIn,
    MuseumCreate,
    MuseumPage,
    MuseumRead,
    MuseumUpdate,
    ProductCreate,
    ProductPage,
    ProductRead,
    ProductUpdate,
    RelicCreate,
    RelicPage,
    RelicRead,
    RelicUpdate,
    StockAdjust,
    StockSet,
)
from catalog.search import SortOrder, decode_id_cursor, encode_id_cursor
from servicekit.auth import CurrentPrincipal, OptionalPrincipal
from servicekit.errors import TooLarge

__all__ = ["router"]

router = APIRouter()

Limit = Annotated[int, Query(ge=1, le=100)]
CursorParam = Annotated[str | None, Query(max_length=1000)]
PUBLIC_LIST = "public, max-age=15"
PUBLIC_ITEM = "public, max-age=30"
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid bearer token"},
    403: {"description": "Not allowed for this principal"},
    404: {"description": "Unknown id"},
    409: {"description": "Conflicts with the current state"},
    422: {"description": "Invalid input"},
}


def _cached(request: Request, body: BaseModel, cache_control: str) -> Response:
    payload = body.model_dump_json().encode()
    etag = f'W/"{hashlib.sha256(payload).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": cache_control, "Vary": "Authorization"}
    wanted = request.headers.get("if-none-match")
    if wanted and (wanted.strip() == "*" or etag in (t.strip() for t in wanted.split(","))):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(payload, media_type="application/json", headers=headers)


def _changes(body: BaseModel, nullable: frozenset[str]) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    cleared = [k for k, v in changes.items() if v is None and k not in nullable]
    if cleared:
        raise InvalidChange(f"these fields cannot be null: {', '.join(sorted(cleared))}")
    return changes


# --- museums ---------------------------------------------------------------------


@router.post(
    "/museums", status_code=201, response_model=MuseumRead, tags=["museums"], responses=_ERRORS
)
async def create_museum(body: MuseumCreate, actor: CurrentPrincipal, store: Store) -> MuseumRead:
    museum = await handlers.register_museum(store=store, actor=actor, values=body.model_dump())
    return MuseumRead.of(museum)


@router.get("/museums", response_model=MuseumPage, tags=["museums"])
async def list_museums(
    request: Request, store: Store, limit: Limit = 20, cursor: CursorParam = None
) -> Response:
    after = decode_id_cursor(cursor) if cursor else None
    found = await store.list_museums(after, limit + 1)
    page = found[:limit]
    next_cursor = encode_id_cursor(page[-1].id) if len(found) > limit else None
    body = MuseumPage(items=[MuseumRead.of(m) for m in page], next_cursor=next_cursor)
    return _cached(request, body, PUBLIC_LIST)


@router.get("/museums/{museum_id}", response_model=MuseumRead, tags=["museums"], responses=_ERRORS)
async def get_museum(request: Request, museum_id: str, store: Store) -> Response:
    museum = await handlers.get_museum(store=store, museum_id=museum_id)
    return _cached(request, MuseumRead.of(museum), PUBLIC_ITEM)


@router.patch(
    "/museums/{museum_id}", response_model=MuseumRead, tags=["museums"], responses=_ERRORS
)
async def update_museum(
    museum_id: str, body: MuseumUpdate, actor: CurrentPrincipal, store: Store
) -> MuseumRead:
    museum = await handlers.revise_museum(
        store=store,
        actor=actor,
        museum_id=museum_id,
        changes=_changes(body, MuseumUpdate.NULLABLE),
    )
    return MuseumRead.of(museum)


@router.get(
    "/museums/{museum_id}/products", response_model=ProductPage, tags=["museums"], responses=_ERRORS
)
async def museum_products(
    request: Request,
    museum_id: str,
    store: Store,
    index: Index,
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Response:
    """The museum's page: its sellable products, newest first."""
    await handlers.get_museum(store=store, museum_id=museum_id)
    items, next_cursor = await product_search.search_products(
        store=store,
        index=index,
        q=None,
        sort="newest",
        limit=limit,
        cursor=cursor,
        museum_id=museum_id,
    )
    body = ProductPage(items=[ProductRead.of(p) for p in items], next_cursor=next_cursor)
    return _cached(request, body, PUBLIC_LIST)


# --- relics ----------------------------------------------------------------------


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
    changes = _changes(body, RelicUpdate.NULLABLE)
    if "site" in changes:
        changes["site"] = body.site.to_domain() if body.site else None
    if "images" in changes:
        changes["images"] = [i.to_domain() for i in body.images or []]
    if "provenance" in changes:
        changes["provenance"] = body.provenance.to_domain() if body.provenance else None
    return changes


@router.post(
    "/relics", status_code=201, response_model=RelicRead, tags=["relics"], responses=_ERRORS
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
    responses={**_ERRORS, 413: {"description": "The file is too large"}},
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
    return _cached(request, body, PUBLIC_LIST)


@router.get("/relics/{relic_id}", response_model=RelicRead, tags=["relics"], responses=_ERRORS)
async def get_relic(request: Request, relic_id: str, store: Store) -> Response:
    relic = await handlers.get_relic(store=store, relic_id=relic_id)
    return _cached(request, RelicRead.of(relic), PUBLIC_ITEM)


@router.patch("/relics/{relic_id}", response_model=RelicRead, tags=["relics"], responses=_ERRORS)
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
    responses=_ERRORS,
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
    "/relics/{relic_id}/products", response_model=ProductPage, tags=["relics"], responses=_ERRORS
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
    items, next_cursor = await product_search.search_products(
        store=store,
        index=index,
        q=None,
        sort="newest",
        limit=limit,
        cursor=cursor,
        relic_id=relic_id,
    )
    body = ProductPage(items=[ProductRead.of(p) for p in items], next_cursor=next_cursor)
    return _cached(request, body, PUBLIC_LIST)


# --- products --------------------------------------------------------------------


@router.post(
    "/products", status_code=201, response_model=ProductRead, tags=["products"], responses=_ERRORS
)
async def create_product(
    body: ProductCreate,
    actor: CurrentPrincipal,
    store: Store,
    index: Index,
) -> ProductRead:
    """A draft under a license the catalog knows. It must fall inside the
    license's scope (relics, category, channel, territory, a term not over):
    otherwise 409 problem+json naming the `rule`."""
    product = await handlers.create_product(store=store, actor=actor, values=body.model_dump())
    index.invalidate()
    return ProductRead.of(product)


@router.get("/products", response_model=ProductPage, tags=["products"], responses=_ERRORS)
async def search_products(
    request: Request,
    store: Store,
    index: Index,
    q: Annotated[str | None, Query(max_length=200)] = None,
    museum_id: Annotated[str | None, Query(max_length=100)] = None,
    relic_id: Annotated[str | None, Query(max_length=100)] = None,
    category: Annotated[str | None, Query(max_length=200)] = None,
    min_price_fen: Annotated[int | None, Query(ge=0)] = None,
    max_price_fen: Annotated[int | None, Query(ge=0)] = None,
    in_stock: bool | None = None,
    sort: SortOrder = "relevance",
    limit: Limit = 20,
    cursor: CursorParam = None,
) -> Response:
    """Search sellable products in Chinese or English, filter, sort, page."""
    items, next_cursor = await product_search.search_products(
        store=store,
        index=index,
        q=q,
        sort=sort,
        limit=limit,
        cursor=cursor,
        museum_id=museum_id,
        relic_id=relic_id,
        category=category,
        min_price_fen=min_price_fen,
        max_price_fen=max_price_fen,
        in_stock=in_stock,
    )
    body = ProductPage(items=[ProductRead.of(p) for p in items], next_cursor=next_cursor)
    return _cached(request, body, PUBLIC_LIST)


@router.get(
    "/products/{product_id}", response_model=ProductRead, tags=["products"], responses=_ERRORS
)
async def get_product(
    request: Request, product_id: str, store: Store, index: Index, actor: OptionalPrincipal
) -> Response:
    product = await handlers.visible_product(
        store=store, index=index, actor=actor, product_id=product_id
    )
    cache = PUBLIC_ITEM if product.status != "draft" else "private, no-cache"
    return _cached(request, ProductRead.of(product), cache)


@router.patch(
    "/products/{product_id}", response_model=ProductRead, tags=["products"], responses=_ERRORS
)
async def update_product(
    product_id: str,
    body: ProductUpdate,
    actor: CurrentPrincipal,
    store: Store,
    index: Index,
) -> ProductRead:
    """A new `category` must be one the product's license allows (else 409
    problem+json, `rule` = category)."""
    product = await handlers.revise_product(
        store=store,
        actor=actor,
        product_id=product_id,
        changes=_changes(body, ProductUpdate.NULLABLE),
    )
    index.invalidate()
    return ProductRead.of(product)


@router.post(
    "/products/{product_id}/activate",
    response_model=ProductRead,
    tags=["products"],
    responses=_ERRORS,
)
async def activate_product(
    product_id: str,
    actor: CurrentPrincipal,
    store: Store,
    index: Index,
) -> ProductRead:
    """Put a product on sale; only while its license is active and the product
    falls inside the license's scope (else 409 problem+json; an out-of-scope
    product's problem names the `rule`: relics, category, channel, territory,
    term)."""
    product = await handlers.activate_product(store=store, actor=actor, product_id=product_id)
    index.invalidate()
    return ProductRead.of(product)


@router.post(
    "/products/{product_id}/retire",
    response_model=ProductRead,
    tags=["products"],
    responses=_ERRORS,
)
async def retire_product(
    product_id: str,
    actor: CurrentPrincipal,
    store: Store,
    index: Index,
) -> ProductRead:
    product = await handlers.retire_product(store=store, actor=actor, product_id=product_id)
    index.invalidate()
    return ProductRead.of(product)


@router.put(
    "/products/{product_id}/stock",
    response_model=ProductRead,
    tags=["stock"],
    responses=_ERRORS,
)
async def set_stock(
    product_id: str,
    body: StockSet,
    actor: CurrentPrincipal,
    store: Store,
    index: Index,
) -> ProductRead:
    product = await handlers.set_stock(
        store=store, actor=actor, product_id=product_id, stock=body.stock
    )
    index.invalidate()
    return ProductRead.of(product)


@router.post(
    "/products/{product_id}/stock/adjustments",
    response_model=ProductRead,
    tags=["stock"],
    responses=_ERRORS,
)
async def adjust_stock(
    product_id: str,
    body: StockAdjust,
    actor: CurrentPrincipal,
    store: Store,
    index: Index,
) -> ProductRead:
    """Add to or take from the stock atomically; never below zero (422)."""
    product = await handlers.adjust_stock(
        store=store, actor=actor, product_id=product_id, delta=body.delta
    )
    index.invalidate()
    return ProductRead.of(product)
