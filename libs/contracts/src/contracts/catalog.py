"""Events published by the catalog service.

Product events carry the whole sellable snapshot and a per-product `version`
that grows with every change, so a replica (orders keeps one) can apply them
idempotently and ignore stale ones.
"""

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import Event

__all__ = [
    "DonorRef",
    "MuseumRegistered",
    "MuseumUpdated",
    "ProductPriceChanged",
    "ProductPublished",
    "ProductRetired",
    "ProductSnapshot",
    "ProductUnsellable",
    "ProductUpdated",
    "RelicRegistered",
    "RelicUpdated",
    "StockLine",
    "StockRejected",
    "StockRejection",
    "StockReleased",
    "StockReserved",
]

MuseumKind = Literal["museum", "gallery", "library", "archaeological_institute", "heritage_site"]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- museums -----------------------------------------------------------------


class _MuseumEvent(Event):
    TOPIC: ClassVar[str] = "catalog.museums"
    KEY_FIELD: ClassVar[str] = "museum_id"
    museum_id: str
    name_zh: str
    name_en: str
    city: str
    province: str
    kind: MuseumKind
    state_owned: bool
    heritage_level: str | None = None


class MuseumRegistered(_MuseumEvent):
    """A heritage institution joined the platform."""

    TYPE: ClassVar[str] = "rebirth.catalog.museum.registered.v1"


class MuseumUpdated(_MuseumEvent):
    """A museum's details changed (the event carries all of them)."""

    TYPE: ClassVar[str] = "rebirth.catalog.museum.updated.v1"


# --- relics ------------------------------------------------------------------


class DonorRef(_Part):
    donor_id: str
    name: str


class _RelicEvent(Event):
    TOPIC: ClassVar[str] = "catalog.relics"
    KEY_FIELD: ClassVar[str] = "relic_id"
    relic_id: str
    museum_id: str
    name_zh: str
    name_en: str
    period: str | None = None
    category: str
    protection_grade: str
    immovable: bool = False
    donor: DonorRef | None = None


class RelicRegistered(_RelicEvent):
    """A relic was registered; ip opens an IP asset for it (museum 100 %)."""

    TYPE: ClassVar[str] = "rebirth.catalog.relic.registered.v1"


class RelicUpdated(_RelicEvent):
    """A relic's details changed (the event carries all of them)."""

    TYPE: ClassVar[str] = "rebirth.catalog.relic.updated.v1"


# --- products ----------------------------------------------------------------


class ProductSnapshot(_Part):
    product_id: str
    sku: str
    title_zh: str
    title_en: str
    category: str
    price_fen: int = Field(gt=0)
    relic_ids: list[str]
    museum_ids: list[str]
    license_id: str | None
    licensee_id: str | None
    status: Literal["draft", "active", "retired"]
    sellable: bool  # active, and its license is active
    version: int = Field(ge=1)  # grows with every change of this product


class _ProductEvent(Event):
    TOPIC: ClassVar[str] = "catalog.products"
    KEY_FIELD: ClassVar[str] = "product_id"
    product_id: str
    product: ProductSnapshot


class ProductPublished(_ProductEvent):
    """A product became active and sellable."""

    TYPE: ClassVar[str] = "rebirth.catalog.product.published.v1"


class ProductUpdated(_ProductEvent):
    """A product's details changed (titles, images, category, stock-independent data)."""

    TYPE: ClassVar[str] = "rebirth.catalog.product.updated.v1"


class ProductPriceChanged(_ProductEvent):
    """A product's price changed."""

    TYPE: ClassVar[str] = "rebirth.catalog.product.price_changed.v1"
    previous_price_fen: int


class ProductRetired(_ProductEvent):
    """A product left the shop for good."""

    TYPE: ClassVar[str] = "rebirth.catalog.product.retired.v1"


class ProductUnsellable(_ProductEvent):
    """A product cannot be sold: its license was suspended, revoked or expired."""

    TYPE: ClassVar[str] = "rebirth.catalog.product.unsellable.v1"
    reason: str


# --- stock (keyed by order: one reservation per order) -----------------------


class StockLine(_Part):
    product_id: str
    quantity: int = Field(gt=0)


class StockRejection(_Part):
    product_id: str
    requested: int
    available: int
    reason: Literal["insufficient", "unsellable", "unknown_product"]


class _StockEvent(Event):
    TOPIC: ClassVar[str] = "catalog.stock"
    KEY_FIELD: ClassVar[str] = "order_id"
    order_id: str


class StockReserved(_StockEvent):
    """Every line of the order is reserved."""

    TYPE: ClassVar[str] = "rebirth.catalog.stock.reserved.v1"
    lines: list[StockLine]


class StockRejected(_StockEvent):
    """Nothing was reserved; the reasons say which lines failed and why."""

    TYPE: ClassVar[str] = "rebirth.catalog.stock.rejected.v1"
    reasons: list[StockRejection]


class StockReleased(_StockEvent):
    """Reserved stock went back on the shelf (order cancelled, or refund restocked)."""

    TYPE: ClassVar[str] = "rebirth.catalog.stock.released.v1"
    lines: list[StockLine]
    reason: Literal["order_cancelled", "refund_restocked"]
    released_at: datetime
