"""The app factory's HTTP layer: traceparent propagation and metrics, in-process."""

import httpx
import pytest
from fastapi import APIRouter

from servicekit.app import ServiceSpec, create_service_app
from servicekit.settings import ServiceSettings
from servicekit.tracing import current_traceparent

pytestmark = pytest.mark.asyncio

router = APIRouter()


@router.get("/trace")
async def trace() -> dict[str, str | None]:
    return {"traceparent": current_traceparent()}


def _client() -> httpx.AsyncClient:
    app = create_service_app(ServiceSpec(title="t", routers=[router]), ServiceSettings())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_an_incoming_traceparent_continues_its_trace() -> None:
    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with _client() as client:
        response = await client.get("/trace", headers={"traceparent": incoming})
    seen = response.json()["traceparent"]
    assert seen.startswith("00-0af7651916cd43dd8448eb211c80319c-")
    assert seen != incoming  # a new span of the same trace
    assert response.headers["traceparent"] == seen


async def test_a_request_without_one_starts_a_trace() -> None:
    async with _client() as client:
        first = (await client.get("/trace")).json()["traceparent"]
        second = (await client.get("/trace")).json()["traceparent"]
    assert first.split("-")[1] != second.split("-")[1]


async def test_metrics_count_requests_by_route_template() -> None:
    async with _client() as client:
        await client.get("/trace")
        metrics = (await client.get("/metrics")).text
    assert (
        'http_request_duration_seconds_count{method="GET",route="/trace",status="200"}' in metrics
    )


@router.post("/echo")
async def echo(body: dict[str, str]) -> dict[str, str]:
    return body


def _small_client() -> httpx.AsyncClient:
    settings = ServiceSettings(max_body_bytes=100)
    app = create_service_app(ServiceSpec(title="t", routers=[router]), settings)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_bodies_over_the_limit_get_413_problem_json_declared_or_streamed() -> None:
    big = b'{"a": "' + b"x" * 200 + b'"}'

    async def chunks():  # no content-length: streamed
        yield big[:50]
        yield big[50:]

    async with _small_client() as client:
        declared = await client.post(
            "/echo", content=big, headers={"content-type": "application/json"}
        )
        streamed = await client.post(
            "/echo", content=chunks(), headers={"content-type": "application/json"}
        )
        fine = await client.post("/echo", json={"a": "b"})
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
    assert fine.json() == {"a": "b"}
