"""Use cases: commands from the API (collection imports:
catalog.relic_import; license events: catalog.licenses; order events:
catalog.stock_batch).

Every function takes its dependencies keyword-only (`store`, `now`), checks
who may act, applies the domain rule and hands the result to the store, which
writes state and events in one single-document update.
"""

import dataclasses
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from catalog.domain import License, Museum, Product, Relic
from catalog.errors import (
    ConcurrentChange,
    InvalidChange,
    MuseumNotFound,
    ProductNotFound,
    RelicNotFound,
    UnknownReference,
)
from catalog.ledger import Move
from catalog.licensing import check_scope
from catalog.search_index import SearchIndex
from catalog.store import CatalogStore
from servicekit.auth import Principal, Role, require_role
from servicekit.errors import Forbidden

__all__ = [
    "Clock",
    "activate_product",
    "add_relic_asset",
    "adjust_stock",
    "change_product",
    "create_product",
    "may_manage_museum",
    "register_museum",
    "register_relic",
    "retire_product",
    "revise_museum",
    "revise_product",
    "revise_relic",
    "set_stock",
    "utcnow",
    "visible_product",
]

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


# --- museums -----------------------------------------------------------------------


async def register_museum(
    *, store: CatalogStore, actor: Principal, values: Mapping[str, Any], now: Clock = utcnow
) -> Museum:
    require_role(actor, Role.OPERATOR)
    moment = now()
    museum = Museum.register(id=new_id("mus"), created_at=moment, updated_at=moment, **values)
    await store.add_museum(museum)
    return museum


async def get_museum(*, store: CatalogStore, museum_id: str) -> Museum:
    museum = await store.museum(museum_id)
    if museum is None:
        raise MuseumNotFound(museum_id)
    return museum


async def revise_museum(
    *,
    store: CatalogStore,
    actor: Principal,
    museum_id: str,
    changes: Mapping[str, Any],
    now: Clock = utcnow,
) -> Museum:
    require_role(actor, Role.OPERATOR)
    museum = await get_museum(store=store, museum_id=museum_id)
    expected = museum.version
    if museum.revise(changes, now()):
        await store.save_museum(museum, expected)
    return museum


# --- relics ------------------------------------------------------------------------


def may_manage_museum(actor: Principal, museum_id: str) -> None:
    require_role(actor, Role.MUSEUM, Role.OPERATOR)
    if not actor.can_act_for_museum(museum_id):
        raise Forbidden("a museum manages only its own relics")


async def register_relic(
    *, store: CatalogStore, actor: Principal, values: Mapping[str, Any], now: Clock = utcnow
) -> Relic:
    museum_id = str(values["museum_id"])
    may_manage_museum(actor, museum_id)
    if await store.museum(museum_id) is None:
        raise UnknownReference("museum", [museum_id])
    moment = now()
    relic = Relic.register(id=new_id("rel"), created_at=moment, updated_at=moment, **values)
    await store.add_relic(relic)
    return relic


async def get_relic(*, store: CatalogStore, relic_id: str) -> Relic:
    relic = await store.relic(relic_id)
    if relic is None:
        raise RelicNotFound(relic_id)
    return relic


async def _change_relic(
    store: CatalogStore, actor: Principal, relic_id: str, change: Callable[[Relic], bool]
) -> Relic:
    relic = await get_relic(store=store, relic_id=relic_id)
    may_manage_museum(actor, relic.museum_id)
    expected = relic.version
    if change(relic):
        await store.save_relic(relic, expected)
    return relic


async def revise_relic(
    *,
    store: CatalogStore,
    actor: Principal,
    relic_id: str,
    changes: Mapping[str, Any],
    now: Clock = utcnow,
) -> Relic:
    return await _change_relic(store, actor, relic_id, lambda r: r.revise(changes, now()))


async def add_relic_asset(
    *, store: CatalogStore, actor: Principal, relic_id: str, asset: Any, now: Clock = utcnow
) -> Relic:
    def add(relic: Relic) -> bool:
        relic.add_asset(asset, now())
        return True

    return await _change_relic(store, actor, relic_id, add)


# --- products ----------------------------------------------------------------------


def _may_manage_product(actor: Principal, licensee_id: str | None) -> None:
    require_role(actor, Role.LICENSEE, Role.OPERATOR)
    if actor.is_operator:
        return
    if licensee_id is None or not actor.can_act_for_licensee(licensee_id):
        raise Forbidden("a licensee manages only its own products")


async def create_product(
    *, store: CatalogStore, actor: Principal, values: Mapping[str, Any], now: Clock = utcnow
) -> Product:
    require_role(actor, Role.LICENSEE, Role.OPERATOR)
    license_id = str(values["license_id"])
    license = await store.license(license_id)
    if license is None:
        raise UnknownReference("license", [license_id])
    _may_manage_product(actor, license.licensee_id)
    relic_ids: list[str] = list(dict.fromkeys(values["relic_ids"]))
    relics = await store.relics_by_id(relic_ids)
    missing = [r for r in relic_ids if r not in relics]
    if missing:
        raise UnknownReference("relic", missing)
    moment = now()
    # inside the license: its relics, categories, channel, territory, and a
    # term not over (a draft may be prepared before the term begins)
    check_scope(
        license, category=str(values["category"]), relic_ids=relic_ids, now=moment, selling=False
    )
    museum_ids = list(dict.fromkeys(relics[r].museum_id for r in relic_ids))
    fields = {k: v for k, v in values.items() if k not in ("relic_ids", "license_id")}
    product = Product(
        id=new_id("prd"),
        relic_ids=relic_ids,
        museum_ids=museum_ids,
        license_id=license_id,
        licensee_id=license.licensee_id,
        created_at=moment,
        updated_at=moment,
        **fields,
    )
    await store.add_product(product)
    return product


def _can_see_drafts(actor: Principal | None, product: Product) -> bool:
    if actor is None:
        return False
    if actor.is_operator:
        return True
    return actor.role is Role.LICENSEE and actor.licensee_id == product.licensee_id


async def visible_product(
    *, store: CatalogStore, index: SearchIndex, actor: Principal | None, product_id: str
) -> Product:
    """Active and retired products are public; drafts only to their licensee.

    A public product comes from the search index, like a search result (as
    fresh, with no store round trip); a draft or an unknown id from the store."""
    await index.fresh(store.index_entries)
    entry = index.entries.get(product_id)
    if entry is not None and entry.product is not None and entry.product.status != "draft":
        return dataclasses.replace(entry.product, stock=index.stock.get(product_id, 0))
    product = await store.product(product_id)
    if product is None or (product.status == "draft" and not _can_see_drafts(actor, product)):
        raise ProductNotFound(product_id)
    return product


async def change_product(
    store: CatalogStore,
    product_id: str,
    change: Callable[[Product], bool],
    actor: Principal | None = None,
) -> Product:
    """Load, change, and save on the version read; retried when a concurrent
    change (a license event, another edit) got there first."""
    for _ in range(10):
        product = await store.product(product_id)
        if product is None:
            raise ProductNotFound(product_id)
        if actor is not None:
            _may_manage_product(actor, product.licensee_id)
        expected = product.version
        if not change(product):
            return product
        try:
            await store.save_product(product, expected)
        except ConcurrentChange:
            continue
        return product
    raise ConcurrentChange("product")


async def revise_product(
    *,
    store: CatalogStore,
    actor: Principal,
    product_id: str,
    changes: Mapping[str, Any],
    now: Clock = utcnow,
) -> Product:
    license: License | None = None
    if "category" in changes:  # a new category must fall inside the license
        current = await store.product(product_id)
        if current is None:
            raise ProductNotFound(product_id)
        license = await store.license(current.license_id) if current.license_id else None
    return await change_product(
        store, product_id, lambda p: p.revise(changes, now(), license), actor
    )


async def activate_product(
    *, store: CatalogStore, actor: Principal, product_id: str, now: Clock = utcnow
) -> Product:
    async def license_of(product: Product) -> License | None:
        return await store.license(product.license_id) if product.license_id else None

    current = await store.product(product_id)
    if current is None:
        raise ProductNotFound(product_id)
    license = await license_of(current)
    return await change_product(store, product_id, lambda p: p.activate(license, now()), actor)


async def retire_product(
    *, store: CatalogStore, actor: Principal, product_id: str, now: Clock = utcnow
) -> Product:
    return await change_product(store, product_id, lambda p: p.retire(now()), actor)


async def set_stock(
    *, store: CatalogStore, actor: Principal, product_id: str, stock: int
) -> Product:
    await _owned_product(store, actor, product_id)
    if stock < 0:
        raise InvalidChange("stock cannot be negative")
    await store.ledger.set_to(product_id, stock, op=new_id("set"))
    return await _owned_product(store, actor, product_id)


async def adjust_stock(
    *, store: CatalogStore, actor: Principal, product_id: str, delta: int
) -> Product:
    await _owned_product(store, actor, product_id)
    if delta == 0:
        raise InvalidChange("delta must not be zero")
    result, balance = await store.ledger.move(product_id, new_id("adj"), delta, reason="adjust")
    if result is Move.INSUFFICIENT:
        raise InvalidChange(
            f"stock is {balance}; removing {-delta} would make it negative", stock=balance
        )
    return await _owned_product(store, actor, product_id)


async def _owned_product(store: CatalogStore, actor: Principal, product_id: str) -> Product:
    product = await store.product(product_id)
    if product is None:
        raise ProductNotFound(product_id)
    _may_manage_product(actor, product.licensee_id)
    return product
