"""The FastAPI app factory every service uses.

A service describes itself in a `ServiceSpec` (routers, the collections whose
documents carry outbox events, its event handlers, start-up setup and
background loops); `create_service_app` wires the rest: Mongo, the Kafka
publisher, the outbox relay, the consumers, /healthz, /readyz, /metrics,
problem+json errors, JSON logs and traceparent propagation.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts import TOPICS, Event
from servicekit.auth import TokenService
from servicekit.bus import KafkaPublisher
from servicekit.consumer import BatchSubscription, ConsumerRunner, HandlerRegistry
from servicekit.logs import configure_logging
from servicekit.metrics import HTTP_LATENCY
from servicekit.mongo import connect, ping
from servicekit.outbox_hints import OutboxHints
from servicekit.problems import install_problem_handlers, problem
from servicekit.relay import OutboxRelay
from servicekit.settings import ServiceSettings
from servicekit.tracing import child_of, traceparent_var

__all__ = ["Runtime", "ServiceSpec", "create_service_app"]

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What a running service holds; routes reach it as `request.app.state.runtime`."""

    settings: ServiceSettings
    mongo: AsyncMongoClient[dict[str, Any]]
    db: AsyncDatabase[dict[str, Any]]
    publisher: KafkaPublisher
    relay: OutboxRelay
    tokens: TokenService
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)  # background loops end on it


@dataclass(frozen=True)
class ServiceSpec:
    title: str
    routers: Sequence[APIRouter] = ()
    outbox_collections: Sequence[str] = ()
    handlers: Callable[[Runtime], HandlerRegistry] | None = None
    batch: Callable[[Runtime], BatchSubscription] | None = None  # instead of `handlers`
    setup: Callable[[Runtime], Awaitable[None]] | None = None  # idempotent (indexes...)
    background: Sequence[Callable[[Runtime], Coroutine[Any, Any, None]]] = ()
    version: str = "0.1.0"


def _topics_of(contracts: Iterable[type[Event]]) -> list[str]:
    topics = {event_type.TOPIC for event_type in contracts}
    unknown = topics - set(TOPICS)
    if unknown:
        raise ValueError(f"handlers subscribe to unregistered topics: {sorted(unknown)}")
    return sorted(topics)


async def _retry_forever(what: str, action: Callable[[], Awaitable[None]]) -> None:
    delay = 0.2
    while True:
        try:
            await action()
            return
        except Exception as exc:
            log.warning("%s failed, retrying in %.1fs: %s", what, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


class _TraceAndTime:
    """Continues the caller's trace (`traceparent`, echoed on the response)
    and times each request by route. Plain ASGI: Starlette's
    BaseHTTPMiddleware runs every request in an extra task and streams."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        parent = headers.get(b"traceparent")
        token = traceparent_var.set(child_of(parent.decode("latin-1") if parent else None))
        started = time.perf_counter()
        status = 500

        async def send_traced(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                trace = (traceparent_var.get() or "").encode("latin-1")
                message["headers"] = [*message.get("headers", ()), (b"traceparent", trace)]
            await send(message)

        try:
            await self.app(scope, receive, send_traced)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            HTTP_LATENCY.labels(scope["method"], path, str(status)).observe(
                time.perf_counter() - started
            )
            traceparent_var.reset(token)


class _BodyLimit:
    """413 problem+json for bodies over the limit, declared or streamed (chunked)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = problem(413, f"The request body is over {self.max_bytes} bytes.")
            await response(scope, receive, send)
            return
        if declared is not None:
            await self.app(scope, receive, send)  # the server stops at content-length
            return
        # streamed (chunked): read it whole, up to the limit, then hand it on
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                response = problem(413, f"The request body is over {self.max_bytes} bytes.")
                await response(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def create_service_app(spec: ServiceSpec, settings: ServiceSettings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_level)
        hints = OutboxHints()
        mongo = connect(settings, hints)
        db = mongo[settings.mongodb_database]
        publisher = KafkaPublisher(settings.kafka_bootstrap_servers, settings.service_name)
        relay = OutboxRelay(
            collections=[db[name] for name in spec.outbox_collections],
            publisher=publisher,
            hints=hints,
            sweep_interval=settings.outbox_sweep_interval_ms / 1000,
        )
        runtime = Runtime(settings, mongo, db, publisher, relay, TokenService(settings))
        app.state.runtime = runtime
        app.state.tokens = runtime.tokens

        async def set_up() -> None:
            if spec.setup is not None:
                await spec.setup(runtime)
            runtime.ready.set()

        runners: list[ConsumerRunner] = []
        registry = spec.handlers(runtime) if spec.handlers is not None else None
        batch = spec.batch(runtime) if spec.batch is not None else None
        if registry is not None or batch is not None:
            runners.append(
                ConsumerRunner(
                    bootstrap_servers=settings.kafka_bootstrap_servers,
                    group_id=settings.consumer_group,
                    topics=_topics_of(registry if registry is not None else batch.contracts),  # type: ignore[union-attr]
                    handlers=registry,
                    batch=batch,
                    dead_letters=publisher,
                    max_attempts=settings.consumer_max_attempts,
                    backoff=settings.consumer_backoff_ms / 1000,
                    client_id=settings.service_name,
                )
            )
        tasks = [
            asyncio.create_task(_retry_forever("setup", set_up), name="setup"),
            asyncio.create_task(relay.run(), name="outbox-relay"),
            *(asyncio.create_task(r.run(), name=f"consumer-{r.group_id}") for r in runners),
            *(asyncio.create_task(loop(runtime), name=loop.__name__) for loop in spec.background),
        ]
        log.info("service started", extra={"topics": [t for r in runners for t in r.topics]})
        try:
            yield
        finally:
            runtime.stopping.set()
            for runner in runners:
                await runner.stop()
            relay.stop()
            _, pending = await asyncio.wait(tasks, timeout=10)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await publisher.stop()
            await mongo.close()

    app = FastAPI(title=spec.title, version=spec.version, lifespan=lifespan)
    app.add_middleware(_TraceAndTime)
    app.add_middleware(_BodyLimit, max_bytes=settings.max_body_bytes)
    install_problem_handlers(app)

    @app.get("/healthz", tags=["health"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Readiness: 200 only when Kafka and the store answer",
        responses={503: {"description": "A dependency is down"}},
    )
    async def readyz(request: Request) -> Any:
        runtime: Runtime = request.app.state.runtime
        mongo_ok, kafka_ok = await asyncio.gather(ping(runtime.mongo), runtime.publisher.ready())
        checks = {
            "mongodb": "ok" if mongo_ok else "down",
            "kafka": "ok" if kafka_ok else "down",
            "setup": "ok" if runtime.ready.is_set() else "pending",
        }
        if mongo_ok and kafka_ok and runtime.ready.is_set():
            return {"status": "ready", "checks": checks}
        return problem(503, "not ready", request=request, checks=checks)

    @app.get(
        "/metrics", tags=["health"], summary="Prometheus metrics", response_class=PlainTextResponse
    )
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in spec.routers:
        app.include_router(router)
    return app
