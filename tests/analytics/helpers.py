"""Shared helpers of the analytics integration tests: tokens and dashboard reads."""

from __future__ import annotations

from typing import Any

from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]

from servicekit.auth import Principal, Role, TokenService
from servicekit.settings import ServiceSettings
from tests.analytics.scenario import DAY, NEXT, Scenario, caught_up
from tests.support import eventually

TOKENS = TokenService(ServiceSettings())
OPERATOR = TOKENS.mint(Principal("ops-1", Role.OPERATOR))
RANGE = {"from": DAY.isoformat(), "to": NEXT.isoformat()}


def museum_token(museum_id: str) -> str:
    return TOKENS.mint(Principal(f"staff-{museum_id}", Role.MUSEUM, museum_id=museum_id))


def live_group(service: Any, version: int = 1) -> str:
    return f"{service.env['KAFKA_CONSUMER_GROUP']}-v{version}"


async def dashboard(service: Any, museum_id: str, **params: str) -> dict[str, Any]:
    async with service.client(museum_token(museum_id)) as client:
        response = await client.get(f"/museums/{museum_id}/dashboard", params={**RANGE, **params})
        assert response.status_code == 200, response.text
        return response.json()


async def wait_for_totals(service: Any, scenario: Scenario, timeout: float = 30) -> dict:
    """Until the dashboard shows the script's totals and the group caught up."""
    expected = scenario.expected_totals()

    async def matches() -> bool:
        totals = (await dashboard(service, scenario.museum_id))["totals"]
        return all(totals[k] == v for k, v in expected.items())

    await eventually(matches, timeout=timeout, what="dashboard totals match the script")
    # an event updates its documents one by one: let the last ones land too
    bootstrap = service.env["KAFKA_BOOTSTRAP_SERVERS"]
    await eventually(lambda: caught_up(bootstrap, live_group(service)), what="caught up")
    return await dashboard(service, scenario.museum_id)


async def group_members(bootstrap: str, group: str) -> int:
    """How many members the consumer group has now."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    # each group: (error_code, group, state, protocol_type, protocol, members)
    return sum(len(g[5]) for g in described[0].groups) if described else 0
