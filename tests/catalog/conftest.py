"""One catalog process per test module (a real uvicorn with its own
database and consumer group), and a Mongo client to look into its store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient

from tests.conftest import Infra
from tests.support import ServiceProcess


@pytest.fixture(scope="module")
def catalog(infra: Infra) -> Iterator[ServiceProcess]:
    service = ServiceProcess(
        "catalog",
        {
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "MONGODB_URL": infra.mongodb_url,
            "ENVIRONMENT": "test",
        },
    )
    yield service
    service.stop()


@pytest_asyncio.fixture
async def db(infra: Infra, catalog: ServiceProcess) -> AsyncIterator:
    client: AsyncMongoClient = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    yield client[catalog.env["CATALOG_MONGODB_DATABASE"]]
    await client.close()


@pytest_asyncio.fixture
async def client(catalog: ServiceProcess) -> AsyncIterator:
    async with catalog.client() as http:
        yield http
