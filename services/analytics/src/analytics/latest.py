"""Rules that keep the latest state of catalog and ip entities (museums,
relics, products, assets): the names and facts a dashboard shows beside its
figures. Each is one document by the entity's id, overwritten with `$set`."""

from __future__ import annotations

from typing import Any

from analytics.changes import ASSETS, MUSEUMS, PRODUCTS, RELICS, Changes
from contracts.catalog import (
    MuseumRegistered,
    MuseumUpdated,
    ProductPriceChanged,
    ProductPublished,
    ProductRetired,
    ProductUnsellable,
    ProductUpdated,
    RelicRegistered,
    RelicUpdated,
)
from contracts.ip import AssetOpened, OwnershipChanged

__all__ = ["asset", "museum", "product", "relic"]


def museum(event: MuseumRegistered | MuseumUpdated, out: Changes) -> None:
    out.add(MUSEUMS, event.museum_id, set=event.model_dump(mode="python"))


def relic(event: RelicRegistered | RelicUpdated, out: Changes) -> None:
    data = event.model_dump(mode="python")
    out.add(RELICS, event.relic_id, set=data)


def product(
    event: ProductPublished
    | ProductUpdated
    | ProductPriceChanged
    | ProductRetired
    | ProductUnsellable,
    out: Changes,
) -> None:
    p = event.product
    out.add(
        PRODUCTS,
        event.product_id,
        set={
            "product_id": p.product_id,
            "sku": p.sku,
            "title_zh": p.title_zh,
            "title_en": p.title_en,
            "category": p.category,
            "price_fen": p.price_fen,
            "relic_ids": list(p.relic_ids),
            "museum_ids": list(p.museum_ids),
            "license_id": p.license_id,
            "licensee_id": p.licensee_id,
            "status": p.status,
            "sellable": p.sellable,
            "version": p.version,
        },
    )


def asset(event: AssetOpened | OwnershipChanged, out: Changes) -> None:
    shares = [s.model_dump() for s in event.shares]
    if isinstance(event, AssetOpened):
        data: dict[str, Any] = {
            "asset_id": event.asset_id,
            "relic_id": event.relic_id,
            "museum_id": event.museum_id,
            "shares": shares,
        }
    else:
        data = {"asset_id": event.asset_id, "shares": shares, "effective_at": event.effective_at}
    out.add(ASSETS, event.asset_id, set=data)
