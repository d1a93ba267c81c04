"""The demo tools' HTTP side (seed.py, simulate.py): where the services
answer, development tokens for each actor, and requests that retry a blip,
wait for eventual consistency within a bound, and read every page."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from servicekit.auth import Principal, Role, TokenService
from servicekit.settings import ServiceSettings

__all__ = [
    "WAIT_SECONDS",
    "SeedError",
    "Tokens",
    "Urls",
    "bearer",
    "call",
    "fail",
    "pages",
    "problem",
    "until",
]

WAIT_SECONDS = 90.0  # bound on every wait for another service to catch up


class SeedError(RuntimeError):
    """The platform refused something the seed needs (the message says what)."""


@dataclass(frozen=True)
class Urls:
    catalog: str = "http://127.0.0.1:8001"
    orders: str = "http://127.0.0.1:8002"
    ip: str = "http://127.0.0.1:8003"
    analytics: str = "http://127.0.0.1:8004"
    keycloak: str = "http://127.0.0.1:18080"  # the sign-in provider (`make up` runs it)


class Tokens:
    """Development tokens for each actor, minted with the services' settings."""

    def __init__(self, settings: ServiceSettings | None = None) -> None:
        self._service = TokenService(settings or ServiceSettings())
        self._cache: dict[tuple[str, str | None, str | None], str] = {}

    def _mint(self, subject: str, role: Role, **scope: str) -> str:
        key = (role.value, scope.get("museum_id"), scope.get("licensee_id") or subject)
        if key not in self._cache:
            self._cache[key] = self._service.mint(Principal(subject, role, **scope))
        return self._cache[key]

    def operator(self) -> str:
        return self._mint("seed-operator", Role.OPERATOR)

    def museum(self, museum_id: str) -> str:
        return self._mint(f"staff-{museum_id}", Role.MUSEUM, museum_id=museum_id)

    def licensee(self, licensee_id: str) -> str:
        return self._mint(f"staff-{licensee_id}", Role.LICENSEE, licensee_id=licensee_id)

    def tourist(self, subject: str) -> str:
        return self._mint(subject, Role.TOURIST)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"detail": response.text}
    return body if isinstance(body, dict) else {"detail": body}


def fail(what: str, response: httpx.Response) -> SeedError:
    return SeedError(
        f"{what}: {response.request.method} {response.request.url} answered "
        f"{response.status_code}: {response.text[:500]}"
    )


async def call(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request; a 503 (a store or Kafka blip) or a connection that could not
    be made is retried a few times. A write whose answer timed out is not
    retried (it may have happened): a rerun of the seed finds what it made."""
    delay = 0.2
    for attempt in range(6):
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            safe = method == "GET" or isinstance(exc, httpx.ConnectError | httpx.PoolTimeout)
            if attempt == 5 or not safe:
                raise SeedError(f"{method} {client.base_url}{url}: {exc!r}") from exc
        else:
            if response.status_code != 503 or attempt == 5:
                return response
        await asyncio.sleep(delay)
        delay = min(delay * 2, 3.0)
    raise AssertionError("unreachable")


async def until(
    check: Callable[[], Awaitable[bool]], what: str, timeout: float = WAIT_SECONDS
) -> None:
    """Poll `check` until it holds, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.1
    while not await check():
        if time.monotonic() > deadline:
            raise SeedError(f"{what} did not happen within {timeout:.0f}s")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 1.0)


async def pages(
    client: httpx.AsyncClient, url: str, params: dict[str, Any], token: str | None = None
) -> list[dict[str, Any]]:
    """Every item of a cursor-paged catalog list."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    headers = bearer(token) if token else {}
    while True:
        query = {**params, "limit": 100, **({"cursor": cursor} if cursor else {})}
        response = await call(client, "GET", url, params=query, headers=headers)
        if response.status_code != 200:
            raise fail("listing", response)
        body = response.json()
        items.extend(body["items"])
        cursor = body.get("next_cursor")
        if not cursor:
            return items
