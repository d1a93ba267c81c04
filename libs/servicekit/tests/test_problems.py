"""Every error answers RFC 9457 problem+json; malformed bodies get 422."""

import httpx
import pytest
import pytest_asyncio
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from servicekit.errors import Conflict, NotFound
from servicekit.problems import install_problem_handlers

pytestmark = pytest.mark.asyncio


class Thing(BaseModel):
    name: str
    price_fen: int


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    router = APIRouter()

    @router.post("/things")
    async def create(thing: Thing) -> Thing:
        if thing.name == "clash":
            raise Conflict("extension names a standard member", status="PAID", title="x")
        if thing.name == "dup":
            raise Conflict("a thing with that name exists", name=thing.name)
        return thing

    @router.get("/things/{name}")
    async def read(name: str) -> Thing:
        raise NotFound(f"no thing {name}")

    app.include_router(router)
    return app


@pytest_asyncio.fixture
async def client():
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"name": "x", "price_fen": "twelve"}', b'{"name": "x"}', b"[]"],
)
async def test_malformed_bodies_get_422_problem_json(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post(
        "/things", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert problem["errors"]
    assert "Traceback" not in response.text


async def test_domain_errors_map_to_their_status(client: httpx.AsyncClient) -> None:
    conflict = await client.post("/things", json={"name": "dup", "price_fen": 1})
    assert conflict.status_code == 409
    assert conflict.json() == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": "a thing with that name exists",
        "instance": "/things",
        "name": "dup",
    }
    missing = await client.get("/things/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_unknown_routes_are_problems_too(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["title"] == "Not Found"


async def test_extensions_never_replace_standard_members(client: httpx.AsyncClient) -> None:
    response = await client.post("/things", json={"name": "clash", "price_fen": 1})
    assert response.status_code == 409
    assert response.json()["status"] == 409
    assert response.json()["title"] == "Conflict"
