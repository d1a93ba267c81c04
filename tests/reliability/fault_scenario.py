"""One fault scenario under load: a licensed product of its own, checkout
offered at a fixed rate while a fault happens, then, after recovery, the
end state checked against what the scenario itself placed and paid.

The end state: every order PAID, REJECTED, or CANCELLED with any approved
payment reversed; exactly the orders placed (one per Idempotency-Key) and one
`order.paid` per paid order; catalog's stock, ip's museum balance and ledger,
and the museum's dashboard (gross, units, orders, royalties) equal the
figures computed here, to the fen, once every consumer has caught up."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from servicekit.auth import Role
from tests.ip.conftest import token as ip_token
from tests.orders.helpers import token
from tests.reliability.checkout_load import Arrival, CheckoutLoad, OrderFeed, describe
from tests.reliability.helpers import licensed_product
from tests.reliability.platform import Platform, group_caught_up
from tests.support import eventually

__all__ = ["PRICE_FEN", "RATE_BPS", "FaultScenario", "Figures"]

PRICE_FEN = 2_615  # 10 % of it is 261.5: half-even rounding shows in the royalties
RATE_BPS = 1_000
PENDING = "pending"  # sent to the provider, no verdict yet
REPAY_AFTER_S = 10.0  # a payment still undecided this long: the storefront looks again


@dataclass(frozen=True)
class Figures:
    """What the scenario expects, computed from its own arrivals."""

    paid: int
    rejected: int
    cancelled: int
    units: int
    gross_fen: int
    royalty_fen: int
    stock_left: int


class FaultScenario:
    def __init__(self, platform: Platform, label: str, stock: int) -> None:
        self.platform = platform
        self.label = label
        self.stock = stock
        operator = token(Role.OPERATOR)
        self.catalog = platform["catalog"].client(operator)
        self.orders = platform["orders"].client(operator)
        self.ip = platform["ip"].client(operator)
        self.product: dict[str, Any] = {}
        self.feed = OrderFeed(platform.infra.kafka_bootstrap)
        self.load: CheckoutLoad | None = None
        self.figures: Figures | None = None  # set by verify()
        self._looked_at: dict[str, float] = {}

    async def __aenter__(self) -> FaultScenario:
        try:
            await self.feed.__aenter__()
            self.product = await licensed_product(
                self.catalog,
                self.ip,
                self.orders,
                stock=self.stock,
                price_fen=PRICE_FEN,
                rate_bps=RATE_BPS,
            )
        except BaseException:
            await self.__aexit__()
            raise
        self.load = CheckoutLoad(
            orders_url=self.platform["orders"].url,
            product_id=self.product["id"],
            feed=self.feed,
            label=self.label,
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.load is not None:
            await self.load.aclose()  # cancels what is still running
        await self.feed.__aexit__()
        for client in (self.catalog, self.orders, self.ip):
            await client.aclose()

    @property
    def museum_id(self) -> str:
        return str(self.product["museum_id"])

    # --- load and fault ---------------------------------------------------------

    async def run(
        self,
        *,
        rate: float,
        seconds: float,
        fault_after: float,
        fault: Callable[[], Awaitable[str]],
    ) -> str:
        """Offer checkout for `seconds`; `fault_after` seconds in, the fault.
        Returns the fault's own account of itself."""
        assert self.load is not None

        async def delayed() -> str:
            await asyncio.sleep(fault_after)  # when the fault strikes, not a wait for an effect
            return await fault()

        _, said = await asyncio.gather(self.load.offer(rate=rate, seconds=seconds), delayed())
        return said

    async def settle(self, *, timeout: float) -> float:
        """Wait (bounded) until every arrival's order has ended: paid, rejected
        or cancelled. Returns the seconds it took."""
        assert self.load is not None
        load = self.load
        started = time.monotonic()

        async def settled() -> bool:
            if errors := load.errors():
                raise AssertionError(f"{len(errors)} checkouts failed: {errors[:5]}")
            waiting = load.unsettled()
            await self._pay_again(waiting)
            return not waiting

        try:
            await eventually(settled, timeout=timeout, interval=0.5, what="every order settled")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {await self._unsettled_report()}") from None
        return time.monotonic() - started

    async def _pay_again(self, waiting: list[Arrival]) -> None:
        """A storefront whose payment failed (declined, or given up on) offers
        to pay again; one still pending is left alone: its verdict is coming."""
        assert self.load is not None
        now = time.monotonic()
        for a in waiting:
            if a.order_id is None or a.paid_answered_at is None:
                continue
            if now - a.paid_answered_at < REPAY_AFTER_S:
                continue
            if now - self._looked_at.get(a.order_id, 0.0) < 3:
                continue
            self._looked_at[a.order_id] = now
            response = await self.orders.get(f"/orders/{a.order_id}")
            if response.status_code != 200:
                continue
            order = response.json()
            if order["status"] == "CONFIRMED" and not any(
                p["status"] == PENDING for p in order["payments"]
            ):
                a.paid_answered_at = None
                await self.load.pay(a)

    async def _unsettled_report(self) -> str:
        assert self.load is not None
        waiting = self.load.unsettled()
        lines = []
        for a in waiting[:10]:
            if a.order_id is None:
                lines.append(f"#{a.n}: never placed")
                continue
            response = await self.orders.get(f"/orders/{a.order_id}")
            state = describe(response.json()) if response.status_code == 200 else response.text
            lines.append(f"#{a.n}: {state}; events {self.feed.kinds(a.order_id)}")
        return f"{len(waiting)} of {len(self.load.arrivals)} unsettled: " + "; ".join(lines)

    # --- the end state ------------------------------------------------------------

    async def verify(self) -> Figures:
        """Check the end state; returns the figures it checked against."""
        assert self.load is not None
        arrivals = self.load.arrivals
        ids = [a.order_id for a in arrivals]
        assert None not in ids, "every checkout placed its order"
        assert len(set(ids)) == len(arrivals), "one order per checkout"
        final = await self._orders_in_end_state({str(i) for i in ids})
        figures = self._figures(final)
        for a in arrivals:
            assert a.order_id is not None
            kinds = self.feed.kinds(a.order_id)
            paid = 1 if final[a.order_id]["status"] == "PAID" else 0
            assert kinds.get("placed") == 1, (a.order_id, kinds)
            assert kinds.get("paid", 0) == paid, (a.order_id, kinds)  # one order.paid at most
        await self._figures_shown(figures, timeout=120)
        # nothing in flight any more: a late duplicate would show now
        for name, (group, topics) in self.platform.groups().items():
            await self._caught_up(name, group, topics)
        await self._figures_shown(figures, timeout=0)
        await self._ledger_holds_one_accrual_per_paid_order(final)
        self.figures = figures
        return figures

    async def _caught_up(self, name: str, group: str, topics: list[str]) -> None:
        bootstrap = self.platform.infra.kafka_bootstrap

        async def done() -> bool:
            return await group_caught_up(bootstrap, group, topics)

        await eventually(done, timeout=60, interval=0.5, what=f"{name} caught up")

    async def _orders_in_end_state(self, ids: set[str]) -> dict[str, dict[str, Any]]:
        """orders' own list (operator, every page): exactly the placed orders,
        each in an end state with its money straight."""
        found: dict[str, dict[str, Any]] = {}
        problems: list[str] = []

        async def ended() -> bool:
            found.clear()
            found.update(await self._orders_of_product())
            problems[:] = [p for order in found.values() if (p := _end_state_problem(order))]
            if set(found) != ids:
                problems.append(f"orders listed {len(found)}, placed {len(ids)}")
            return not problems

        try:
            await eventually(ended, timeout=60, interval=1, what="orders in an end state")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {problems[:10]}") from None
        return found

    async def _orders_of_product(self) -> dict[str, dict[str, Any]]:
        pid = self.product["id"]
        found: dict[str, dict[str, Any]] = {}
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = await self.orders.get("/orders", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            for order in body["items"]:
                if any(line["product_id"] == pid for line in order["lines"]):
                    assert order["order_id"] not in found, "an order listed twice"
                    found[order["order_id"]] = order
            cursor = body["next_cursor"]
            if not cursor:
                return found

    def _figures(self, final: dict[str, dict[str, Any]]) -> Figures:
        assert self.load is not None
        by_status: Counter[str] = Counter(o["status"] for o in final.values())
        paid = [a for a in self.load.arrivals if final[str(a.order_id)]["status"] == "PAID"]
        for a in paid:  # what orders took is what this scenario ordered
            assert final[str(a.order_id)]["paid_fen"] == a.quantity * PRICE_FEN, a.order_id
        units = sum(a.quantity for a in paid)
        return Figures(
            paid=len(paid),
            rejected=by_status["REJECTED"],
            cancelled=by_status["CANCELLED"],
            units=units,
            gross_fen=units * PRICE_FEN,
            # one line per order: its royalty, rounded half-even (ip's rule)
            royalty_fen=sum(
                round(Fraction(a.quantity * PRICE_FEN * RATE_BPS, 10_000)) for a in paid
            ),
            stock_left=self.stock - units,
        )

    async def _figures_shown(self, expected: Figures, *, timeout: float) -> None:
        """catalog's stock, ip's balances and the museum's dashboard equal
        the expected figures (waiting up to `timeout`; 0: they must already)."""
        seen: dict[str, Any] = {}
        want = {
            "stock": expected.stock_left,
            "balance_fen": expected.royalty_fen,  # what the museum is owed
            "payable_fen": expected.royalty_fen,  # what the licensee owes
            "gross_fen": expected.gross_fen,
            "units": expected.units,
            "orders": expected.paid,
            "royalty_accrued_fen": expected.royalty_fen,
        }
        museum = self.museum_id
        analytics = self.platform["analytics"]

        async def shown() -> bool:
            stock = await self.catalog.get(f"/products/{self.product['id']}")
            balance = await self.ip.get(f"/holders/{museum}/balance")
            payables = await self.ip.get(
                f"/licensees/{self.product['licensee_id']}/payables", params={"limit": 1}
            )
            async with analytics.client(ip_token(Role.MUSEUM, museum_id=museum)) as client:
                dashboard = await client.get(f"/museums/{museum}/dashboard")
            for response in (stock, balance, payables, dashboard):
                assert response.status_code == 200, response.text
            totals = dashboard.json()["totals"]
            seen.update(
                stock=stock.json()["stock"],
                balance_fen=balance.json()["balance_fen"],
                payable_fen=payables.json()["balance"]["balance_fen"],
                **{k: totals[k] for k in ("gross_fen", "units", "orders", "royalty_accrued_fen")},
            )
            return seen == want

        if timeout == 0:
            assert await shown(), f"after catching up: saw {seen}, expected {want}"
            return
        try:
            await eventually(shown, timeout=timeout, interval=1, what="exact figures")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: saw {seen}, expected {want}") from None

    async def _ledger_holds_one_accrual_per_paid_order(
        self, final: dict[str, dict[str, Any]]
    ) -> None:
        ledger = await self.ip.get(f"/holders/{self.museum_id}/ledger", params={"limit": 5000})
        assert ledger.status_code == 200, ledger.text
        postings = ledger.json()["postings"]
        accruals = Counter(p["order_id"] for p in postings if p["kind"] == "accrual")
        paid = Counter(i for i, o in final.items() if o["status"] == "PAID")
        assert accruals == paid, "one accrual per paid order, none doubled or missing"
        trial = await self.ip.get("/ledger/trial-balance")
        assert trial.status_code == 200, trial.text
        assert trial.json()["total_fen"] == 0


def _end_state_problem(order: dict[str, Any]) -> str | None:
    """Why an order is not in an acceptable end state (None: it is)."""
    statuses = Counter(p["status"] for p in order["payments"])
    if statuses[PENDING]:
        return f"a payment still pending: {describe(order)}"
    if order["status"] == "PAID":
        if statuses["captured"] != 1 or order["paid_fen"] != order["total_fen"]:
            return f"paid other than once: {describe(order)}"
        return None
    if order["status"] in ("REJECTED", "CANCELLED"):
        # an approved payment of an order that did not sell is given back
        return f"money kept: {describe(order)}" if statuses["captured"] else None
    return f"not ended: {describe(order)}"
