"""Tourists on the storefront: the platform's Locust load generator.

    make load USERS=50 DURATION=60s          # against `make up` (then `make seed`)
    .venv/bin/locust -f loadgen/locustfile.py --headless -u 50 -r 10 -t 60s

Each simulated tourist holds a development tourist token and does, with the
storefront reference apps' weights (x10, so that "refund occasionally" can be
a whole number): browse 100, search 50, view a product 100, add to cart 20,
checkout 10, pay 10, refund 3. State carries from task to task: checkout
orders the cart (putting a product in it first if it is empty), pay pays one
of the tourist's confirmed orders with the sandbox provider's card tokens
(`tok_sandbox_approve`, now and then `tok_sandbox_decline` first; the verdict
comes by webhook, so a later pay task sees it), refund refunds one of its paid
orders. Catalog and orders are two hosts: catalog is the user's `host`,
orders is reached by absolute URLs, so Locust's summary names both.

Environment:

| variable | default | |
|---|---|---|
| `CATALOG_URL`, `ORDERS_URL` | `http://127.0.0.1:8001`, `...:8002` | the services |
| `LOADGEN_SEED` | 20250125 | tourists' choices (task order still depends on timing) |
| `LOADGEN_WAIT` | `0.5,2` | think time between tasks, seconds (min,max) |
| `LOADGEN_MAX_ORDERS` | none | stop ordering after N orders and quit once all are settled |
| `LOADGEN_FEATURED_MUSEUM` | Three Gorges | every third order has one of its products |
| `LOADGEN_REPORT` | none | write what the day did as JSON there when Locust quits |

The JWT settings (`JWT_SECRET`, ...) are the services' own, read by servicekit.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from locust import HttpUser, between, events, task

from servicekit.auth import Principal, Role, TokenService
from servicekit.settings import ServiceSettings

CATALOG = os.environ.get("CATALOG_URL", "http://127.0.0.1:8001").rstrip("/")
ORDERS = os.environ.get("ORDERS_URL", "http://127.0.0.1:8002").rstrip("/")
SEED = int(os.environ.get("LOADGEN_SEED", "20250125"))
WAIT = tuple(float(s) for s in os.environ.get("LOADGEN_WAIT", "0.5,2").split(","))
MAX_ORDERS = int(os.environ["LOADGEN_MAX_ORDERS"]) if os.environ.get("LOADGEN_MAX_ORDERS") else None
FEATURED = os.environ.get("LOADGEN_FEATURED_MUSEUM", "Chongqing China Three Gorges Museum")
REPORT = os.environ.get("LOADGEN_REPORT")
RUN = uuid.uuid4().hex[:8]  # Idempotency-Keys are unique per run, whatever the seed

# the mix (the weights x10)
WEIGHTS = {
    "browse": 100,
    "search": 50,
    "view": 100,
    "add_to_cart": 20,
    "checkout": 10,
    "pay": 10,
    "refund": 3,  # acts only when the tourist has a paid order
}
SEARCHES = ["青铜", "bronze", "瓷", "porcelain", "mask", "面具", "scroll", "jade", "冰箱贴", "silk"]
APPROVE, DECLINE = "tok_sandbox_approve", "tok_sandbox_decline"
SETTLED = {"PAID", "REFUNDED", "REJECTED", "CANCELLED", "FULFILLED"}

random.seed(SEED)  # Locust picks tasks with the module-level generator
_tokens = TokenService(ServiceSettings())


@dataclass
class Day:
    """What every tourist of this process did (Locust users are greenlets of
    one process); the report of `make demo`."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    products: list[dict[str, Any]] = field(default_factory=list)
    featured_id: str | None = None
    featured: list[dict[str, Any]] = field(default_factory=list)
    numbers: itertools.count[int] = field(default_factory=itertools.count)
    placed: int = 0
    statuses: dict[str, str] = field(default_factory=dict)  # order id -> status last seen
    refunds: int = 0
    refunded_fen: int = 0
    declined_then_paid: int = 0
    searches: int = 0

    def report(self) -> dict[str, Any]:
        return {
            "order_ids": list(self.statuses),
            "statuses": self.statuses,
            "refunds": self.refunds,
            "refunded_fen": self.refunded_fen,
            "declined_then_paid": self.declined_then_paid,
            "searches": self.searches,
            "three_gorges_id": self.featured_id,
            "sample_product_id": (self.featured or self.products or [{}])[0].get("id"),
        }


DAY = Day()


def _load_products(client: Any) -> None:
    """Once per process: what is on sale, and the featured museum's share of it."""
    with DAY.lock:
        if DAY.products:
            return
        museums = client.get("/museums", params={"limit": 100}, name="/museums").json()["items"]
        DAY.featured_id = next((m["id"] for m in museums if m["name_en"] == FEATURED), None)
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"in_stock": "true", "sort": "newest", "limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/products", params=params, name="/products?in_stock").json()
            DAY.products += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        DAY.featured = [p for p in DAY.products if DAY.featured_id in p.get("museum_ids", [])]
    if not DAY.products:
        raise RuntimeError("catalog has no product in stock: run `make seed` first")


class Tourist(HttpUser):
    host = CATALOG
    wait_time = between(*WAIT)

    def on_start(self) -> None:
        _load_products(self.client)
        number = next(DAY.numbers)
        self.rng = random.Random(SEED * 1_000_003 + number)
        self.auth = {
            "Authorization": "Bearer "
            + _tokens.mint(Principal(f"loadgen-{SEED}-{number:04d}", Role.TOURIST))
        }
        self.who = f"{SEED}-{number}"
        self.seen: list[dict[str, Any]] = []  # products this tourist looked at
        self.cart_id: str | None = None
        self.cart: set[str] = set()
        self.unpaid: list[str] = []  # placed, not yet seen paid or settled
        self.paying: dict[str, str] = {}  # order id -> the card of its latest payment
        self.paid: list[str] = []
        self.requests = itertools.count()

    # --- the mix ----------------------------------------------------------

    @task(WEIGHTS["browse"])
    def browse(self) -> None:
        params: dict[str, Any] = {"limit": 20, "in_stock": "true"}
        params["sort"] = self.rng.choice(["newest", "price_asc", "price_desc"])
        found = self.client.get("/products", params=params, name="/products (browse)")
        if found.ok:
            self.seen = found.json()["items"] or self.seen

    @task(WEIGHTS["search"])
    def search(self) -> None:
        query = self.rng.choice(SEARCHES)
        params = {"q": query, "limit": 10, "in_stock": "true"}
        found = self.client.get("/products", params=params, name="/products?q=")
        if found.ok:
            self.seen = found.json()["items"] or self.seen
            with DAY.lock:
                DAY.searches += 1

    @task(WEIGHTS["view"])
    def view(self) -> None:
        product = self._pick()
        self.client.get(f"/products/{product['id']}", name="/products/{id}")

    @task(WEIGHTS["add_to_cart"])
    def add_to_cart(self) -> None:
        self._add(self._pick())

    @task(WEIGHTS["checkout"])
    def checkout(self) -> None:
        with DAY.lock:
            if MAX_ORDERS is not None and DAY.placed >= MAX_ORDERS:
                return
            number = DAY.placed
            DAY.placed += 1
        if number % 3 == 0 and DAY.featured and not self.cart & {p["id"] for p in DAY.featured}:
            self._add(self.rng.choice(DAY.featured))  # the featured museum sells every day
        elif not self.cart:
            self._add(self._pick())
        if self.cart_id is None:
            return
        placed = self.client.post(
            f"{ORDERS}/orders",
            json={"cart_id": self.cart_id},
            headers=self.auth | {"Idempotency-Key": self._key("order")},
            name="orders /orders",
        )
        if placed.status_code == 201:
            order_id = placed.json()["order_id"]
            self.unpaid.append(order_id)
            with DAY.lock:
                DAY.statuses[order_id] = "PENDING"
        self.cart_id, self.cart = None, set()

    @task(WEIGHTS["pay"])
    def pay(self) -> None:
        for order_id in list(self.unpaid):
            order = self._order(order_id)
            if order is None:
                continue
            status = order["status"]
            if status in SETTLED:
                self._settled(order_id, order)
                continue
            if status != "CONFIRMED":
                continue  # still PENDING: catalog has not reserved yet
            card = self.paying.get(order_id)
            last = order["payments"][-1]["status"] if order["payments"] else None
            if card is not None and last not in ("declined", "timed_out"):
                continue  # the provider's webhook has not come yet
            retry = card == DECLINE
            card = APPROVE if retry or self.rng.random() >= 0.1 else DECLINE
            paid = self.client.post(
                f"{ORDERS}/orders/{order_id}/payments",
                json={"card_token": card},
                headers=self.auth | {"Idempotency-Key": self._key("pay")},
                name="orders /orders/{id}/payments",
            )
            if paid.status_code == 201:
                self.paying[order_id] = card
                if retry:
                    with DAY.lock:
                        DAY.declined_then_paid += 1
            return  # one payment per task

    @task(WEIGHTS["refund"])
    def refund(self) -> None:
        if not self.paid:
            return
        order_id = self.paid.pop(self.rng.randrange(len(self.paid)))
        refunded = self.client.post(
            f"{ORDERS}/orders/{order_id}/refunds",
            json={"reason": "changed my mind", "restock": True},
            headers=self.auth | {"Idempotency-Key": self._key("refund")},
            name="orders /orders/{id}/refunds",
        )
        if refunded.status_code == 201:
            receipt = refunded.json()
            with DAY.lock:
                DAY.refunds += 1
                DAY.refunded_fen += receipt["refund"]["amount_fen"]
                DAY.statuses[order_id] = receipt["order"]["status"]

    # --- helpers ----------------------------------------------------------

    def _pick(self) -> dict[str, Any]:
        return self.rng.choice(self.seen or DAY.products)

    def _key(self, what: str) -> str:
        return f"loadgen-{RUN}-{self.who}-{what}-{next(self.requests)}"

    def _add(self, product: dict[str, Any]) -> None:
        if self.cart_id is None:
            cart = self.client.post(f"{ORDERS}/carts", headers=self.auth, name="orders /carts")
            if cart.status_code != 201:
                return
            self.cart_id = cart.json()["cart_id"]
        line = self.client.put(
            f"{ORDERS}/carts/{self.cart_id}/lines/{product['id']}",
            json={"quantity": self.rng.choice([1, 1, 1, 2])},
            headers=self.auth,
            name="orders /carts/{id}/lines/{product_id}",
        )
        if line.status_code == 200:
            self.cart.add(product["id"])

    def _order(self, order_id: str) -> dict[str, Any] | None:
        response = self.client.get(
            f"{ORDERS}/orders/{order_id}", headers=self.auth, name="orders /orders/{id}"
        )
        return response.json() if response.status_code == 200 else None

    def _settled(self, order_id: str, order: dict[str, Any]) -> None:
        self.unpaid.remove(order_id)
        self.paying.pop(order_id, None)
        if order["status"] == "PAID":
            self.paid.append(order_id)
        with DAY.lock:
            DAY.statuses[order_id] = order["status"]
            done = (
                MAX_ORDERS is not None
                and len(DAY.statuses) >= MAX_ORDERS
                and all(s in SETTLED for s in DAY.statuses.values())
            )
        if done:  # a bounded day (`make demo`, tests): every order settled
            self.environment.runner.quit()


@events.quitting.add_listener
def _write_report(environment: Any, **_: Any) -> None:
    if REPORT:
        stats = environment.stats.total
        report = DAY.report() | {"requests": stats.num_requests, "failures": stats.num_failures}
        with open(REPORT, "w", encoding="utf-8") as f:
            json.dump(report, f)
