"""The catalog's rules, free of I/O: museums (catalog.domain.museum), relics
(catalog.domain.relic), products (catalog.domain.product); licenses:
catalog.licensing; stock reservations: catalog.reservations, all re-exported
here. Entities record the events a change causes in `events`; the store
writes them in the same single-document update (the outbox)."""

from catalog.domain.museum import Museum, MuseumKind
from catalog.domain.product import Product, ProductStatus
from catalog.domain.relic import (
    Asset,
    AssetKind,
    Donor,
    Image,
    ProtectionGrade,
    Provenance,
    Relic,
    SiteLocation,
)
from catalog.licensing import (
    License,
    LicenseChange,
    LicenseStatus,
    next_license_status,
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

__all__ = [
    "Asset",
    "AssetKind",
    "Donor",
    "Image",
    "License",
    "LicenseChange",
    "LicenseStatus",
    "Line",
    "LineRejection",
    "Museum",
    "MuseumKind",
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
