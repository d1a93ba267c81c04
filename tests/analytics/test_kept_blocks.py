"""The dashboard's kept museum blocks (analytics.block_cache) against real
Kafka and FerretDB: read again with nothing new, a block is not read from the
store; a sale on a day the blocks hold reaches the top tables at once."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.analytics.helpers import OPERATOR, dashboard, live_group
from tests.analytics.scenario import DAY, Sale, Scenario, at, caught_up, publish
from tests.conftest import Infra
from tests.support import eventually, unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

BLOCK_FINDS = re.compile(
    r'^store_command_duration_seconds_count\{collection="v1_museum_blocks",command="find"\} (\S+)$',
    re.MULTILINE,
)


async def _block_finds(service: Any) -> float:
    async with service.client(OPERATOR) as client:
        found = BLOCK_FINDS.search((await client.get("/metrics")).text)
    return float(found.group(1)) if found else 0.0


def _top_tables_agree(payload: dict[str, Any], gross_fen: int) -> bool:
    """The day documents' totals and the blocks' top products, both at `gross_fen`."""
    top = sum(p["gross_fen"] for p in payload["top_products"])
    return payload["totals"]["gross_fen"] == gross_fen == top


async def test_kept_blocks_are_not_reread_and_follow_each_new_sale(
    infra: Infra, run_service
) -> None:
    service = run_service("analytics")
    scenario = Scenario.scripted_day()
    await publish(infra.kafka_bootstrap, scenario.setup_events())
    product = scenario.products[0]
    first = Sale(unique("order"), at(DAY, 15, 0), [(product, 2)])
    await publish(infra.kafka_bootstrap, scenario.sale_events(first))
    gross = product.price_fen * 2

    async def agree(expected: int) -> bool:
        return _top_tables_agree(await dashboard(service, scenario.museum_id), expected)

    await eventually(lambda: agree(gross), timeout=30, what="the first sale in both tables")
    await eventually(
        lambda: caught_up(infra.kafka_bootstrap, live_group(service)), what="caught up"
    )
    await dashboard(service, scenario.museum_id)  # keeps the blocks as they are now
    before = await _block_finds(service)
    again = await dashboard(service, scenario.museum_id)
    assert await _block_finds(service) == before  # nothing new: no block read
    assert _top_tables_agree(again, gross)

    # a sale on a day those blocks hold: its day moves past the kept copy, so
    # the next read takes the block from the store (well before any expiry)
    second = Sale(unique("order"), at(DAY, 16, 0), [(product, 3)])
    await publish(infra.kafka_bootstrap, scenario.sale_events(second))
    gross += product.price_fen * 3
    await eventually(lambda: agree(gross), timeout=10, what="the second sale in both tables")
    assert await _block_finds(service) > before
