"""An orders process per module (a real uvicorn, its own database and group)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Infra
from tests.orders.helpers import WEBHOOK_SECRET
from tests.support import ServiceProcess


def orders_env(infra: Infra, **overrides: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "MONGODB_URL": infra.mongodb_url,
        "ENVIRONMENT": "test",
        "ORDERS_PAYMENT_WINDOW_SECONDS": "600",
        "ORDERS_EXPIRY_SWEEP_SECONDS": "0.5",
        "ORDERS_PAYMENT_PROVIDER_TIMEOUT_SECONDS": "1",
        "ORDERS_PAYMENT_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "OUTBOX_SWEEP_INTERVAL_MS": "1000",
        **overrides,
    }


@pytest.fixture(scope="module")
def orders(infra: Infra) -> Iterator[ServiceProcess]:
    service = ServiceProcess("orders", orders_env(infra))
    yield service
    service.stop()
