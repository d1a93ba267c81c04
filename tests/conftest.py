"""Infrastructure for integration tests, resolved in this order:

1. KAFKA_BOOTSTRAP_SERVERS and MONGODB_URL from the environment;
2. testcontainers (Kafka in KRaft mode, MongoDB) when a Docker engine answers;
3. the deploy/local stack (real Kafka + FerretDB), started for the session.

Only the local stack can be stopped and started by the tests that prove
behaviour across outages (`stack` fixture); they are not collected against
infrastructure this run does not own.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from keycloak import Keycloak, start
from localstack import LocalStack

from tests.support import ServiceProcess, free_port, truncate_topics


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    mongodb_url: str
    stack: LocalStack | None  # set when this run owns the processes


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20)
    return probe.returncode == 0


@pytest.fixture(scope="session")
def keycloak() -> Iterator[Keycloak]:
    """A real Keycloak (deploy/local/keycloak.py) with the realm of
    deploy/keycloak/, started once per session, only when a test asks."""
    instance = start(name=os.environ.get("RELIC_TEST_STACK", "test"), port=free_port())
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    kafka, mongo = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("MONGODB_URL")
    if kafka and mongo:
        yield Infra(kafka, mongo, None)
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.mongodb import MongoDbContainer

        with (
            KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka_container,
            MongoDbContainer("mongo:7") as mongo_container,
        ):
            yield Infra(
                kafka_container.get_bootstrap_server(),
                mongo_container.get_connection_url(),
                None,
            )
        return
    stack = LocalStack(os.environ.get("RELIC_TEST_STACK", "test"))
    stack.wipe()  # every run starts from empty topics and databases
    stack.up()
    try:
        yield Infra(stack.kafka_bootstrap, stack.mongodb_url, stack)
    finally:
        stack.down()


@pytest.fixture(scope="module", autouse=True)
def fresh_topics(request: pytest.FixtureRequest) -> None:
    """Each test module that uses the infrastructure starts from empty platform
    topics (see truncate_topics); modules without it do not start it."""
    module_items = [i for i in request.session.items if i.module is request.module]
    if any("infra" in getattr(i, "fixturenames", ()) for i in module_items):
        infra: Infra = request.getfixturevalue("infra")
        asyncio.run(truncate_topics(infra.kafka_bootstrap))


@pytest.fixture
def stack(infra: Infra) -> Iterator[LocalStack]:
    """The local stack, for tests that stop and start Kafka or FerretDB.

    Whatever a test stops is running again when it ends."""
    if infra.stack is None:
        pytest.skip("needs the deploy/local stack this run starts (not external infrastructure)")
    yield infra.stack
    infra.stack.start_mongo()
    infra.stack.start_kafka()
    infra.stack.wait_mongo()
    infra.stack.wait_kafka()


@pytest.fixture
def service_env(infra: Infra) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "MONGODB_URL": infra.mongodb_url,
        "ENVIRONMENT": "test",
    }


@pytest.fixture
def run_service(service_env: dict[str, str]) -> Iterator[type[ServiceProcess]]:
    """Start services as real uvicorn processes; all are stopped at the end."""
    started: list[ServiceProcess] = []

    class _Factory(ServiceProcess):
        def __init__(self, name: str, **env: str) -> None:
            super().__init__(name, {**service_env, **env})
            started.append(self)

    yield _Factory
    for process in started:
        process.stop()
