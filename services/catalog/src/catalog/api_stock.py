"""Routes of a product's stock: set it, or adjust it atomically. Thin:
parse, call a use case, render."""

from fastapi import APIRouter

from catalog import handlers
from catalog.api_common import ERRORS
from catalog.deps import Index, Store
from catalog.schemas import ProductRead, StockAdjust, StockSet
from servicekit.auth import CurrentPrincipal

__all__ = ["router"]

router = APIRouter()


@router.put(
    "/products/{product_id}/stock",
    response_model=ProductRead,
    tags=["stock"],
    responses=ERRORS,
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
    responses=ERRORS,
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
