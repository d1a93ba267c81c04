"""Faults under load (issue 25, item 5): tourists check out at about half the
platform's measured capacity (open loop: POST /orders with an
Idempotency-Key, then, once confirmed, a payment with the approving sandbox
card; a failed POST is sent again with the same key) through real catalog,
orders, ip and analytics processes on real Kafka and the real store, while

- each service in turn is killed with SIGKILL and started again, as a
  supervisor would, after a short backoff;
- the broker is stopped and started;
- the store is stopped and started;
- orders is killed between a payment's acceptance by the provider and its
  webhook.

Each ends, after recovery (bounded waits), with every order PAID, REJECTED,
or CANCELLED with its payment given back; exactly the orders placed, one
`order.paid` per paid order; catalog's stock, ip's museum balance and
ledger, and the museum's dashboard exact to the fen against the figures the
scenario computes from what it placed and paid. What each scenario observed
is reported (tests.reliability.helpers.measured), never asserted.

The platform is started once for the module; each scenario sells its own
licensed product (its own museum, so its balance and dashboard are its own).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest
from localstack import LocalStack

from tests.conftest import Infra
from tests.reliability.capacity import measure_capacity
from tests.reliability.fault_scenario import FaultScenario
from tests.reliability.helpers import measured, wait_ready
from tests.reliability.platform import SERVICES, Platform, bench_capacity
from tests.support import ServiceProcess

pytestmark = [pytest.mark.infra]

LOAD_S = 20.0  # checkout offered this long in every scenario
FAULT_AFTER_S = 5.0  # the fault strikes this far into the load
RESTART_BACKOFF_S = 1.0  # a supervisor's pause before it starts a crashed service again
OUTAGE_S = 8.0  # how long the broker or the store stays down
SETTLE_S = 240.0  # bound on recovery (reconciliation waits a minute by default)
WEBHOOK_DELAY_S = 2.0  # the sandbox holds each webhook this long in the last scenario


@pytest.fixture(scope="module")
def platform(infra: Infra) -> Iterator[Platform]:
    started = Platform.start(infra)
    yield started
    started.stop()


@pytest.fixture(scope="module")
def offered_rate(platform: Platform) -> float:
    """Half the platform's capacity: `make bench`'s figure when it left one in
    docs/bench/capacity.json; without it, a short ramp measures it here."""
    capacity = bench_capacity()
    how = "docs/bench/capacity.json (make bench)"
    if capacity is None:
        capacity, how = asyncio.run(measure_capacity(platform))
    rate = max(capacity / 2, 0.5)
    measured(
        "faults under load", f"capacity {capacity:.1f} confirmed/s, {how}; offered {rate:.2f}/s"
    )
    return rate


@pytest.fixture
def healthy(platform: Platform) -> Platform:
    platform.heal()  # an earlier scenario that failed mid-fault may have left one down
    return platform


def _stock(rate: float) -> int:
    return round(rate * LOAD_S) * 2 + 100  # every checkout can be served: none rejected


def _report(label: str, scenario: FaultScenario, fault: str, settled: float) -> None:
    load = scenario.load
    assert load is not None
    figures = scenario.figures
    assert figures is not None
    measured(
        label,
        f"{len(load.arrivals)} checkouts offered over {LOAD_S:.0f}s; {fault}; "
        f"{figures.paid} paid, {figures.rejected} rejected, {figures.cancelled} cancelled, "
        f"settled {settled:.1f}s after the load ended and the fault was over; "
        f"{load.summary()}; gross {figures.gross_fen} fen, royalty {figures.royalty_fen} fen, "
        f"stock {figures.stock_left} (figures exact)",
    )


async def _run(
    platform: Platform, rate: float, scenario: FaultScenario, fault: Callable[[], Awaitable[str]]
) -> str:
    """The load with the fault in it; returns once both are over and every
    service answers /readyz again."""
    said = await scenario.run(rate=rate, seconds=LOAD_S, fault_after=FAULT_AFTER_S, fault=fault)
    await platform.ready()
    return said


async def _restart(process: ServiceProcess) -> float:
    """Start a killed service again as a supervisor would; returns the seconds
    from now until it is ready."""
    begun = time.monotonic()
    await asyncio.sleep(RESTART_BACKOFF_S)  # the supervisor's backoff, not a wait for an effect
    await asyncio.to_thread(process.start)
    await wait_ready(process)
    return time.monotonic() - begun


@pytest.mark.asyncio
@pytest.mark.parametrize("service", SERVICES)
async def test_kill_9_of_a_service_under_load_loses_and_doubles_nothing(
    healthy: Platform, offered_rate: float, service: str
) -> None:
    label = f"kill -9 {service} under load"
    async with FaultScenario(healthy, label, stock=_stock(offered_rate)) as scenario:

        async def fault() -> str:
            healthy[service].kill()
            back_in = await _restart(healthy[service])
            return f"{service} killed {FAULT_AFTER_S:.0f}s in, ready again {back_in:.1f}s later"

        said = await _run(healthy, offered_rate, scenario, fault)
        settled = await scenario.settle(timeout=SETTLE_S)
        await scenario.verify()
    _report(label, scenario, said, settled)


@pytest.mark.asyncio
@pytest.mark.stack_control
async def test_broker_restart_under_load_loses_and_doubles_nothing(
    healthy: Platform, offered_rate: float, stack: LocalStack
) -> None:
    label = "broker restart under load"
    async with FaultScenario(healthy, label, stock=_stock(offered_rate)) as scenario:

        async def fault() -> str:
            await asyncio.to_thread(stack.stop_kafka)
            stopped = time.monotonic()
            await asyncio.sleep(OUTAGE_S)  # the outage itself
            await asyncio.to_thread(stack.start_kafka)
            await asyncio.to_thread(stack.wait_kafka)
            return f"Kafka unavailable {time.monotonic() - stopped:.1f}s"

        said = await _run(healthy, offered_rate, scenario, fault)
        settled = await scenario.settle(timeout=SETTLE_S)
        await scenario.verify()
    _report(label, scenario, said, settled)


@pytest.mark.asyncio
@pytest.mark.stack_control
async def test_store_restart_under_load_loses_and_doubles_nothing(
    healthy: Platform, offered_rate: float, stack: LocalStack
) -> None:
    label = "store restart under load"
    async with FaultScenario(healthy, label, stock=_stock(offered_rate)) as scenario:

        async def fault() -> str:
            await asyncio.to_thread(stack.stop_mongo)
            stopped = time.monotonic()
            await asyncio.sleep(OUTAGE_S)  # the outage itself
            await asyncio.to_thread(stack.start_mongo)
            await asyncio.to_thread(stack.wait_mongo)
            return f"FerretDB unavailable {time.monotonic() - stopped:.1f}s"

        said = await _run(healthy, offered_rate, scenario, fault)
        settled = await scenario.settle(timeout=SETTLE_S)
        await scenario.verify()
    _report(label, scenario, said, settled)


@pytest.mark.asyncio
async def test_orders_killed_between_payment_acceptance_and_webhook_settles_every_payment(
    healthy: Platform, offered_rate: float
) -> None:
    """The sandbox holds each webhook WEBHOOK_DELAY_S after it accepts a
    charge, so killing orders right after a payment POST is answered kills it
    with approvals accepted and not yet delivered. After the restart each of
    them must still settle (the provider's persisted deliveries, or orders'
    reconciliation by `retrieve`): paid once, none lost, none doubled."""
    label = "orders killed between payment acceptance and webhook"
    orders = healthy["orders"]
    delay = "ORDERS_SANDBOX_WEBHOOK_DELAY_SECONDS"
    orders.env[delay] = str(WEBHOOK_DELAY_S)
    await asyncio.to_thread(orders.stop)
    await asyncio.to_thread(orders.start)  # a graceful restart with the wider window
    orders.env.pop(delay)  # whoever starts it next starts it as usual
    await wait_ready(orders)
    in_flight: list[str] = []
    async with FaultScenario(healthy, label, stock=_stock(offered_rate)) as scenario:
        load = scenario.load
        assert load is not None

        async def fault() -> str:
            load.payment_answered.clear()
            await asyncio.wait_for(load.payment_answered.wait(), timeout=60)
            orders.kill()  # right after an approval was accepted: its webhook is not out yet
            killed = time.monotonic()
            in_flight.extend(
                a.order_id
                for a in load.arrivals
                if a.order_id is not None
                and a.paid_answered_at is not None
                and killed - a.paid_answered_at < WEBHOOK_DELAY_S - 0.5
                and not scenario.feed.terminal(a.order_id)
            )
            back_in = await _restart(orders)
            return (
                f"orders killed with {len(in_flight)} approved payments not yet delivered, "
                f"ready again {back_in:.1f}s later"
            )

        said = await _run(healthy, offered_rate, scenario, fault)
        assert in_flight, "the kill came between an acceptance and its webhook"
        settled = await scenario.settle(timeout=SETTLE_S)
        await scenario.verify()
        final = {a.order_id: scenario.feed.terminal(str(a.order_id)) for a in load.arrivals}
        assert all(final[i] == "paid" for i in in_flight), {i: final[i] for i in in_flight}
    _report(label, scenario, said, settled)
