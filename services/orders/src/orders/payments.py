"""Payment providers: the seam, and a sandbox provider behind it.

A provider takes a charge, later tells the verdict through a signed webhook,
and refunds. The sandbox decides by card token:

    tok_sandbox_approve   accepted; a `payment.succeeded` webhook follows
    tok_sandbox_decline   accepted; a `payment.failed` webhook follows
    tok_sandbox_timeout   the charge call never answers (the caller times out)

Webhooks are signed like Stripe's: header `Sandbox-Signature: t=<unix>,v1=<hex>`
where hex = HMAC-SHA256(secret, f"{t}.{body}"); old timestamps are refused so a
captured webhook cannot be replayed later.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Literal, Protocol

import httpx

from orders.errors import InvalidSignature, UnknownCardToken

__all__ = [
    "SANDBOX_TOKENS",
    "SIGNATURE_HEADER",
    "ChargeRequest",
    "PaymentProvider",
    "SandboxProvider",
    "WebhookEvent",
    "sign",
]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Sandbox-Signature"
SANDBOX_TOKENS: dict[str, Literal["approve", "decline", "timeout"]] = {
    "tok_sandbox_approve": "approve",
    "tok_sandbox_decline": "decline",
    "tok_sandbox_timeout": "timeout",
}


@dataclass(frozen=True)
class ChargeRequest:
    payment_id: str
    order_id: str
    amount_fen: int
    card_token: str
    webhook_url: str


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    kind: Literal["payment.succeeded", "payment.failed"]
    payment_id: str
    order_id: str
    provider_ref: str
    amount_fen: int
    failure_reason: str | None = None


class PaymentProvider(Protocol):
    name: str

    def check_token(self, card_token: str) -> None:
        """Raise UnknownCardToken before anything is recorded."""

    async def charge(self, request: ChargeRequest) -> str:
        """Submit a charge; returns the provider's reference. The verdict comes
        by webhook. May hang: callers bound it with a timeout."""

    async def refund(self, *, provider_ref: str, amount_fen: int, idempotency_key: str) -> str:
        """Refund captured money; the same key refunds once. Returns a reference."""

    def verify(self, body: bytes, signature: str | None) -> WebhookEvent:
        """Check a webhook's signature and parse it; InvalidSignature otherwise."""


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@dataclass(frozen=True)
class _Delivery:
    url: str
    body: bytes


class SandboxProvider:
    """In-process stand-in for a card processor. Its webhooks go out over real
    HTTP (to this service's webhook route) from `run_deliveries`."""

    name = "sandbox"

    def __init__(
        self,
        *,
        secret: bytes,
        tolerance_seconds: int = 300,
        webhook_delay_seconds: float = 0.1,
    ) -> None:
        self._secret = secret
        self._tolerance = tolerance_seconds
        self._delay = webhook_delay_seconds
        self._queue: asyncio.Queue[_Delivery] = asyncio.Queue()
        self.refunds: dict[str, tuple[str, int]] = {}  # key -> (charge, amount)

    def check_token(self, card_token: str) -> None:
        if card_token not in SANDBOX_TOKENS:
            raise UnknownCardToken(card_token)

    async def charge(self, request: ChargeRequest) -> str:
        self.check_token(request.card_token)
        outcome = SANDBOX_TOKENS[request.card_token]
        if outcome == "timeout":
            await asyncio.Event().wait()  # never answers
        provider_ref = f"sbx_ch_{uuid.uuid4().hex[:16]}"
        event = {
            "event_id": f"sbx_evt_{uuid.uuid4().hex[:16]}",
            "kind": "payment.succeeded" if outcome == "approve" else "payment.failed",
            "payment_id": request.payment_id,
            "order_id": request.order_id,
            "provider_ref": provider_ref,
            "amount_fen": request.amount_fen,
            "failure_reason": None if outcome == "approve" else "card_declined",
        }
        self._queue.put_nowait(_Delivery(request.webhook_url, json.dumps(event).encode()))
        return provider_ref

    async def refund(self, *, provider_ref: str, amount_fen: int, idempotency_key: str) -> str:
        self.refunds.setdefault(idempotency_key, (provider_ref, amount_fen))
        return f"sbx_re_{hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]}"

    def verify(self, body: bytes, signature: str | None) -> WebhookEvent:
        if not signature:
            raise InvalidSignature("missing signature")
        try:
            parts = dict(item.split("=", 1) for item in signature.split(","))
            timestamp = int(parts["t"])
            given = parts["v1"]
        except (KeyError, ValueError) as exc:
            raise InvalidSignature("malformed signature header") from exc
        expected = sign(self._secret, body, timestamp).split("v1=", 1)[1]
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise InvalidSignature("signature mismatch")
        if abs(time.time() - timestamp) > self._tolerance:
            raise InvalidSignature("timestamp outside the tolerance")
        try:
            data = json.loads(body)
            return WebhookEvent(
                event_id=str(data["event_id"]),
                kind=data["kind"],
                payment_id=str(data["payment_id"]),
                order_id=str(data["order_id"]),
                provider_ref=str(data["provider_ref"]),
                amount_fen=int(data["amount_fen"]),
                failure_reason=data.get("failure_reason"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidSignature("signed body is not a payment event") from exc

    async def run_deliveries(self, *, attempts: int = 8) -> None:
        """Deliver queued webhooks, retrying like a real provider would."""
        async with httpx.AsyncClient(timeout=10) as client, asyncio.TaskGroup() as group:
            while True:
                delivery = await self._queue.get()
                group.create_task(self._deliver(client, delivery, attempts))

    async def _deliver(self, client: httpx.AsyncClient, delivery: _Delivery, attempts: int) -> None:
        await asyncio.sleep(self._delay)
        delay = 0.2
        for _ in range(attempts):
            headers = {
                SIGNATURE_HEADER: sign(self._secret, delivery.body, int(time.time())),
                "Content-Type": "application/json",
            }
            try:
                response = await client.post(delivery.url, content=delivery.body, headers=headers)
                if response.status_code < 500:
                    return
                log.warning("webhook answered %s; retrying", response.status_code)
            except httpx.TransportError as exc:
                log.warning("webhook delivery failed: %s; retrying", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        log.error("webhook to %s given up after %s attempts", delivery.url, attempts)
