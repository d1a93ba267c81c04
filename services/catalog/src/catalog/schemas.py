"""Request and response bodies (XCreate / XUpdate / XRead / XPage)."""

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from catalog.domain import Asset, Donor, Image, Museum, Product, Provenance, Relic, SiteLocation

__all__ = [
    "AssetIn",
    "MuseumCreate",
    "MuseumPage",
    "MuseumRead",
    "MuseumUpdate",
    "ProductCreate",
    "ProductPage",
    "ProductRead",
    "ProductUpdate",
    "RelicCreate",
    "RelicPage",
    "RelicRead",
    "RelicUpdate",
    "StockAdjust",
    "StockSet",
]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=10_000)]
Uri = Annotated[str, StringConstraints(min_length=1, max_length=2_000)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=100)]
MuseumKind = Literal["museum", "gallery", "library", "archaeological_institute", "heritage_site"]
Grade = Literal["grade_1", "grade_2", "grade_3", "general"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- museums ---------------------------------------------------------------------


class MuseumCreate(_In):
    name_zh: Text
    name_en: Text
    city: Text
    province: Text
    kind: MuseumKind = "museum"
    state_owned: bool = True
    heritage_level: Text | None = None


class MuseumUpdate(_In):
    name_zh: Text | None = None
    name_en: Text | None = None
    city: Text | None = None
    province: Text | None = None
    kind: MuseumKind | None = None
    state_owned: bool | None = None
    heritage_level: Text | None = None

    NULLABLE: ClassVar[frozenset[str]] = frozenset({"heritage_level"})


class MuseumRead(BaseModel):
    id: str
    name_zh: str
    name_en: str
    city: str
    province: str
    kind: MuseumKind
    state_owned: bool
    heritage_level: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, museum: Museum) -> "MuseumRead":
        return cls.model_validate(museum, from_attributes=True)


class MuseumPage(BaseModel):
    items: list[MuseumRead]
    next_cursor: str | None


# --- relics ----------------------------------------------------------------------


class ImageIn(_In):
    uri: Uri
    caption: Text | None = None

    def to_domain(self) -> Image:
        return Image(uri=self.uri, caption=self.caption)


class DonorIn(_In):
    donor_id: Id
    name: Text


class ProvenanceIn(_In):
    acquisition: Text | None = None
    acquired_year: int | None = Field(None, ge=-3000, le=2100)
    donor: DonorIn | None = None
    notes: LongText | None = None

    def to_domain(self) -> Provenance:
        donor = Donor(self.donor.donor_id, self.donor.name) if self.donor else None
        return Provenance(self.acquisition, self.acquired_year, donor, self.notes)


class SiteIn(_In):
    address: Text
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)

    def to_domain(self) -> SiteLocation:
        return SiteLocation(self.address, self.latitude, self.longitude)


class AssetIn(_In):
    """A digital twin. `checksum` is `<algorithm>:<hex digest>`."""

    asset_id: Id | None = None
    kind: Literal["model_3d", "scan", "panorama"]
    uri: Uri
    format: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    checksum: Annotated[
        str, StringConstraints(pattern=r"^(sha256|sha512|sha1|md5):[0-9a-f]{32,128}$")
    ]
    byte_size: int = Field(gt=0)
    license: Text

    def to_domain(self, asset_id: str) -> Asset:
        return Asset(
            asset_id=self.asset_id or asset_id,
            kind=self.kind,
            uri=self.uri,
            format=self.format,
            checksum=self.checksum,
            byte_size=self.byte_size,
            license=self.license,
        )


class RelicCreate(_In):
    museum_id: Id
    name_zh: Text
    name_en: Text
    period: Text | None = None
    category: Text
    description: LongText | None = None
    protection_grade: Grade = "general"
    immovable: bool = False
    site: SiteIn | None = None
    images: list[ImageIn] = Field(default_factory=list, max_length=50)
    provenance: ProvenanceIn | None = None
    assets: list[AssetIn] = Field(default_factory=list, max_length=50)


class RelicUpdate(_In):
    name_zh: Text | None = None
    name_en: Text | None = None
    period: Text | None = None
    category: Text | None = None
    description: LongText | None = None
    protection_grade: Grade | None = None
    immovable: bool | None = None
    site: SiteIn | None = None
    images: list[ImageIn] | None = Field(None, max_length=50)
    provenance: ProvenanceIn | None = None

    NULLABLE: ClassVar[frozenset[str]] = frozenset({"period", "description", "site", "provenance"})


class _ImageRead(BaseModel):
    uri: str
    caption: str | None


class _DonorRead(BaseModel):
    donor_id: str
    name: str


class _ProvenanceRead(BaseModel):
    acquisition: str | None
    acquired_year: int | None
    donor: _DonorRead | None
    notes: str | None


class _SiteRead(BaseModel):
    address: str
    latitude: float | None
    longitude: float | None


class AssetRead(BaseModel):
    asset_id: str
    kind: str
    uri: str
    format: str
    checksum: str
    byte_size: int
    license: str


class RelicRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    museum_id: str
    name_zh: str
    name_en: str
    period: str | None
    category: str
    description: str | None
    protection_grade: str
    immovable: bool
    site: _SiteRead | None
    images: list[_ImageRead]
    provenance: _ProvenanceRead | None
    assets: list[AssetRead]
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, relic: Relic) -> "RelicRead":
        return cls.model_validate(relic, from_attributes=True)


class RelicPage(BaseModel):
    items: list[RelicRead]
    next_cursor: str | None


# --- products ----------------------------------------------------------------------


Sku = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")]


class ProductCreate(_In):
    sku: Sku
    title_zh: Text
    title_en: Text
    description_zh: LongText | None = None
    description_en: LongText | None = None
    category: Text
    price_fen: int = Field(gt=0, le=100_000_000)
    images: list[Uri] = Field(default_factory=list, max_length=20)
    relic_ids: list[Id] = Field(min_length=1, max_length=20)
    license_id: Id
    stock: int = Field(0, ge=0, le=10_000_000)


class ProductUpdate(_In):
    title_zh: Text | None = None
    title_en: Text | None = None
    description_zh: LongText | None = None
    description_en: LongText | None = None
    category: Text | None = None
    price_fen: int | None = Field(None, gt=0, le=100_000_000)
    images: list[Uri] | None = Field(None, max_length=20)

    NULLABLE: ClassVar[frozenset[str]] = frozenset({"description_zh", "description_en"})


class ProductRead(BaseModel):
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
    status: str
    sellable: bool
    unsellable_reason: str | None
    stock: int
    in_stock: bool
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, product: Product) -> "ProductRead":
        return cls(
            id=product.id,
            sku=product.sku,
            title_zh=product.title_zh,
            title_en=product.title_en,
            description_zh=product.description_zh,
            description_en=product.description_en,
            category=product.category,
            price_fen=product.price_fen,
            images=product.images,
            relic_ids=product.relic_ids,
            museum_ids=product.museum_ids,
            license_id=product.license_id,
            licensee_id=product.licensee_id,
            status=product.status,
            sellable=product.sellable,
            unsellable_reason=product.unsellable_reason,
            stock=product.stock,
            in_stock=product.stock > 0,
            version=product.version,
            created_at=product.created_at,
            updated_at=product.updated_at,
        )


class ProductPage(BaseModel):
    items: list[ProductRead]
    next_cursor: str | None


class StockSet(_In):
    stock: int = Field(ge=0, le=10_000_000)


class StockAdjust(_In):
    delta: int = Field(ge=-10_000_000, le=10_000_000)
