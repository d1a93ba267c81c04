"""A short simulated day of tourists through the storefront APIs (after `seed.py`).

    python deploy/demo/simulate.py [--catalog URL --orders URL --ip URL --analytics URL]
                                   [--orders-count N] [--concurrency N]

Each visitor browses and searches products in catalog, fills a cart (or
orders lines directly), checks out with an Idempotency-Key, pays with the
sandbox provider's card tokens (`tok_sandbox_approve`; now and then a
`tok_sandbox_decline` first, then a retry that is approved) and waits for the
provider's webhook (the sandbox delivers it to orders itself). A few paid
orders are refunded, fully or a line in part. The number of orders is bounded.

At the end it prints the Three Gorges Museum's dashboard URL with a museum
token (in the URL fragment, which never reaches a server), an operator
token, and three `curl` commands for the storefront API.
"""

from __future__ import annotations

import asyncio
import random
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if __package__:
    from .dataset import MUSEUMS
    from .seed import (
        SeedError,
        Tokens,
        Urls,
        bearer,
        call,
        cli_parser,
        leaves,
        pages,
        until,
        urls_of,
    )
else:  # run as a script
    from dataset import MUSEUMS
    from seed import (
        SeedError,
        Tokens,
        Urls,
        bearer,
        call,
        cli_parser,
        leaves,
        pages,
        until,
        urls_of,
    )

__all__ = ["SimulationResult", "main", "simulate", "three_gorges_id"]

THREE_GORGES = next(m for m in MUSEUMS if m.key == "three-gorges")
SEARCHES = ["青铜", "bronze", "瓷", "porcelain", "mask", "面具", "scroll", "jade", "冰箱贴", "silk"]
APPROVE, DECLINE = "tok_sandbox_approve", "tok_sandbox_decline"
ORDER_WAIT = 60.0


@dataclass
class SimulationResult:
    statuses: Counter[str] = field(default_factory=Counter)
    order_ids: list[str] = field(default_factory=list)
    paid_fen: int = 0
    refunded_fen: int = 0
    refunds: int = 0
    declined_then_paid: int = 0
    searches: int = 0
    three_gorges_id: str | None = None
    sample_product_id: str | None = None


async def three_gorges_id(catalog: httpx.AsyncClient) -> str | None:
    for museum in await pages(catalog, "/museums", {}):
        if museum["name_en"] == THREE_GORGES.name_en:
            return str(museum["id"])
    return None


class Day:
    def __init__(self, urls: Urls, tokens: Tokens, seed: int) -> None:
        self.tokens = tokens
        self.catalog = httpx.AsyncClient(base_url=urls.catalog, timeout=30)
        self.orders = httpx.AsyncClient(base_url=urls.orders, timeout=30)
        self.result = SimulationResult()
        self.run = uuid.uuid4().hex[:8]
        self.seed = seed
        self.products: list[dict[str, Any]] = []
        self.tg_products: list[dict[str, Any]] = []
        self.replicated: set[str] = set()

    async def close(self) -> None:
        await self.catalog.aclose()
        await self.orders.aclose()

    async def load(self) -> None:
        self.result.three_gorges_id = await three_gorges_id(self.catalog)
        wanted = {"in_stock": True, "sort": "newest"}
        on_sale = await pages(self.catalog, "/products", wanted)
        if not on_sale:
            raise SeedError("catalog has no product in stock: run seed.py first")
        # only what orders' replica already has is orderable in the storefront
        await until(
            lambda: self._probe(on_sale), "orders learning of the products", timeout=ORDER_WAIT
        )
        self.products = [p for p in on_sale if p["id"] in self.replicated]
        tg = self.result.three_gorges_id
        self.tg_products = [p for p in self.products if tg in p["museum_ids"]]
        self.result.sample_product_id = (self.tg_products or self.products)[0]["id"]

    async def _probe(self, products: list[dict[str, Any]]) -> bool:
        """Which products orders knows; enough of them to shop?"""
        limit = asyncio.Semaphore(8)

        async def one(product_id: str) -> None:
            async with limit:
                response = await call(self.orders, "GET", f"/products/{product_id}")
            if response.status_code == 200 and response.json().get("orderable"):
                self.replicated.add(product_id)

        unknown = [p["id"] for p in products if p["id"] not in self.replicated]
        await asyncio.gather(*(one(product_id) for product_id in unknown))
        return len(self.replicated) >= min(len(products), 10)

    # --- one visitor ------------------------------------------------------------

    async def visit(self, n: int) -> None:
        rng = random.Random(self.seed * 1_000_003 + n)
        guest = n % 5 == 4
        headers: dict[str, str] = {}
        if not guest:
            headers = bearer(self.tokens.tourist(f"tourist-{n % 25:02d}"))
        await self._browse(rng)
        basket = self._basket(n, rng)
        for product_id, _ in basket:
            await self._on_sale_in_orders(product_id)
        order = await self._checkout(n, rng, basket, headers, guest)
        if order is None:
            return
        if guest:
            headers = {"X-Order-Token": order["order_token"]}
        order = await self._settled(order["order_id"], headers, lambda o: o["status"] != "PENDING")
        if order["status"] == "CONFIRMED":
            order = await self._pay(n, order, headers)
        if order["status"] == "PAID" and n % 9 in (3, 7):
            order = await self._refund(n, order, headers, partial=n % 9 == 7)
        self.result.statuses[order["status"]] += 1
        self.result.order_ids.append(order["order_id"])
        self.result.paid_fen += order.get("paid_fen") or 0

    async def _browse(self, rng: random.Random) -> None:
        query = rng.choice(SEARCHES)
        found = await call(self.catalog, "GET", "/products", params={"q": query, "limit": 10})
        if found.status_code != 200:
            raise SeedError(f"search {query!r}: {found.status_code} {found.text[:300]}")
        self.result.searches += 1
        items = found.json()["items"]
        if items:
            await call(self.catalog, "GET", f"/products/{rng.choice(items)['id']}")
        if self.result.three_gorges_id and rng.random() < 0.5:
            await call(
                self.catalog,
                "GET",
                f"/museums/{self.result.three_gorges_id}/products",
                params={"limit": 10},
            )

    def _basket(self, n: int, rng: random.Random) -> list[tuple[str, int]]:
        pool = self.tg_products if (n % 3 == 0 and self.tg_products) else self.products
        chosen = rng.sample(pool, k=min(len(pool), rng.choice([1, 1, 2, 3])))
        return [(p["id"], rng.choice([1, 1, 1, 2])) for p in chosen]

    async def _on_sale_in_orders(self, product_id: str) -> None:
        """Wait until orders' product replica has the published product."""
        if product_id in self.replicated:
            return

        async def replicated() -> bool:
            response = await call(self.orders, "GET", f"/products/{product_id}")
            return response.status_code == 200 and bool(response.json().get("orderable"))

        await until(replicated, f"orders learning of product {product_id}", timeout=ORDER_WAIT)
        self.replicated.add(product_id)

    async def _checkout(
        self,
        n: int,
        rng: random.Random,
        basket: list[tuple[str, int]],
        headers: dict[str, str],
        guest: bool,
    ) -> dict[str, Any] | None:
        body: dict[str, Any]
        if n % 2 == 0:  # through a cart
            cart = await call(self.orders, "POST", "/carts", headers=headers)
            if cart.status_code != 201:
                raise SeedError(f"cart: {cart.status_code} {cart.text[:300]}")
            cart_id = cart.json()["cart_id"]
            for product_id, quantity in basket:
                line = await call(
                    self.orders,
                    "PUT",
                    f"/carts/{cart_id}/lines/{product_id}",
                    json={"quantity": quantity},
                    headers=headers,
                )
                if line.status_code != 200:
                    raise SeedError(f"cart line: {line.status_code} {line.text[:300]}")
            body = {"cart_id": cart_id}
        else:
            body = {"lines": [{"product_id": p, "quantity": q} for p, q in basket]}
        if guest:
            body["email"] = f"visitor{n}@example.com"
        key = {"Idempotency-Key": f"demo-{self.run}-{n}"}
        placed = await call(self.orders, "POST", "/orders", json=body, headers=headers | key)
        if placed.status_code == 201 and rng.random() < 0.2:  # a nervous double click
            again = await call(self.orders, "POST", "/orders", json=body, headers=headers | key)
            if again.status_code != 200 or again.json()["order_id"] != placed.json()["order_id"]:
                raise SeedError(f"checkout retry made another order: {again.text[:300]}")
        if placed.status_code != 201:
            raise SeedError(f"checkout: {placed.status_code} {placed.text[:300]}")
        order: dict[str, Any] = placed.json()
        return order

    async def _settled(self, order_id: str, headers: dict[str, str], done: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        async def reached() -> bool:
            response = await call(self.orders, "GET", f"/orders/{order_id}", headers=headers)
            if response.status_code != 200:
                raise SeedError(f"order {order_id}: {response.status_code} {response.text[:300]}")
            seen.clear()
            seen.update(response.json())
            return bool(done(seen))

        await until(reached, f"order {order_id} moving on", timeout=ORDER_WAIT)
        return seen

    async def _pay(self, n: int, order: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        order_id = order["order_id"]
        cards = [DECLINE, APPROVE] if n % 11 == 5 else [APPROVE]
        for attempt, card in enumerate(cards):
            paid = await call(
                self.orders,
                "POST",
                f"/orders/{order_id}/payments",
                json={"card_token": card},
                headers=headers | {"Idempotency-Key": f"demo-{self.run}-{n}-pay-{attempt}"},
            )
            if paid.status_code != 201:
                raise SeedError(f"payment of {order_id}: {paid.status_code} {paid.text[:300]}")
            payment_id = paid.json()["payment_id"]

            def verdict(o: dict[str, Any], pid: str = payment_id) -> bool:
                state = next(p["status"] for p in o["payments"] if p["payment_id"] == pid)
                return o["status"] != "CONFIRMED" or state in ("declined", "timed_out")

            order = await self._settled(order_id, headers, verdict)
            if order["status"] == "PAID" and card == APPROVE and len(cards) == 2:
                self.result.declined_then_paid += 1
        return order

    async def _refund(
        self, n: int, order: dict[str, Any], headers: dict[str, str], *, partial: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"reason": "changed my mind", "restock": True}
        if partial:
            line = order["lines"][0]
            body = {"lines": [{"line_id": line["line_id"], "quantity": 1}], "reason": "damaged"}
        refunded = await call(
            self.orders,
            "POST",
            f"/orders/{order['order_id']}/refunds",
            json=body,
            headers=headers | {"Idempotency-Key": f"demo-{self.run}-{n}-refund"},
        )
        if refunded.status_code != 201:
            raise SeedError(f"refund: {refunded.status_code} {refunded.text[:300]}")
        receipt = refunded.json()
        self.result.refunds += 1
        self.result.refunded_fen += receipt["refund"]["amount_fen"]
        return dict(receipt["order"])


async def simulate(
    urls: Urls,
    *,
    orders: int = 60,
    concurrency: int = 8,
    tokens: Tokens | None = None,
    seed: int = 20250125,
    console: Console | None = None,
) -> SimulationResult:
    """Run `orders` visitors (at most `concurrency` at a time)."""
    console = console or Console(stderr=True)
    day = Day(urls, tokens or Tokens(), seed)
    limit = asyncio.Semaphore(concurrency)
    progress = Progress(
        TextColumn("[bold]{task.description:>10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    try:
        await day.load()
        with progress:
            task = progress.add_task("visitors", total=orders)

            async def one(n: int) -> None:
                async with limit:
                    await day.visit(n)
                progress.advance(task)

            async with asyncio.TaskGroup() as group:
                for n in range(orders):
                    group.create_task(one(n))
    finally:
        await day.close()
    return day.result


async def _dashboard(urls: Urls, museum_id: str, token: str) -> dict[str, Any] | None:
    """The museum's dashboard totals once analytics shows some sales (bounded)."""
    totals: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=urls.analytics, timeout=30) as client:

        async def shown() -> bool:
            response = await call(
                client, "GET", f"/museums/{museum_id}/dashboard", headers=bearer(token)
            )
            if response.status_code != 200:
                return False
            totals.update(response.json()["totals"])
            return int(totals.get("orders", 0)) > 0

        try:
            await until(shown, "the dashboard showing sales", timeout=30)
        except SeedError:
            return totals or None
    return totals


def yuan(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"


def print_finale(
    console: Console, urls: Urls, tokens: Tokens, result: SimulationResult, totals: Any
) -> None:
    tg = result.three_gorges_id or "<three-gorges museum id>"
    museum_token = tokens.museum(tg)
    tourist = tokens.tourist("tourist-curl")
    product = result.sample_product_id or "<product id>"
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(result.statuses.items()))
    console.print(f"\n[bold]A day of tourists[/]: {len(result.order_ids)} orders ({statuses})")
    console.print(
        f"paid {yuan(result.paid_fen)}, {result.refunds} refunds ({yuan(result.refunded_fen)}), "
        f"{result.declined_then_paid} declined card(s) retried and paid, "
        f"{result.searches} searches"
    )
    if totals:
        console.print(
            f"Three Gorges Museum dashboard: {totals.get('orders', 0)} orders, "
            f"net sales {yuan(int(totals.get('net_fen', 0)))}, "
            f"royalties {yuan(int(totals.get('royalty_net_fen', 0)))}"
        )
    console.print("\n[bold]Dashboard[/] (Chongqing China Three Gorges Museum):")
    console.print(f"{urls.analytics}/dashboard?museum={tg}#token={museum_token}", soft_wrap=True)
    console.print("\n[bold]Museum token[/] (Three Gorges):")
    console.print(museum_token, soft_wrap=True)
    console.print("\n[bold]Operator token[/]:")
    console.print(tokens.operator(), soft_wrap=True)
    console.print("\n[bold]Try the storefront API[/]:")
    commands = [
        f"curl -s --get {urls.catalog}/products --data-urlencode 'q=青铜' "
        "-d in_stock=true -d limit=3",
        f"export TOURIST='{tourist}'\n"
        f'ORDER_ID=$(curl -s -X POST {urls.orders}/orders -H "Authorization: Bearer $TOURIST" '
        '-H "Idempotency-Key: curl-$RANDOM$RANDOM" -H "Content-Type: application/json" '
        f'-d \'{{"lines":[{{"product_id":"{product}","quantity":1}}]}}\' '
        "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"order_id\"])'); "
        "echo $ORDER_ID",
        f"curl -s -X POST {urls.orders}/orders/$ORDER_ID/payments "
        '-H "Authorization: Bearer $TOURIST" -H "Content-Type: application/json" '
        '-d \'{"card_token":"tok_sandbox_approve"}\'',
    ]
    for command in commands:
        console.print(command, soft_wrap=True, markup=False, highlight=False)


def main(argv: list[str] | None = None) -> int:
    parser = cli_parser("A short simulated day of tourists through the storefront APIs.")
    parser.add_argument("--orders-count", type=int, default=60, help="visitors (one order each)")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    urls = urls_of(args)
    console = Console()
    tokens = Tokens()
    try:
        result = asyncio.run(
            simulate(
                urls,
                orders=args.orders_count,
                concurrency=args.concurrency,
                tokens=tokens,
                console=console,
            )
        )
        totals = None
        if result.three_gorges_id:
            totals = asyncio.run(
                _dashboard(urls, result.three_gorges_id, tokens.museum(result.three_gorges_id))
            )
    except (SeedError, httpx.HTTPError, ExceptionGroup) as error:
        for exc in leaves(error):
            if not isinstance(exc, SeedError | httpx.HTTPError):
                raise
            console.print(f"[red]simulation failed: {exc}")
        return 1
    print_finale(console, urls, tokens, result, totals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
