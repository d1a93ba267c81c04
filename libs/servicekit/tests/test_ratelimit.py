"""RateLimit: each caller (token subject, else client address) gets the rate
its setting names; over it, 429 problem+json with Retry-After."""

from types import SimpleNamespace

import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from servicekit.auth import Principal, Role, TokenService
from servicekit.problems import install_problem_handlers
from servicekit.ratelimit import Rate, RateLimit
from servicekit.settings import ServiceSettings

TOKENS = TokenService(ServiceSettings())


def _app(rate: str) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.tokens = TOKENS
    app.state.runtime = SimpleNamespace(settings=SimpleNamespace(checkout_rate=rate))

    @app.post("/checkout", dependencies=[Depends(RateLimit("checkout", "checkout_rate"))])
    async def checkout() -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/free")
    async def free() -> dict[str, str]:
        return {"ok": "yes"}

    return app


def _bearer(subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS.mint(Principal(subject, Role.TOURIST))}"}


@pytest.mark.asyncio
async def test_each_caller_gets_the_rate_then_429_with_retry_after() -> None:
    transport = httpx.ASGITransport(app=_app("3/minute"))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        alice, bob = _bearer("alice"), _bearer("bob")
        assert [(await client.post("/checkout", headers=alice)).status_code for _ in range(3)] == [
            200,
            200,
            200,
        ]
        refused = await client.post("/checkout", headers=alice)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["status"] == 429
        # another caller, and a route without the dependency, are not limited
        assert (await client.post("/checkout", headers=bob)).status_code == 200
        assert (await client.post("/free", headers=alice)).status_code == 200
        # without a token the client address is the caller
        statuses = [(await client.post("/checkout")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]


@pytest.mark.asyncio
async def test_a_bad_token_is_401_not_counted_as_anyone() -> None:
    transport = httpx.ASGITransport(app=_app("1/minute"))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        bad = {"Authorization": "Bearer not-a-jwt"}
        assert (await client.post("/checkout", headers=bad)).status_code == 401
        assert (await client.post("/checkout", headers=_bearer("carol"))).status_code == 200


def test_a_rate_setting_is_checked_when_settings_load() -> None:
    class Settings(BaseSettings):
        checkout_rate: Rate = "20/second"

    assert Settings(checkout_rate="600/minute").checkout_rate == "600/minute"
    with pytest.raises(ValidationError):
        Settings(checkout_rate="lots")
