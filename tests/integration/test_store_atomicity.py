"""The store keeps MongoDB's single-document atomicity under concurrency.

FerretDB 1.24 alone does not (an update is read, modified and written back
without a lock, so concurrent updates of one document get lost); the local
build's per-database write lock (deploy/local/ferretdb/ferretdb.patch) restores
it. Everything that must never oversell or miscount rests on this."""

import asyncio

import pytest
from pymongo import AsyncMongoClient, ReturnDocument

from tests.conftest import Infra
from tests.support import unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]


async def test_concurrent_updates_of_one_document_are_never_lost(infra: Infra) -> None:
    client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_url, maxPoolSize=64)
    try:
        items = client[unique("atomicity").replace("-", "_")]["items"]
        await items.insert_one({"_id": "counter", "n": 0})
        await items.insert_one({"_id": "stock", "left": 10})

        await asyncio.gather(
            *(items.update_one({"_id": "counter"}, {"$inc": {"n": 1}}) for _ in range(50))
        )
        assert (await items.find_one({"_id": "counter"}))["n"] == 50

        takes = await asyncio.gather(
            *(
                items.update_one({"_id": "stock", "left": {"$gte": 1}}, {"$inc": {"left": -1}})
                for _ in range(40)
            )
        )
        assert sum(t.modified_count for t in takes) == 10  # never oversold
        assert (await items.find_one({"_id": "stock"}))["left"] == 0

        seen = await asyncio.gather(
            *(
                items.find_one_and_update(
                    {"_id": "counter"}, {"$inc": {"n": 1}}, return_document=ReturnDocument.AFTER
                )
                for _ in range(30)
            )
        )
        assert sorted(doc["n"] for doc in seen) == list(range(51, 81))
    finally:
        await client.close()
