"""Routes of products: draft, search, read, revise, activate, retire.
Thin: parse, call a use case, render."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from catalog import handlers, product_search
from catalog.api_common import (
    ERRORS,
    PUBLIC_ITEM,
    PUBLIC_LIST,
    CursorParam,
    Limit,
    cached,
    changes_of,
)
from catalog.deps import Index, Store
from catalog.schemas import ProductCreate, ProductPage, ProductRead, ProductUpdate
from catalog.search import SortOrder
from servicekit.auth import CurrentPrincipal, OptionalPrincipal

__all__ = ["router"]

router = APIRouter()


@router.post(
    "/products", status_code=201, response_model=ProductRead, tags=["products"], responses=ERRORS
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


@router.get("/products", response_model=ProductPage, tags=["products"], responses=ERRORS)
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
    return cached(request, body, PUBLIC_LIST)


@router.get(
    "/products/{product_id}", response_model=ProductRead, tags=["products"], responses=ERRORS
)
async def get_product(
    request: Request, product_id: str, store: Store, index: Index, actor: OptionalPrincipal
) -> Response:
    product = await handlers.visible_product(
        store=store, index=index, actor=actor, product_id=product_id
    )
    cache = PUBLIC_ITEM if product.status != "draft" else "private, no-cache"
    return cached(request, ProductRead.of(product), cache)


@router.patch(
    "/products/{product_id}", response_model=ProductRead, tags=["products"], responses=ERRORS
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
        changes=changes_of(body, ProductUpdate.NULLABLE),
    )
    index.invalidate()
    return ProductRead.of(product)


@router.post(
    "/products/{product_id}/activate",
    response_model=ProductRead,
    tags=["products"],
    responses=ERRORS,
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
    responses=ERRORS,
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
