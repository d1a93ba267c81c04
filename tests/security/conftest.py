"""A real Keycloak (deploy/local/keycloak.py) for the sign-in tests, started
once per test session and only when a test asks for it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from keycloak import Keycloak, start

from tests.support import free_port


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "keycloak: needs a real Keycloak (started once for the session)"
    )


@pytest.fixture(scope="session")
def keycloak() -> Iterator[Keycloak]:
    instance = start(name=os.environ.get("RELIC_TEST_STACK", "test"), port=free_port())
    try:
        yield instance
    finally:
        instance.stop()
