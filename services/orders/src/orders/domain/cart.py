"""The server-side cart: lines of orderable products, closed once checked out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orders.domain.values import (
    Product,
)
from orders.errors import (
    ProductNotOrderable,
)

__all__ = [
    "Cart",
    "CartLine",
]


@dataclass(frozen=True)
class CartLine:
    product_id: str
    quantity: int


@dataclass
class Cart:
    cart_id: str
    owner: str | None  # a tourist's subject; None for a guest cart (the id is the secret)
    lines: list[CartLine]
    created_at: datetime
    updated_at: datetime
    order_id: str | None = None  # set once checked out
    rev: int = 0

    @property
    def open(self) -> bool:
        return self.order_id is None

    def set_quantity(self, product: Product | None, product_id: str, quantity: int) -> None:
        if product is None or not product.orderable:
            raise ProductNotOrderable([product_id])
        kept = [ln for ln in self.lines if ln.product_id != product_id]
        self.lines = [*kept, CartLine(product_id, quantity)]

    def remove(self, product_id: str) -> None:
        self.lines = [ln for ln in self.lines if ln.product_id != product_id]
