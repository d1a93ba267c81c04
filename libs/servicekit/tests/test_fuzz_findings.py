"""What the API fuzzing (tests/fuzz) found in servicekit, pinned in-process:
bodies that are not UTF-8 and numbers too big for BSON are 422 problem+json,
not 400 or 500; the OpenAPI declares problem+json for every error it may
answer, and /metrics as text."""

from typing import Annotated, Any

import bson
import httpx
import pytest
from fastapi import APIRouter, FastAPI, Query
from pydantic import BaseModel

from servicekit.app import ServiceSpec, create_service_app
from servicekit.auth import CurrentPrincipal
from servicekit.settings import ServiceSettings

router = APIRouter()


class Thing(BaseModel):
    name: str


@router.post("/things", status_code=201)
async def create(thing: Thing, _principal: CurrentPrincipal) -> Thing:
    return thing


@router.get("/things/{name}")
async def read(name: str, offset: Annotated[int, Query(ge=0)] = 0) -> Thing:
    bson.encode({"skip": offset})  # what the driver does with a query's numbers
    return Thing(name=name)


@router.get("/count")
async def count() -> int:
    return 1


def _app() -> FastAPI:
    return create_service_app(ServiceSpec(title="t", routers=[router]), ServiceSettings())


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://t")


@pytest.mark.asyncio
async def test_a_body_that_is_not_utf8_is_422_problem_json() -> None:
    async with _client() as client:
        response = await client.post(
            "/things", content=b'{"name": "\xff"}', headers={"content-type": "application/json"}
        )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["type"] == "json_invalid"


@pytest.mark.asyncio
async def test_a_number_too_big_for_the_store_is_422_problem_json() -> None:
    async with _client() as client:
        response = await client.get("/things/x", params={"offset": 2**70})
        fine = await client.get("/things/x", params={"offset": 2**40})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert fine.status_code == 200


def _responses(schema: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    responses: dict[str, Any] = schema["paths"][path][method]["responses"]
    return responses


def test_the_openapi_declares_problem_json_for_what_servicekit_answers() -> None:
    schema = _app().openapi()
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    create = _responses(schema, "/things", "post")
    # secured, a body, a write: every servicekit error, each as problem+json
    assert set(create) == {"201", "401", "403", "404", "409", "413", "422", "503"}
    assert all(create[s]["content"] == problem for s in create if s != "201")
    read = _responses(schema, "/things/{name}", "get")
    assert set(read) == {"200", "404", "422", "503"}
    assert set(_responses(schema, "/count", "get")) == {"200", "503"}
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert schema["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "detail",
    ]
    metrics = _responses(schema, "/metrics", "get")["200"]["content"]
    assert list(metrics) == ["text/plain"]
