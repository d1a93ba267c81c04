"""Every hot query shape of every service is served by `_id` on the real
store: the local FerretDB's `explain` says `filterPushdown: true` for each
(on MongoDB: its winning plan is not a collection scan). The shapes come from
each service's `hot_queries.py`, built by the functions its store uses."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient

from servicekit.queries import HotQuery
from tests.conftest import Infra
from tests.support import unique

pytestmark = pytest.mark.infra

MODULES = (
    "servicekit.hot_queries",
    "catalog.hot_queries",
    "orders.hot_queries",
    "ip.hot_queries",
    "analytics.hot_queries",
)
SHAPES: list[HotQuery] = [
    shape for module in MODULES for shape in importlib.import_module(module).HOT_QUERIES
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def db(infra: Infra):
    client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    database = client[unique("shapes").replace("-", "_")]
    for collection in {shape.collection for shape in SHAPES}:  # the tables must exist
        await database[collection].insert_many([{"_id": f"row-{n}"} for n in range(3)])
    yield database
    await client.close()


def _uses_an_index(plan: dict[str, Any]) -> bool:
    if "filterPushdown" in plan:  # FerretDB
        return bool(plan["filterPushdown"])
    return "COLLSCAN" not in str(plan.get("queryPlanner", {}).get("winningPlan"))


def test_every_service_declares_its_hot_queries() -> None:
    assert {s.name.split(":")[0] for s in SHAPES} >= {"relay"}
    assert len(SHAPES) > len(MODULES)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s.collection}: {s.name}")
@pytest.mark.asyncio(loop_scope="module")
async def test_the_store_serves_the_shape_by_id(db, shape: HotQuery) -> None:
    plan = await db.command("explain", {"find": shape.collection, "filter": dict(shape.filter)})
    assert _uses_an_index(plan), plan
