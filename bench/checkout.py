"""Checkout at a steady offered rate, open loop: sustained orders/s, placed →
confirmed, and paid → the royalty visible on the museum's dashboard.

Arrivals follow a fixed schedule (`measure.open_loop`), whether or not earlier
orders finished, and each is timed from its scheduled time. One arrival is one
tourist: `POST /orders` (one line, Idempotency-Key), then, once the order is
confirmed, `POST /orders/{id}/payments` with `tok_sandbox_approve` (the
sandbox provider's webhook marks it paid).

- placed → confirmed: the order's `confirmed_at` minus its `placed_at`, both
  stamped by orders (one machine, one clock), read from the `order.placed` /
  `order.confirmed` events on Kafka, which the harness tails (no polling load
  on orders). Also shown: scheduled → confirmed event seen, which includes any
  queueing before orders stamped `placed_at`.
- paid → dashboard: every `probe_every`-th arrival buys a probe product that
  no other order buys. The harness polls the museum's dashboard API
  (`GET /museums/{id}/dashboard?top=1000` over its last two days, one
  request at a time, back to back, at most every 100 ms) and takes, per
  probe, the time the first answer showing the probe product with royalty
  accrued *arrived*, minus `paid_at` from the `order.paid` event. That is an
  upper bound: it includes the dashboard query's own time and up to one poll
  interval.

Baseline from the same run: the trivial FastAPI route offered at the same
rate, open loop, timed from schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from measure import open_loop, percentiles

__all__ = ["run"]

SETTLE_SECONDS = 60.0  # bound on waiting for one order's confirmation or payment
POLL_SECONDS = 0.1
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _ms(later: float | None, earlier: float | None) -> float | None:
    return None if later is None or earlier is None else (later - earlier) * 1000


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


@dataclass
class Trail:
    """What the harness saw of one order (wall-clock epoch seconds)."""

    scheduled: float
    probe: str | None = None
    posted: float | None = None  # the 201 arrived
    order_id: str | None = None
    placed_at: float | None = None
    confirmed_at: float | None = None
    confirmed_seen: float | None = None
    rejected: bool = False
    paid_at: float | None = None
    visible: float | None = None  # probes: the dashboard showed its royalty
    error: str | None = None


@dataclass
class Tail:
    """Tails `orders.orders` from its end: the order events' own timestamps."""

    bootstrap: str
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    waiters: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)

    async def run(self, ready: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition("orders.orders", p) for p in range(6)]
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)
            for tp in partitions:
                await consumer.position(tp)
            ready.set()
            while True:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        self._on(record, time.time())
        finally:
            await consumer.stop()

    def _on(self, record: Any, seen: float) -> None:
        kind = dict(record.headers)["ce_type"].decode().split(".")[-2]
        body = json.loads(record.value)
        seen_by_order = self.events.setdefault(body["order_id"], {})
        seen_by_order[kind] = body | {"_seen": seen}
        waiter = self.waiters.get((body["order_id"], kind))
        if waiter is not None:
            waiter.set()

    async def wait(self, order_id: str, *kinds: str) -> str:
        """The first of `kinds` that happened to the order."""
        events = [self.waiters.setdefault((order_id, k), asyncio.Event()) for k in kinds]
        for kind in kinds:
            if kind in self.events.get(order_id, {}):
                return kind
        waits = [asyncio.create_task(e.wait()) for e in events]
        try:
            await asyncio.wait(waits, timeout=SETTLE_SECONDS, return_when="FIRST_COMPLETED")
        finally:
            for w in waits:
                w.cancel()
        for kind in kinds:
            if kind in self.events.get(order_id, {}):
                return kind
        raise TimeoutError(f"order {order_id}: none of {kinds} within {SETTLE_SECONDS}s")


def _today_and_before() -> dict[str, Any]:
    """The dashboard of the museum's last two days (Asia/Shanghai), where a
    probe sold now shows: the same query as the default 30 days, but a poll
    every 100 ms of a month's tables would itself load analytics and the
    harness (it did: ~10 % of a core each)."""
    today = datetime.now(SHANGHAI).date()
    return {"top": 1000, "from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}


async def _watch_dashboard(
    client: httpx.AsyncClient, museum_id: str, trails: list[Trail], stop: asyncio.Event
) -> list[float]:
    """Poll the dashboard until every paid probe is visible (or `stop`)."""
    durations: list[float] = []
    by_product = {t.probe: t for t in trails if t.probe}
    stopped: float | None = None
    while True:
        started = time.monotonic()
        try:
            response = await client.get(
                f"/museums/{museum_id}/dashboard", params=_today_and_before()
            )
        except httpx.TransportError:  # a connection dropped under overload: poll again
            response = None
        arrived = time.time()
        durations.append((time.monotonic() - started) * 1000)
        if response is not None and response.status_code == 200:
            for row in response.json()["top_products"]:
                trail = by_product.get(row["id"])
                if trail and trail.visible is None and row["royalty_accrued_fen"] > 0:
                    trail.visible = arrived
        if stop.is_set():
            stopped = stopped or time.monotonic()
            waiting = [t for t in by_product.values() if t.paid_at and t.visible is None]
            if not waiting or time.monotonic() - stopped > SETTLE_SECONDS:
                return durations
        await asyncio.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - started)))


async def run(
    *,
    bootstrap: str,
    orders_url: str,
    analytics_url: str,
    baseline_url: str,
    museum_id: str,
    museum_token: str,
    tourist_tokens: list[str],
    hot_ids: list[str],
    probe_ids: list[str],
    rate: float,
    seconds: float,
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    total = int(rate * seconds)
    probe_every = max(1, total // max(1, len(probe_ids)))
    trails = [Trail(scheduled=0.0) for _ in range(total)]
    probes = iter(probe_ids)
    for i in range(0, total, probe_every):
        trails[i].probe = next(probes, None)

    async with (
        httpx.AsyncClient(base_url=baseline_url, timeout=60, limits=limits) as plain,
        httpx.AsyncClient(base_url=orders_url, timeout=60, limits=limits) as shop,
        httpx.AsyncClient(
            base_url=analytics_url,
            timeout=60,
            headers={"Authorization": f"Bearer {museum_token}"},
        ) as dashboard,
    ):
        # the baseline: the trivial route at the same offered rate
        base_ms: list[float] = []
        base_errors = 0

        async def healthz(_: int, scheduled: float) -> None:
            nonlocal base_errors
            try:
                ok = (await plain.get("/healthz")).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                base_ms.append((time.time() - scheduled) * 1000)
            else:
                base_errors += 1

        base_window = await open_loop(rate, seconds, healthz)

        tail = Tail(bootstrap)
        ready = asyncio.Event()
        tailing = asyncio.create_task(tail.run(ready))
        await ready.wait()
        stop = asyncio.Event()
        watching = asyncio.create_task(_watch_dashboard(dashboard, museum_id, trails, stop))

        async def tourist(i: int, scheduled: float) -> None:
            trail = trails[i]
            trail.scheduled = scheduled
            auth = {"Authorization": f"Bearer {tourist_tokens[i % len(tourist_tokens)]}"}
            product = trail.probe or hot_ids[i % len(hot_ids)]
            stage = "POST /orders"
            try:
                placed = await shop.post(
                    "/orders",
                    json={"lines": [{"product_id": product, "quantity": 1}]},
                    headers=auth | {"Idempotency-Key": f"bench-{scheduled}-{i}"},
                )
                trail.posted = time.time()
                if placed.status_code != 201:
                    trail.error = f"POST /orders {placed.status_code}"
                    return
                order_id = trail.order_id = placed.json()["order_id"]
                stage = "confirmation"
                outcome = await tail.wait(order_id, "confirmed", "rejected")
                trail.placed_at = _epoch(tail.events[order_id]["placed"]["placed_at"])
                if outcome == "rejected":
                    trail.rejected = True
                    return
                confirmed = tail.events[order_id]["confirmed"]
                trail.confirmed_at = _epoch(confirmed["confirmed_at"])
                trail.confirmed_seen = confirmed["_seen"]
                stage = "POST payments"
                paid = await shop.post(
                    f"/orders/{order_id}/payments",
                    json={"card_token": "tok_sandbox_approve"},
                    headers=auth,
                )
                if paid.status_code != 201:
                    trail.error = f"POST payments {paid.status_code}"
                    return
                stage = "payment"
                await tail.wait(order_id, "paid")
                trail.paid_at = _epoch(tail.events[order_id]["paid"]["paid_at"])
            except (httpx.HTTPError, KeyError) as exc:
                trail.error = f"{stage}: {type(exc).__name__}"
            except TimeoutError:
                trail.error = f"{stage}: none within {SETTLE_SECONDS:g} s"

        window = await open_loop(rate, seconds, tourist)
        stop.set()
        poll_ms = await watching
        tailing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tailing

    return _summary(trails, rate, seconds, window, base_ms, base_errors, base_window, poll_ms)


def _summary(
    trails: list[Trail],
    rate: float,
    seconds: float,
    window: float,
    base_ms: list[float],
    base_errors: int,
    base_window: float,
    poll_ms: list[float],
) -> dict[str, Any]:
    def values(pairs: list[tuple[float | None, float | None]]) -> list[float]:
        return [v for later, earlier in pairs if (v := _ms(later, earlier)) is not None]

    confirmed = [t for t in trails if t.confirmed_at]
    paid = [t for t in trails if t.paid_at]
    probes = [t for t in trails if t.probe and t.paid_at]

    def per_second(stamps: list[float]) -> float:
        span = max(stamps) - min(stamps) if len(stamps) > 1 else 0
        return round((len(stamps) - 1) / span, 1) if span else 0.0

    errors: dict[str, int] = {}
    for t in trails:
        if t.error:
            errors[t.error] = errors.get(t.error, 0) + 1
    return {
        "offered_per_s": rate,
        "seconds": seconds,
        "arrivals": len(trails),
        "window_s": round(window, 1),
        "baseline_healthz_from_schedule_ms": percentiles(base_ms)
        | {"errors": base_errors, "achieved_per_s": round(len(base_ms) / base_window, 1)},
        "placed": sum(1 for t in trails if t.order_id),
        "confirmed": len(confirmed),
        "rejected": sum(1 for t in trails if t.rejected),
        "paid": len(paid),
        "errors": errors,
        "placed_per_s": per_second([t.placed_at for t in trails if t.placed_at]),
        "confirmed_per_s": per_second([t.confirmed_at for t in confirmed if t.confirmed_at]),
        "paid_per_s": per_second([t.paid_at for t in paid if t.paid_at]),
        "post_orders_from_schedule_ms": percentiles(
            values([(t.posted, t.scheduled) for t in trails if t.order_id])
        ),
        "placed_to_confirmed_ms": percentiles(
            values([(t.confirmed_at, t.placed_at) for t in confirmed])
        ),
        "scheduled_to_confirmed_seen_ms": percentiles(
            values([(t.confirmed_seen, t.scheduled) for t in confirmed])
        ),
        "paid_to_dashboard_ms": percentiles(values([(t.visible, t.paid_at) for t in probes])),
        "probes": {
            "paid": len(probes),
            "seen_on_dashboard": sum(1 for t in probes if t.visible),
            "dashboard_poll_ms": percentiles(poll_ms),
        },
    }
