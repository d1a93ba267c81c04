"""Licensed products: drafted under a license, activated and retired, and
sellable exactly while their license allows."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from catalog.domain.edits import apply_edits
from catalog.errors import InvalidChange, LicenseNotActive, ProductRetiredError
from catalog.licensing import (
    License,
    LicenseStatus,
    ScopeRule,
    check_scope,
    scope_breach,
)
from contracts import Event
from contracts.catalog import (
    ProductPriceChanged,
    ProductPublished,
    ProductRetired,
    ProductSnapshot,
    ProductUnsellable,
    ProductUpdated,
)

__all__ = [
    "Product",
    "ProductStatus",
]

ProductStatus = Literal["draft", "active", "retired"]

_CATEGORY_RULE: tuple[ScopeRule, ...] = ("category",)  # what a change can move out of scope
_PRODUCT_EDITABLE = frozenset(
    {"title_zh", "title_en", "description_zh", "description_en", "category", "price_fen", "images"}
)


@dataclass
class Product:
    id: str
    sku: str
    title_zh: str
    title_en: str
    description_zh: str | None
    description_en: str | None
    category: str
    price_fen: int
    images: list[str]
    relic_ids: list[str]
    museum_ids: list[str]
    license_id: str | None
    licensee_id: str | None
    created_at: datetime
    updated_at: datetime
    status: ProductStatus = "draft"
    sellable: bool = False
    unsellable_reason: str | None = None
    stock: int = 0  # read-only here: stock moves only through atomic store updates
    version: int = 1
    events: list[Event] = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.price_fen <= 0:
            raise InvalidChange("price_fen must be positive")

    def snapshot(self) -> ProductSnapshot:
        return ProductSnapshot(
            product_id=self.id,
            sku=self.sku,
            title_zh=self.title_zh,
            title_en=self.title_en,
            category=self.category,
            price_fen=self.price_fen,
            relic_ids=list(self.relic_ids),
            museum_ids=list(self.museum_ids),
            license_id=self.license_id,
            licensee_id=self.licensee_id,
            status=self.status,
            sellable=self.sellable,
            version=self.version,
        )

    def activate(self, license: License | None, now: datetime) -> bool:
        self._not_retired()
        if license is None or not license.active:
            raise LicenseNotActive(self.license_id, license.status if license else None)
        check_scope(
            license, category=self.category, relic_ids=self.relic_ids, now=now, selling=True
        )
        if self.status == "active" and self.sellable:
            return False
        self.status, self.sellable, self.unsellable_reason = "active", True, None
        self._changed(now)
        self.events.append(ProductPublished(product_id=self.id, product=self.snapshot()))
        return True

    def retire(self, now: datetime) -> bool:
        if self.status == "retired":
            return False
        was_published = self.status == "active"
        self.status, self.sellable = "retired", False
        self._changed(now)
        if was_published:
            self.events.append(ProductRetired(product_id=self.id, product=self.snapshot()))
        return True

    def revise(
        self, changes: Mapping[str, object], now: datetime, license: License | None = None
    ) -> bool:
        """`license`: the product's, to keep a changed category inside it."""
        self._not_retired()
        previous_price = self.price_fen
        price = changes.get("price_fen", previous_price)
        if not isinstance(price, int) or price <= 0:
            raise InvalidChange("price_fen must be a positive integer")
        category = changes.get("category", self.category)
        if license is not None and category != self.category:
            check_scope(
                license,
                category=str(category),
                relic_ids=self.relic_ids,
                now=now,
                selling=False,
                rules=_CATEGORY_RULE,
            )
        if not apply_edits(self, changes, _PRODUCT_EDITABLE):
            return False
        self._changed(now)
        if self.status == "draft":
            return True  # nobody outside has seen it yet
        if self.price_fen != previous_price:
            self.events.append(
                ProductPriceChanged(
                    product_id=self.id,
                    product=self.snapshot(),
                    previous_price_fen=previous_price,
                )
            )
        else:
            self.events.append(ProductUpdated(product_id=self.id, product=self.snapshot()))
        return True

    def follow_license(self, license: License, now: datetime) -> bool:
        """Sellable exactly while its license is active and the product falls
        inside the license's scope (a narrowed scope leaves it out, as a
        suspension does)."""
        if not license.active:
            return self.license_lapsed(license.status, now)
        breach = scope_breach(
            license, category=self.category, relic_ids=self.relic_ids, now=now, selling=True
        )
        if breach is not None:
            return self._unsellable(f"license_scope_{breach.rule}", now)
        return self.license_restored(now)

    def license_lapsed(self, status: LicenseStatus, now: datetime) -> bool:
        """The license stopped: the product cannot be sold from now on."""
        return self._unsellable(f"license_{status}", now)

    def _unsellable(self, reason: str, now: datetime) -> bool:
        if not self.sellable:
            return False
        self.sellable, self.unsellable_reason = False, reason
        self._changed(now)
        self.events.append(
            ProductUnsellable(product_id=self.id, product=self.snapshot(), reason=reason)
        )
        return True

    def license_restored(self, now: datetime) -> bool:
        """The license is active again: an active product is sellable again."""
        if self.status != "active" or self.sellable:
            return False
        self.sellable, self.unsellable_reason = True, None
        self._changed(now)
        self.events.append(ProductPublished(product_id=self.id, product=self.snapshot()))
        return True

    def _not_retired(self) -> None:
        if self.status == "retired":
            raise ProductRetiredError(self.id)

    def _changed(self, now: datetime) -> None:
        self.version += 1
        self.updated_at = now
