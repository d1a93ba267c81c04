"""`make seed`: load the demo dataset (dataset.py) through the public APIs.

    python deploy/demo/seed.py [--catalog URL --orders URL --ip URL --analytics URL]
                               [--relics N --products N] [--concurrency N]

Never writes to a database. Every step looks for what an earlier run made
first, so running it twice changes nothing (the second run creates nothing):

1. operator -> catalog `POST /museums` (found again by `name_en`);
2. museum   -> catalog `POST /relics` (found again by museum and `name_en`);
   a donated relic names its donor, and ip opens the relic's IP asset
   (`relic-<relic id>`) as museum 70 % / donor 30 % from `relic.registered`;
   museum -> catalog `POST /relics:import` of the Three Gorges Museum's own
   collection ledger (dataset.COLLECTION_SHEET: GB18030, grades in 级别,
   donors in 捐赠人; docs/import.md): 8 relics, 3 donors, and its 2 wrong rows
   reported on purpose. Imported again, its rows are `unchanged`;
3. waits until ip has each licensed relic's asset (`GET /assets/{id}`);
4. licensee -> ip `POST /licenses` (found again among the licensee's licenses
   by museum, assets and exclusivity); on a first-grade relic, museum ->
   `PUT /licenses/{id}/approval-reference` (the state approval); museum ->
   `POST /licenses/{id}/approve`;
5. licensee -> catalog `POST /products` with the license and its stock, once
   catalog's license replica knows the grant (until then catalog answers 422
   "unknown license"), then `POST /products/{id}/activate`. An SKU already
   taken (409) is a product an earlier run made;
6. waits (bounded) until orders' product replica has every product on sale,
   so the storefront can sell it when the seed says it is done;
7. Keycloak's admin API: the users to sign in as (users.py: one staff user per
   museum, a licensee, an operator), found again by username.

Eventual consistency is waited for with bounded polling, never fixed sleeps.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if not __package__:  # run as a script, or imported as one by bench/: `deploy.demo` from the root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.demo.dataset import Dataset, build
from deploy.demo.demo_http import SeedError, Tokens, Urls, bearer, call, pages, until
from deploy.demo.seeder import REPLICA_WAIT_SECONDS, Seeder, SeedResult, Tally
from deploy.demo.users import KeycloakClient, UsersError, admin_client, ensure_demo_users

__all__ = [
    "SeedError",
    "SeedResult",
    "Tokens",
    "Urls",
    "bearer",
    "call",
    "cli_parser",
    "leaves",
    "main",
    "pages",
    "seed",
    "until",
    "urls_of",
]


async def seed(
    urls: Urls,
    data: Dataset,
    *,
    tokens: Tokens | None = None,
    concurrency: int = 8,
    console: Console | None = None,
    replica_wait: float = REPLICA_WAIT_SECONDS,
    keycloak: KeycloakClient | None = None,
) -> SeedResult:
    """Load `data` through the public APIs, and with `keycloak` its users;
    returns what it created and found."""
    console = console or Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]{task.description:>10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    seeder = Seeder(data, urls, tokens or Tokens(), progress, concurrency)
    try:
        with progress:
            await seeder.museums()
            await seeder.relics()
            await seeder.collection()
            await seeder.assets()
            await seeder.licenses()
            await seeder.products()
            await seeder.storefront(replica_wait)
    finally:
        await seeder.close()
    if keycloak is not None:
        try:
            users = await ensure_demo_users(keycloak, seeder.result.museum_ids)
        except UsersError as exc:
            raise SeedError(str(exc)) from exc
        seeder.result.users = Tally(created=len(users.created), existing=len(users.existing))
    return seeder.result


def cli_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    defaults = Urls()
    for name in ("catalog", "orders", "ip", "analytics", "keycloak"):
        parser.add_argument(f"--{name}", default=getattr(defaults, name), metavar="URL")
    return parser


def urls_of(args: argparse.Namespace) -> Urls:
    return Urls(
        catalog=args.catalog.rstrip("/"),
        orders=args.orders.rstrip("/"),
        ip=args.ip.rstrip("/"),
        analytics=args.analytics.rstrip("/"),
        keycloak=args.keycloak.rstrip("/"),
    )


def report(result: SeedResult, console: Console) -> None:
    console.print(f"museums   {result.museums}")
    console.print(f"relics    {result.relics}")
    console.print(f"ledger    {result.collection}; {result.collection_report}")
    console.print(f"licenses  {result.licenses}")
    console.print(f"products  {result.products}")
    console.print(f"users     {result.users} (Keycloak; `make demo` prints how to sign in)")
    if result.not_yet_orderable:
        console.print(
            f"[yellow]orders does not know {len(result.not_yet_orderable)} product(s) yet "
            "(catalog's outbox relay is behind); they become orderable when it catches up"
        )
    if result.stuck_drafts:
        console.print(
            f"[yellow]{len(result.stuck_drafts)} SKU(s) exist but are not on sale (an earlier "
            f"run stopped between creating and activating them): {', '.join(result.stuck_drafts)}"
        )


def leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


def main(argv: list[str] | None = None) -> int:
    parser = cli_parser("Load the demo dataset through the public APIs (idempotent).")
    parser.add_argument("--relics", type=int, default=200, help="dataset size: relics")
    parser.add_argument("--products", type=int, default=500, help="dataset size: products")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    console = Console()
    data = build(relic_count=args.relics, product_count=args.products)
    urls = urls_of(args)
    keycloak = admin_client(urls.keycloak)
    try:
        result = asyncio.run(
            seed(urls, data, concurrency=args.concurrency, console=console, keycloak=keycloak)
        )
    except (SeedError, httpx.HTTPError, ExceptionGroup) as error:
        for exc in leaves(error):
            if not isinstance(exc, SeedError | httpx.HTTPError):
                raise
            console.print(f"[red]seed failed: {exc}")
        return 1
    report(result, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
