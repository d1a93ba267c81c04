"""Stock reservation rules, free of I/O: an order's lines merged per
product, and which lines cannot be reserved as things stand, and why."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from catalog.errors import InvalidChange
from contracts.catalog import StockRejection

__all__ = [
    "Line",
    "LineRejection",
    "ProductState",
    "RejectionReason",
    "check_lines",
    "merge_lines",
    "rejection_for",
]


@dataclass(frozen=True)
class Line:
    product_id: str
    quantity: int


@dataclass(frozen=True)
class ProductState:
    sellable: bool
    stock: int


RejectionReason = Literal["insufficient", "unsellable", "unknown_product"]


@dataclass(frozen=True)
class LineRejection:
    product_id: str
    requested: int
    available: int
    reason: RejectionReason

    def to_contract(self) -> StockRejection:
        return StockRejection(
            product_id=self.product_id,
            requested=self.requested,
            available=self.available,
            reason=self.reason,
        )


def merge_lines(lines: Iterable[tuple[str, int]]) -> list[Line]:
    """One line per product (quantities summed), in first-seen order."""
    totals: dict[str, int] = {}
    for product_id, quantity in lines:
        if quantity <= 0:
            raise InvalidChange("quantities must be positive")
        totals[product_id] = totals.get(product_id, 0) + quantity
    return [Line(p, q) for p, q in totals.items()]


def rejection_for(line: Line, state: ProductState | None) -> LineRejection | None:
    if state is None:
        return LineRejection(line.product_id, line.quantity, 0, "unknown_product")
    if not state.sellable:
        return LineRejection(line.product_id, line.quantity, 0, "unsellable")
    if state.stock < line.quantity:
        return LineRejection(line.product_id, line.quantity, max(state.stock, 0), "insufficient")
    return None


def check_lines(
    lines: Iterable[Line], states: Mapping[str, ProductState | None]
) -> list[LineRejection]:
    """Every line that cannot be reserved as things stand, and why."""
    return [r for line in lines if (r := rejection_for(line, states.get(line.product_id)))]
