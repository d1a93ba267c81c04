"""The steps of `make seed` (seed.py), one per aggregate, each idempotent: it looks
for what an earlier run made before creating anything."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.progress import Progress

from deploy.demo.dataset import (
    COLLECTION_SHEET,
    Dataset,
    LicenseSpec,
    MuseumSpec,
    ProductSpec,
    RelicSpec,
)
from deploy.demo.demo_bodies import license_body, relic_body
from deploy.demo.demo_http import SeedError, Tokens, Urls, bearer, call, fail, pages, problem, until

__all__ = ["REPLICA_WAIT_SECONDS", "SeedResult", "Seeder", "Tally"]

REPLICA_WAIT_SECONDS = 300.0  # bound on the wait for orders to learn of every product
LICENSEE_LIVE = ("applied", "countered", "active", "suspended")


@dataclass
class Tally:
    created: int = 0
    existing: int = 0

    def __str__(self) -> str:
        return f"{self.created} created, {self.existing} already there"


@dataclass
class SeedResult:
    museum_ids: dict[str, str] = field(default_factory=dict)  # dataset key -> catalog id
    relic_ids: dict[str, str] = field(default_factory=dict)
    license_ids: dict[str, str] = field(default_factory=dict)  # dataset key -> ip id
    product_ids: dict[str, str] = field(default_factory=dict)  # sku -> catalog id (when known)
    museums: Tally = field(default_factory=Tally)
    relics: Tally = field(default_factory=Tally)
    licenses: Tally = field(default_factory=Tally)
    products: Tally = field(default_factory=Tally)
    collection: Tally = field(default_factory=Tally)  # the imported ledger's relics
    users: Tally = field(default_factory=Tally)  # in Keycloak
    collection_report: str = ""  # what the import said (donors, rows rejected)
    stuck_drafts: list[str] = field(default_factory=list)  # SKUs taken but not on sale
    not_yet_orderable: list[str] = field(default_factory=list)  # product ids orders lacks

    @property
    def created(self) -> int:
        tallies = (
            self.museums,
            self.relics,
            self.collection,
            self.licenses,
            self.products,
            self.users,
        )
        return sum(t.created for t in tallies)


# --- the steps -------------------------------------------------------------------------


class Seeder:
    def __init__(
        self,
        data: Dataset,
        urls: Urls,
        tokens: Tokens,
        progress: Progress,
        concurrency: int,
    ) -> None:
        self.data = data
        self.tokens = tokens
        self.progress = progress
        self.limit = asyncio.Semaphore(concurrency)
        self.result = SeedResult()
        self.catalog = httpx.AsyncClient(base_url=urls.catalog, timeout=30)
        self.ip = httpx.AsyncClient(base_url=urls.ip, timeout=30)
        self.orders = httpx.AsyncClient(base_url=urls.orders, timeout=30)

    async def close(self) -> None:
        await self.catalog.aclose()
        await self.ip.aclose()
        await self.orders.aclose()

    async def _each(
        self,
        label: str,
        items: Iterable[Any],
        step: Callable[[Any], Awaitable[None]],
        *,
        one_at_a_time: bool = False,
    ) -> None:
        todo = list(items)
        task = self.progress.add_task(label, total=len(todo))
        limit = asyncio.Semaphore(1) if one_at_a_time else self.limit

        async def one(item: Any) -> None:
            async with limit:
                await step(item)
            self.progress.advance(task)

        async with asyncio.TaskGroup() as group:
            for item in todo:
                group.create_task(one(item))

    # museums -----------------------------------------------------------------------

    async def museums(self) -> None:
        existing = {m["name_en"]: m["id"] for m in await pages(self.catalog, "/museums", {})}

        async def one(spec: MuseumSpec) -> None:
            if spec.name_en in existing:
                self.result.museum_ids[spec.key] = existing[spec.name_en]
                self.result.museums.existing += 1
                return
            body = {
                "name_zh": spec.name_zh,
                "name_en": spec.name_en,
                "city": spec.city,
                "province": spec.province,
                "kind": spec.kind,
                "heritage_level": spec.heritage_level,
            }
            response = await call(
                self.catalog, "POST", "/museums", json=body, headers=bearer(self.tokens.operator())
            )
            if response.status_code != 201:
                raise fail(f"museum {spec.name_en}", response)
            self.result.museum_ids[spec.key] = response.json()["id"]
            self.result.museums.created += 1

        # one at a time: a handful, created in the dataset's order
        await self._each("museums", self.data.museums, one, one_at_a_time=True)

    # relics ------------------------------------------------------------------------

    async def relics(self) -> None:
        found: dict[tuple[str, str], str] = {}
        for key, museum_id in self.result.museum_ids.items():
            for relic in await pages(self.catalog, "/relics", {"museum_id": museum_id}):
                found.setdefault((key, relic["name_en"]), relic["id"])

        async def one(spec: RelicSpec) -> None:
            if (spec.museum, spec.name_en) in found:
                self.result.relic_ids[spec.key] = found[(spec.museum, spec.name_en)]
                self.result.relics.existing += 1
                return
            museum_id = self.result.museum_ids[spec.museum]
            response = await call(
                self.catalog,
                "POST",
                "/relics",
                json=relic_body(spec, museum_id),
                headers=bearer(self.tokens.museum(museum_id)),
            )
            if response.status_code != 201:
                raise fail(f"relic {spec.name_en}", response)
            self.result.relic_ids[spec.key] = response.json()["id"]
            self.result.relics.created += 1

        await self._each("relics", self.data.relics, one)

    # the museum's own collection ledger ------------------------------------------------

    async def collection(self, museum_key: str = "three-gorges") -> None:
        """Import COLLECTION_SHEET for the museum through catalog's import API.
        Its two wrong rows (a grade 特级, a row without a Chinese title) are
        reported, not a failure of the seed."""
        museum_id = self.result.museum_ids.get(museum_key)
        if museum_id is None:
            return
        response = await call(
            self.catalog,
            "POST",
            "/relics:import",
            params={"museum_id": museum_id},
            content=COLLECTION_SHEET.read_bytes(),
            headers={**bearer(self.tokens.museum(museum_id)), "Content-Type": "text/csv"},
        )
        if response.status_code != 201:
            raise fail(f"collection import {COLLECTION_SHEET.name}", response)
        body = response.json()
        self.result.collection.created += body["created"]
        self.result.collection.existing += body["updated"] + body["unchanged"]
        self.result.collection_report = (
            f"{body['donors']} donors registered, {body['rejected']} rows rejected "
            f"(on purpose: {COLLECTION_SHEET.name} shows the import report)"
        )

    # ip assets and licenses --------------------------------------------------------

    async def assets(self) -> None:
        """Wait until ip opened the asset of every relic a license covers."""
        wanted = sorted({r for spec in self.data.licenses for r in spec.relics})
        museum_of = {r.key: r.museum for r in self.data.relics}

        async def one(relic_key: str) -> None:
            relic_id = self.result.relic_ids[relic_key]
            token = self.tokens.museum(self.result.museum_ids[museum_of[relic_key]])

            async def opened() -> bool:
                response = await call(
                    self.ip, "GET", f"/assets/relic-{relic_id}", headers=bearer(token)
                )
                if response.status_code not in (200, 404):
                    raise fail(f"asset of relic {relic_id}", response)
                return response.status_code == 200

            await until(opened, f"ip opening the asset of relic {relic_id}")

        await self._each("ip assets", wanted, one)

    async def licenses(self) -> None:
        async def one(spec: LicenseSpec) -> None:
            museum_id = self.result.museum_ids[spec.museum]
            asset_ids = sorted(f"relic-{self.result.relic_ids[r]}" for r in spec.relics)
            licensee = bearer(self.tokens.licensee(spec.licensee))
            museum = bearer(self.tokens.museum(museum_id))
            listed = await call(self.ip, "GET", "/licenses", headers=licensee)
            if listed.status_code != 200:
                raise fail("listing licenses", listed)
            mine = [
                lic
                for lic in listed.json()
                if lic["museum_id"] == museum_id
                and sorted(lic["asset_ids"]) == asset_ids
                and lic["exclusivity"] == spec.exclusivity
                and lic["status"] in LICENSEE_LIVE
            ]
            if mine:
                lic = mine[0]
                self.result.licenses.existing += 1
            else:
                response = await call(
                    self.ip,
                    "POST",
                    "/licenses",
                    json=license_body(spec, asset_ids),
                    headers=licensee,
                )
                if response.status_code != 201:
                    raise fail(f"license {spec.key} ({spec.licensee})", response)
                lic = response.json()
                self.result.licenses.created += 1
            if lic["status"] == "applied" and spec.approval:
                # a first-grade relic's licence: the state approval is recorded first
                number, approved_on = spec.approval
                response = await call(
                    self.ip,
                    "PUT",
                    f"/licenses/{lic['license_id']}/approval-reference",
                    json={"number": number, "approved_on": approved_on},
                    headers=museum,
                )
                if response.status_code != 200:
                    raise fail(f"approval reference of {lic['license_id']}", response)
            if lic["status"] == "applied":
                response = await call(
                    self.ip, "POST", f"/licenses/{lic['license_id']}/approve", headers=museum
                )
                if response.status_code != 200:
                    raise fail(f"approving license {lic['license_id']}", response)
                lic = response.json()
            if lic["status"] != "active":
                raise SeedError(f"license {lic['license_id']} is {lic['status']}, not active")
            self.result.license_ids[spec.key] = lic["license_id"]

        # one at a time: the grants of one museum's assets take a lease on them
        await self._each("licenses", self.data.licenses, one, one_at_a_time=True)

    # products ----------------------------------------------------------------------

    async def products(self) -> None:
        on_sale = {
            p["sku"]: p["id"] for p in await pages(self.catalog, "/products", {"sort": "newest"})
        }
        licenses = {spec.key: spec for spec in self.data.licenses}

        async def one(spec: ProductSpec) -> None:
            if spec.sku in on_sale:
                self.result.product_ids[spec.sku] = on_sale[spec.sku]
                self.result.products.existing += 1
                return
            license_spec = licenses[spec.license]
            token = self.tokens.licensee(license_spec.licensee)
            created = await self._create_product(spec, token)
            if created is None:  # the SKU is taken: an earlier run made it
                self.result.products.existing += 1
                self.result.stuck_drafts.append(spec.sku)
                return
            self.result.product_ids[spec.sku] = created["id"]
            self.result.products.created += 1
            await self._activate(created["id"], token)

        await self._each("products", self.data.products, one)

    async def _create_product(self, spec: ProductSpec, token: str) -> dict[str, Any] | None:
        body = {
            "sku": spec.sku,
            "title_zh": spec.title_zh,
            "title_en": spec.title_en,
            "description_zh": f"{spec.title_zh}：以馆藏文物为灵感的文创产品。",
            "description_en": f"{spec.title_en}: a cultural-creative product after the relic.",
            "category": spec.category,
            "price_fen": spec.price_fen,
            "relic_ids": [self.result.relic_ids[spec.relic]],
            "license_id": self.result.license_ids[spec.license],
            "stock": spec.stock,
        }
        outcome: dict[str, Any] = {}

        async def created() -> bool:
            response = await call(
                self.catalog, "POST", "/products", json=body, headers=bearer(token)
            )
            if response.status_code == 201:
                outcome["product"] = response.json()
                return True
            if response.status_code == 409 and problem(response).get("sku") == spec.sku:
                outcome["product"] = None
                return True
            if response.status_code == 422 and problem(response).get("kind") == "license":
                return False  # catalog's license replica has not seen the grant yet
            raise fail(f"product {spec.sku}", response)

        await until(created, f"catalog learning of license {body['license_id']}")
        product: dict[str, Any] | None = outcome["product"]
        return product

    async def _activate(self, product_id: str, token: str) -> None:
        async def activated() -> bool:
            response = await call(
                self.catalog, "POST", f"/products/{product_id}/activate", headers=bearer(token)
            )
            if response.status_code == 200:
                return True
            if response.status_code == 409 and "license_status" in problem(response):
                return False  # the replica has not caught up with the grant
            raise fail(f"activating product {product_id}", response)

        await until(activated, f"activating product {product_id}")

    # the storefront -------------------------------------------------------------

    async def storefront(self, timeout: float) -> None:
        """Wait (bounded) until orders' product replica has every product on sale,
        so a tourist can order it. Products still missing at the bound are
        reported, not fatal: catalog's outbox relay delivers them later."""
        deadline = time.monotonic() + timeout

        async def one(product_id: str) -> None:
            async def known() -> bool:
                response = await call(self.orders, "GET", f"/products/{product_id}")
                if response.status_code not in (200, 404):
                    raise fail(f"orders' copy of product {product_id}", response)
                return response.status_code == 200

            try:
                await until(known, "", timeout=max(0.0, deadline - time.monotonic()))
            except SeedError:
                self.result.not_yet_orderable.append(product_id)

        await self._each("storefront", sorted(self.result.product_ids.values()), one)
