"""Routes of museums: register, list, read, revise; a museum's products.
Thin: parse, call a use case, render."""

from fastapi import APIRouter, Request, Response

from catalog import handlers
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
    MuseumCreate,
    MuseumPage,
    MuseumRead,
    MuseumUpdate,
    ProductPage,
)
from catalog.search import decode_id_cursor, encode_id_cursor
from servicekit.auth import CurrentPrincipal

__all__ = ["router"]

router = APIRouter()


@router.post(
    "/museums", status_code=201, response_model=MuseumRead, tags=["museums"], responses=ERRORS
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
    return cached(request, body, PUBLIC_LIST)


@router.get("/museums/{museum_id}", response_model=MuseumRead, tags=["museums"], responses=ERRORS)
async def get_museum(request: Request, museum_id: str, store: Store) -> Response:
    museum = await handlers.get_museum(store=store, museum_id=museum_id)
    return cached(request, MuseumRead.of(museum), PUBLIC_ITEM)


@router.patch("/museums/{museum_id}", response_model=MuseumRead, tags=["museums"], responses=ERRORS)
async def update_museum(
    museum_id: str, body: MuseumUpdate, actor: CurrentPrincipal, store: Store
) -> MuseumRead:
    museum = await handlers.revise_museum(
        store=store,
        actor=actor,
        museum_id=museum_id,
        changes=changes_of(body, MuseumUpdate.NULLABLE),
    )
    return MuseumRead.of(museum)


@router.get(
    "/museums/{museum_id}/products", response_model=ProductPage, tags=["museums"], responses=ERRORS
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
    return await newest_products_page(
        request,
        store,
        index,
        limit=limit,
        cursor=cursor,
        cache_control=PUBLIC_LIST,
        museum_id=museum_id,
    )
