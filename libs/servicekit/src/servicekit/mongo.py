"""MongoDB access through PyMongo's async API.

Motor is deprecated and past end of life; `AsyncMongoClient` is its official
successor. Code here and in the services uses only what both real MongoDB and
FerretDB 1.24 support: single-document atomicity, no transactions, no change
streams, no $text, no TTL indexes, no Decimal128.
"""

import asyncio

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from servicekit.settings import ServiceSettings

__all__ = ["connect", "ping"]


def connect(settings: ServiceSettings) -> AsyncMongoClient[dict[str, object]]:
    """A lazy client: nothing connects until the first operation."""
    return AsyncMongoClient(
        settings.mongodb_url,
        tz_aware=True,
        serverSelectionTimeoutMS=2_000,
        connectTimeoutMS=2_000,
        appname=settings.service_name,
    )


async def ping(client: AsyncMongoClient[dict[str, object]], timeout: float = 1.5) -> bool:
    try:
        await asyncio.wait_for(client.admin.command("ping"), timeout)
    except (PyMongoError, TimeoutError):
        return False
    return True
