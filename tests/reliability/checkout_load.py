"""Open-loop checkout load for the fault scenarios, and a tail of the orders
topic that tells each simulated storefront when its order is decided.

An arrival is one tourist's checkout: `POST /orders` with an Idempotency-Key,
then, once the order is confirmed, `POST /orders/{id}/payments` with the
sandbox's approving card. A POST that fails (connection refused or reset
while a service is down, 429, 5xx) is sent again with the same key after a
short backoff, as a storefront would. Arrivals come on a fixed schedule
whether or not earlier ones finished (open loop), so a fault shows as queued
work, not as a slower offered rate.

Confirmations are read from `orders.orders` on Kafka rather than by polling
orders, so observing adds no load to what is observed (as bench/checkout.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped]

from contracts.orders import OrderPaid
from servicekit.auth import Role
from tests.orders.helpers import token
from tests.support import topic_partitions

__all__ = ["APPROVE", "Arrival", "CheckoutLoad", "OrderFeed"]

APPROVE = "tok_sandbox_approve"
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_FOR_S = 180.0  # a storefront gives up on one POST after this long
TERMINAL = ("paid", "rejected", "cancelled")


class OrderFeed:
    """Every event on `orders.orders` from the moment it starts: per order,
    the distinct event ids of each kind (`placed`, `confirmed`, `paid`, ...).
    Distinct ids: the relay may deliver one event twice (at least once), but
    a second `paid` id would be a second payment."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self.events: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self._changed = asyncio.Condition()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> OrderFeed:
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
        await consumer.start()
        self._consumer = consumer
        partitions = await topic_partitions(self._bootstrap, [OrderPaid.TOPIC])
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp, end in ends.items():  # explicit offsets: nothing produced from now is missed
            consumer.seek(tp, end)
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=200)
            except KafkaError:  # the broker restarting: the client reconnects
                await asyncio.sleep(0.5)
                continue
            if not batch:
                continue
            for records in batch.values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    if record.key is None or "ce_type" not in headers:
                        continue
                    kind = headers["ce_type"].split(".")[-2]
                    self.events[record.key.decode()][kind].add(headers["ce_id"])
            async with self._changed:
                self._changed.notify_all()

    def kinds(self, order_id: str) -> dict[str, int]:
        """How many distinct events of each kind the order has published."""
        return {kind: len(ids) for kind, ids in self.events.get(order_id, {}).items()}

    def terminal(self, order_id: str) -> str | None:
        seen = self.events.get(order_id, {})
        return next((kind for kind in TERMINAL if seen.get(kind)), None)

    async def verdict(self, order_id: str) -> str:
        """Wait until the order is confirmed or rejected (unbounded: the
        scenario's settle wait is the bound, and cancels what is left)."""
        async with self._changed:
            while True:
                seen = self.events.get(order_id, {})
                for kind in ("confirmed", "rejected"):
                    if seen.get(kind):
                        return kind
                await self._changed.wait()


@dataclass
class Arrival:
    """One simulated tourist and what happened to their checkout."""

    n: int
    quantity: int
    tourist: str
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: float = field(default_factory=time.monotonic)
    order_id: str | None = None
    verdict: str | None = None
    decided_at: float | None = None  # monotonic: when the feed showed the verdict
    pay_keys: list[str] = field(default_factory=list)
    paid_answered_at: float | None = None  # monotonic: the payment POST's 2xx
    error: str | None = None


class CheckoutLoad:
    """Arrivals at a fixed rate against one product; see the module docstring."""

    def __init__(self, *, orders_url: str, product_id: str, feed: OrderFeed, label: str) -> None:
        self.started_at: float | None = None  # monotonic: the first arrival
        self.product_id = product_id
        self.feed = feed
        self.label = label
        self.arrivals: list[Arrival] = []
        self.retried: Counter[str] = Counter()  # POSTs that succeeded only on a retry
        self.refused: Counter[str] = Counter()  # failed attempts, by POST and cause
        self.payment_answered = asyncio.Event()  # set on each 2xx to a payment POST
        self._tasks: list[asyncio.Task[None]] = []
        self._client = httpx.AsyncClient(
            base_url=orders_url,
            timeout=10,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()

    async def offer(self, *, rate: float, seconds: float) -> float:
        """Schedule arrivals at `rate` per second for `seconds`; returns when
        the last one is started (the earlier ones may still be running)."""
        count = max(1, round(rate * seconds))
        start = time.monotonic()
        if self.started_at is None:
            self.started_at = start
        for i in range(count):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            n = len(self.arrivals)
            arrival = Arrival(
                n=n,
                quantity=1 + n % 2,
                tourist=token(Role.TOURIST, subject=f"{self.label}-tourist-{n}"),
            )
            self.arrivals.append(arrival)
            self._tasks.append(asyncio.create_task(self._checkout(arrival)))
        return time.monotonic() - start

    async def _checkout(self, a: Arrival) -> None:
        try:
            placed = await self._post(
                "/orders",
                {"lines": [{"product_id": self.product_id, "quantity": a.quantity}]},
                a,
                a.key,
                "order",
            )
            a.order_id = str(placed["order_id"])
            a.verdict = await self.feed.verdict(a.order_id)
            a.decided_at = time.monotonic()
            if a.verdict == "confirmed":
                await self.pay(a)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # kept for the scenario's report, never swallowed
            a.error = f"{type(exc).__name__}: {exc}"

    async def pay(self, a: Arrival) -> None:
        """Pay with the approving card under a new key (`pay-<order>`, then
        `pay-<order>-2`...: a retry of one POST keeps its key, a new attempt
        after a failed payment gets a new one)."""
        assert a.order_id is not None
        key = f"pay-{a.order_id}" + (f"-{len(a.pay_keys) + 1}" if a.pay_keys else "")
        a.pay_keys.append(key)
        body = await self._post(
            f"/orders/{a.order_id}/payments", {"card_token": APPROVE}, a, key, "payment"
        )
        if body:
            a.paid_answered_at = time.monotonic()
            self.payment_answered.set()

    async def _post(
        self, path: str, body: dict[str, Any], a: Arrival, key: str, what: str
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {a.tourist}", "Idempotency-Key": key}
        deadline = time.monotonic() + RETRY_FOR_S
        delay, attempt = 0.2, 0
        while True:
            try:
                response = await self._client.post(path, json=body, headers=headers)
            except httpx.TransportError as exc:
                cause = type(exc).__name__
            else:
                if response.status_code in (200, 201):
                    if attempt:
                        self.retried[what] += 1
                    answer: dict[str, Any] = response.json()
                    return answer
                if what == "payment" and response.status_code == 409:
                    return {}  # no longer payable (e.g. cancelled): the end state tells
                if response.status_code not in RETRIED_STATUSES:
                    raise AssertionError(f"{what}: {response.status_code} {response.text}")
                cause = str(response.status_code)
            self.refused[f"{what} {cause}"] += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still refused after {RETRY_FOR_S}s ({cause})")
            await asyncio.sleep(delay)
            delay, attempt = min(delay * 2, 2.0), attempt + 1

    def unsettled(self) -> list[Arrival]:
        """Arrivals whose order has not published paid, rejected or cancelled."""
        feed = self.feed
        return [a for a in self.arrivals if a.order_id is None or not feed.terminal(a.order_id)]

    def errors(self) -> list[str]:
        return [f"#{a.n}: {a.error}" for a in self.arrivals if a.error]

    def summary(self) -> str:
        retried = ", ".join(f"{k} {v}" for k, v in sorted(self.retried.items())) or "none"
        refused = ", ".join(f"{k} x{v}" for k, v in sorted(self.refused.items())) or "none"
        return f"POSTs that needed a retry: {retried}; failed attempts: {refused}"


def describe(order: dict[str, Any]) -> str:
    """An order in one line, for failure messages."""
    payments = [(p["status"], p["provider_ref"] is not None) for p in order["payments"]]
    return json.dumps({"id": order["order_id"], "status": order["status"], "payments": payments})
