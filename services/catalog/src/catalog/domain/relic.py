"""Relics and their parts: images, provenance (a donor), the site of an
immovable relic, and digital twins (assets)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from catalog.domain.edits import apply_edits
from catalog.errors import InvalidChange
from contracts import Event
from contracts.catalog import DonorRef, RelicRegistered, RelicUpdated

__all__ = [
    "Asset",
    "AssetKind",
    "Donor",
    "Image",
    "Provenance",
    "ProtectionGrade",
    "Relic",
    "SiteLocation",
]

ProtectionGrade = Literal["grade_1", "grade_2", "grade_3", "general"]
AssetKind = Literal["model_3d", "scan", "panorama"]


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
        if not apply_edits(self, changes, _RELIC_EDITABLE):
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
