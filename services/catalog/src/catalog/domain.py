"""The catalog's rules, free of I/O: museums, relics, products (licenses:
catalog.licensing; stock reservations: catalog.reservations, both
re-exported here). Entities record the events a change causes in `events`;
the store writes them in the same single-document update (the outbox)."""

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Literal

from catalog.errors import InvalidChange, LicenseNotActive, ProductRetiredError
from catalog.licensing import (
    License,
    LicenseChange,
    LicenseStatus,
    ScopeRule,
    check_scope,
    next_license_status,
    scope_breach,
)
from catalog.reservations import (
    Line,
    LineRejection,
    ProductState,
    RejectionReason,
    check_lines,
    merge_lines,
    rejection_for,
)
from contracts import Event
from contracts.catalog import (
    DonorRef,
    MuseumRegistered,
    MuseumUpdated,
    ProductPriceChanged,
    ProductPublished,
    ProductRetired,
    ProductSnapshot,
    ProductUnsellable,
    ProductUpdated,
    RelicRegistered,
    RelicUpdated,
)

__all__ = [
    "Asset",
    "Donor",
    "Image",
    "License",
    "LicenseChange",
    "LicenseStatus",
    "Line",
    "LineRejection",
    "Museum",
    "Product",
    "ProductState",
    "ProductStatus",
    "ProtectionGrade",
    "RejectionReason",
    "Provenance",
    "Relic",
    "SiteLocation",
    "check_lines",
    "merge_lines",
    "next_license_status",
    "rejection_for",
]

MuseumKind = Literal["museum", "gallery", "library", "archaeological_institute", "heritage_site"]
ProtectionGrade = Literal["grade_1", "grade_2", "grade_3", "general"]
AssetKind = Literal["model_3d", "scan", "panorama"]
ProductStatus = Literal["draft", "active", "retired"]


# --- museums -------------------------------------------------------------------


@dataclass
class Museum:
    id: str
    name_zh: str
    name_en: str
    city: str
    province: str
    kind: MuseumKind
    state_owned: bool
    heritage_level: str | None
    created_at: datetime
    updated_at: datetime
    version: int = 1
    events: list[Event] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def register(cls, **values: object) -> "Museum":
        museum = cls(**values)  # type: ignore[arg-type]
        museum.events.append(MuseumRegistered(**museum._event_fields()))
        return museum

    def revise(self, changes: Mapping[str, object], now: datetime) -> bool:
        if not _apply(self, changes, _MUSEUM_EDITABLE):
            return False
        self.version += 1
        self.updated_at = now
        self.events.append(MuseumUpdated(**self._event_fields()))
        return True

    def _event_fields(self) -> dict[str, object]:
        return {
            "museum_id": self.id,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "city": self.city,
            "province": self.province,
            "kind": self.kind,
            "state_owned": self.state_owned,
            "heritage_level": self.heritage_level,
        }


_MUSEUM_EDITABLE = frozenset(
    {"name_zh", "name_en", "city", "province", "kind", "state_owned", "heritage_level"}
)


# --- relics --------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    uri: str
    caption: str | None = None


@dataclass(frozen=True)
class Donor:
    donor_id: str
    name: str


@dataclass(frozen=True)
class Provenance:
    acquisition: str | None = None  # excavation, donation, purchase, transfer ...
    acquired_year: int | None = None
    donor: Donor | None = None
    notes: str | None = None


@dataclass(frozen=True)
class SiteLocation:
    address: str
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class Asset:
    """A digital twin: a 3D model, a high-resolution scan or a panorama."""

    asset_id: str
    kind: AssetKind
    uri: str
    format: str
    checksum: str
    byte_size: int
    license: str


@dataclass
class Relic:
    id: str
    museum_id: str
    name_zh: str
    name_en: str
    period: str | None
    category: str
    description: str | None
    protection_grade: ProtectionGrade
    immovable: bool
    site: SiteLocation | None
    images: list[Image]
    provenance: Provenance | None
    assets: list[Asset]
    created_at: datetime
    updated_at: datetime
    version: int = 1
    events: list[Event] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def register(cls, **values: object) -> "Relic":
        relic = cls(**values)  # type: ignore[arg-type]
        relic._check()
        relic.events.append(RelicRegistered(**relic._event_fields()))
        return relic

    def revise(self, changes: Mapping[str, object], now: datetime) -> bool:
        if not _apply(self, changes, _RELIC_EDITABLE):
            return False
        self._check()
        self.version += 1
        self.updated_at = now
        self.events.append(RelicUpdated(**self._event_fields()))
        return True

    def add_asset(self, asset: Asset, now: datetime) -> None:
        if any(a.asset_id == asset.asset_id for a in self.assets):
            raise InvalidChange(f"asset {asset.asset_id!r} already exists on this relic")
        self.assets = [*self.assets, asset]
        self.version += 1
        self.updated_at = now
        self.events.append(RelicUpdated(**self._event_fields()))

    def _check(self) -> None:
        if self.immovable and self.site is None:
            raise InvalidChange("an immovable relic needs a site location")
        if not self.immovable and self.site is not None:
            raise InvalidChange("only immovable relics have a site location")
        ids = [a.asset_id for a in self.assets]
        if len(ids) != len(set(ids)):
            raise InvalidChange("asset ids must be unique within a relic")

    def _event_fields(self) -> dict[str, object]:
        donor = self.provenance.donor if self.provenance else None
        return {
            "relic_id": self.id,
            "museum_id": self.museum_id,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "period": self.period,
            "category": self.category,
            "protection_grade": self.protection_grade,
            "immovable": self.immovable,
            "donor": DonorRef(donor_id=donor.donor_id, name=donor.name) if donor else None,
        }


_RELIC_EDITABLE = frozenset(
    {
        "name_zh",
        "name_en",
        "period",
        "category",
        "description",
        "protection_grade",
        "immovable",
        "site",
        "images",
        "provenance",
    }
)


# --- products ------------------------------------------------------------------

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
        if not _apply(self, changes, _PRODUCT_EDITABLE):
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


def _apply(entity: object, changes: Mapping[str, object], editable: frozenset[str]) -> bool:
    """Set the editable fields that differ; True when anything changed."""
    names = {f.name for f in fields(entity)}  # type: ignore[arg-type]
    changed = False
    for name, value in changes.items():
        if name not in editable or name not in names:
            raise InvalidChange(f"{name!r} cannot be changed")
        if getattr(entity, name) != value:
            setattr(entity, name, value)
            changed = True
    return changed
