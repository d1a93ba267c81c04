"""The catalog's replica of ip's licenses (kept from license events, once per
event): what products may be made and sold under. Read by `_id`."""

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from catalog.docs import aware
from catalog.filters import by_id
from catalog.licensing import License, LicenseScope, LicenseStatus
from servicekit.consumer import EventMeta
from servicekit.idempotency import apply_once

__all__ = [
    "LicenseReplica",
]

Doc = dict[str, Any]


class LicenseReplica:
    licenses: AsyncCollection[Doc]  # set by CatalogStore

    async def license(self, license_id: str) -> License | None:
        doc = await self.licenses.find_one(by_id(license_id))
        if doc is None or "status" not in doc:
            return None
        scope = None
        if "categories" in doc:  # kept since the scope rule; older replicas lack it
            scope = LicenseScope(
                categories=frozenset(doc["categories"]),
                territory=doc["territory"],
                channels=frozenset(doc["channels"]),
                starts_at=aware(doc["starts_at"]),
                ends_at=aware(doc["ends_at"]),
            )
        return License(
            id=doc["_id"],
            licensee_id=doc["licensee_id"],
            museum_id=doc["museum_id"],
            status=doc["status"],
            relic_ids=list(doc.get("relic_ids", [])),
            scope=scope,
        )

    async def record_license(
        self,
        meta: EventMeta,
        *,
        license_id: str,
        licensee_id: str,
        museum_id: str,
        status: LicenseStatus,
        relic_ids: list[str] | None,
        scope: LicenseScope | None = None,
    ) -> None:
        """Status always; relics and scope when the event carries them (a
        grant), so a later grant with a narrower scope replaces them."""
        fields: Doc = {
            "licensee_id": licensee_id,
            "museum_id": museum_id,
            "status": status,
            "updated_at": datetime.now(UTC),
        }
        if relic_ids is not None:
            fields["relic_ids"] = relic_ids
        if scope is not None:
            fields |= {
                "categories": sorted(scope.categories),
                "territory": scope.territory,
                "channels": sorted(scope.channels),
                "starts_at": scope.starts_at,
                "ends_at": scope.ends_at,
            }
        await apply_once(self.licenses, license_id, meta, {"$set": fields})
