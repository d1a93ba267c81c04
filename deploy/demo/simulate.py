"""A short simulated day of tourists through the load generator (after `seed.py`).

    python deploy/demo/simulate.py [--catalog URL --orders URL --ip URL --analytics URL]
                                   [--users N] [--duration S] [--seed N] [--orders-count N]

Runs the Locust load generator (`loadgen/locustfile.py`) headless in its own
process (Locust runs on gevent, which must not patch this asyncio process):
N tourists for S seconds with a fixed seed, each browsing, searching and
viewing products in catalog, filling a cart, checking out with an
Idempotency-Key, paying with the sandbox provider's card tokens
(`tok_sandbox_approve`; now and then a `tok_sandbox_decline` first, then an
approved retry) and now and then refunding a paid order. Every third order has
a Three Gorges Museum product. With `--orders-count` the day stops ordering
after that many orders and ends once all of them are settled (paid, refunded
or rejected), at the latest after S seconds.

At the end it prints Locust's summary, then the Three Gorges Museum's dashboard
URL with a museum token (in the URL fragment, which never reaches a server), the
verify page of one licensed unit sold that day (what its certificate's QR code
opens), an operator token, three `curl` commands for the storefront API, and
how to sign in as the users `seed.py` made in Keycloak (users.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

if not __package__:  # run as a script, or imported as one by bench/: `deploy.demo` from the root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.demo.dataset import MUSEUMS
from deploy.demo.seed import (
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
from deploy.demo.users import print_sign_in

__all__ = ["SimulationResult", "main", "simulate", "three_gorges_id"]

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "loadgen" / "locustfile.py"
THREE_GORGES = next(m for m in MUSEUMS if m.key == "three-gorges")
USERS, DURATION, SEED = 20, 60.0, 20250125
# a bounded day (tests) thinks less between tasks, so it ends sooner
WAIT, BOUNDED_WAIT = "0.2,1", "0.05,0.3"


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
    requests: int = 0
    failures: int = 0
    summary: str = ""  # Locust's own


async def three_gorges_id(catalog: httpx.AsyncClient) -> str | None:
    for museum in await pages(catalog, "/museums", {}):
        if museum["name_en"] == THREE_GORGES.name_en:
            return str(museum["id"])
    return None


async def simulate(
    urls: Urls,
    *,
    orders: int | None = None,
    concurrency: int = USERS,
    duration: float = DURATION,
    tokens: Tokens | None = None,  # the operator reads the orders at the end
    seed: int = SEED,
    console: Console | None = None,
) -> SimulationResult:
    """`concurrency` Locust tourists for at most `duration` seconds (and at most
    `orders` orders, all settled, when given)."""
    console = console or Console(stderr=True)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "day.json"
        env = {
            **os.environ,
            "CATALOG_URL": urls.catalog,
            "ORDERS_URL": urls.orders,
            "LOADGEN_SEED": str(seed),
            "LOADGEN_WAIT": BOUNDED_WAIT if orders is not None else WAIT,
            "LOADGEN_REPORT": str(report),
            "LOADGEN_FEATURED_MUSEUM": THREE_GORGES.name_en,
        }
        if orders is not None:
            env["LOADGEN_MAX_ORDERS"] = str(orders)
            concurrency = min(concurrency, max(orders, 1))  # no more tourists than orders
        command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
        command += ["-u", str(concurrency), "-r", str(concurrency), "-t", f"{int(duration)}s"]
        command += ["--only-summary", "--exit-code-on-error", "0", "--stop-timeout", "10"]
        with console.status(f"a day of {concurrency} tourists (at most {duration:.0f} s) ..."):
            process = await asyncio.create_subprocess_exec(
                *command,
                cwd=ROOT,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            output = (await process.communicate())[0].decode(errors="replace")
        if process.returncode != 0 or not report.exists():
            raise SeedError(f"the load generator failed ({process.returncode}):\n{output[-3000:]}")
        day: dict[str, Any] = json.loads(report.read_text())
    orders_now = await _orders(urls, tokens or Tokens(), day["order_ids"])
    return SimulationResult(
        statuses=Counter(o["status"] for o in orders_now),
        order_ids=day["order_ids"],
        paid_fen=sum(o.get("paid_fen") or 0 for o in orders_now),
        refunded_fen=day["refunded_fen"],
        refunds=day["refunds"],
        declined_then_paid=day["declined_then_paid"],
        searches=day["searches"],
        three_gorges_id=day["three_gorges_id"],
        sample_product_id=day["sample_product_id"],
        requests=day["requests"],
        failures=day["failures"],
        summary=_summary(output),
    )


async def _orders(urls: Urls, tokens: Tokens, order_ids: list[str]) -> list[dict[str, Any]]:
    """The day's orders as orders has them now (the tourists saw only some settle)."""
    limit = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=urls.orders, timeout=30) as client:

        async def one(order_id: str) -> dict[str, Any]:
            async with limit:
                response = await call(
                    client, "GET", f"/orders/{order_id}", headers=bearer(tokens.operator())
                )
            if response.status_code != 200:
                raise SeedError(f"order {order_id}: {response.status_code} {response.text[:300]}")
            order: dict[str, Any] = response.json()
            return order

        return list(await asyncio.gather(*(one(order_id) for order_id in order_ids)))


def _summary(output: str) -> str:
    """Locust's final tables, without its log lines."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Type ")), len(lines))
    return "\n".join(line for line in lines[start:] if " INFO/" not in line).strip()


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


async def verify_url(
    urls: Urls, tokens: Tokens, order_ids: list[str], timeout: float = 60
) -> str | None:
    """The verify page of one licensed unit the day sold: the first order
    whose certificates ip has issued (ip issues them as it consumes
    `order.paid`: bounded wait), checked once through the public API."""
    found: list[str] = []
    async with httpx.AsyncClient(base_url=urls.ip, timeout=30) as client:

        async def issued() -> bool:
            for order_id in order_ids[:50]:
                response = await call(
                    client,
                    "GET",
                    f"/orders/{order_id}/certificates",
                    headers=bearer(tokens.operator()),
                )
                if response.status_code != 200:
                    continue  # not paid, no licensed line, or not consumed yet
                for cert in response.json():
                    check = await call(client, "GET", f"/certificates/{cert['serial']}")
                    if check.status_code == 200 and check.json()["status"] == "valid":
                        found.append(str(cert["page_url"]))
                        return True
            return False

        try:
            await until(issued, "a certificate of the day's orders", timeout=timeout)
        except SeedError:
            return None
    return found[0]


def yuan(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"


def print_finale(
    console: Console,
    urls: Urls,
    tokens: Tokens,
    result: SimulationResult,
    totals: Any,
    verify: str | None = None,
) -> None:
    tg = result.three_gorges_id or "<three-gorges museum id>"
    museum_token = tokens.museum(tg)
    tourist = tokens.tourist("tourist-curl")
    product = result.sample_product_id or "<product id>"
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(result.statuses.items()))
    if result.summary:
        console.print(result.summary, markup=False, highlight=False)
    if result.failures:
        console.print(f"[yellow]{result.failures} of {result.requests} requests failed[/]")
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
    console.print("\n[bold]Verify a licensed unit[/] (what its certificate's QR code opens):")
    if verify:
        console.print(verify, soft_wrap=True)
    else:
        console.print("[yellow]no certificate yet: GET /orders/{id}/certificates on ip[/]")
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
    print_sign_in(console, urls.analytics, urls.keycloak)


def main(argv: list[str] | None = None) -> int:
    parser = cli_parser("A short simulated day of tourists through the load generator.")
    parser.add_argument("--users", "--concurrency", type=int, default=USERS, help="tourists")
    parser.add_argument("--duration", type=float, default=DURATION, help="seconds, at most")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--orders-count", type=int, default=None, help="stop after this many orders, all settled"
    )
    args = parser.parse_args(argv)
    urls = urls_of(args)
    console = Console()
    tokens = Tokens()
    try:
        result = asyncio.run(
            simulate(
                urls,
                orders=args.orders_count,
                concurrency=args.users,
                duration=args.duration,
                tokens=tokens,
                seed=args.seed,
                console=console,
            )
        )
        totals = None
        if result.three_gorges_id:
            totals = asyncio.run(
                _dashboard(urls, result.three_gorges_id, tokens.museum(result.three_gorges_id))
            )
        verify = asyncio.run(verify_url(urls, tokens, result.order_ids))
    except (SeedError, httpx.HTTPError, ExceptionGroup) as error:
        for exc in leaves(error):
            if not isinstance(exc, SeedError | httpx.HTTPError):
                raise
            console.print(f"[red]simulation failed: {exc}")
        return 1
    print_finale(console, urls, tokens, result, totals, verify)
    return 0


if __name__ == "__main__":
    sys.exit(main())
