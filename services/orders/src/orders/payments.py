"""Payment providers: the seam (the sandbox provider behind it is in
orders.sandbox).

A provider takes a charge, later tells the verdict through a signed webhook,
answers `retrieve` (a charge's status and amount: what reconciliation asks
when a webhook is late or lost), and refunds. The sandbox decides by card
token:

    tok_sandbox_approve     accepted; a `payment.succeeded` webhook follows
    tok_sandbox_decline     accepted; a `payment.failed` webhook follows
    tok_sandbox_processing  accepted; the verdict waits (the sandbox's test
                            route approves or declines it later)
    tok_sandbox_timeout     the charge call never answers (the caller times out)

Webhooks are signed like Stripe's: header `Sandbox-Signature: t=<unix>,v1=<hex>`
where hex = HMAC-SHA256(secret, f"{t}.{body}"); old timestamps are refused so a
captured webhook cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from orders.errors import InvalidSignature

__all__ = [
    "SANDBOX_TOKENS",
    "SIGNATURE_HEADER",
    "ChargeRequest",
    "ChargeStatus",
    "PaymentProvider",
    "ProviderCharge",
    "WebhookEvent",
    "sign",
    "verify_webhook",
]

SIGNATURE_HEADER = "Sandbox-Signature"
SANDBOX_TOKENS: dict[str, Literal["approve", "decline", "processing", "timeout"]] = {
    "tok_sandbox_approve": "approve",
    "tok_sandbox_decline": "decline",
    "tok_sandbox_processing": "processing",
    "tok_sandbox_timeout": "timeout",
}

ChargeStatus = Literal["processing", "approved", "declined"]


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


@dataclass(frozen=True)
class ProviderCharge:
    """What the provider says about a charge (`retrieve`)."""

    provider_ref: str
    payment_id: str  # the merchant's reference, given with the charge
    order_id: str
    status: ChargeStatus
    amount_fen: int
    refunded_fen: int = 0
    failure_reason: str | None = None


class PaymentProvider(Protocol):
    name: str

    def check_token(self, card_token: str) -> None:
        """Raise UnknownCardToken before anything is recorded."""

    async def charge(self, request: ChargeRequest) -> str:
        """Submit a charge; returns the provider's reference. The verdict comes
        by webhook. May hang: callers bound it with a timeout."""

    async def retrieve(self, provider_ref: str) -> ProviderCharge | None:
        """The charge's status and amount; None: the provider has no such charge."""

    async def retrieve_many(self, provider_refs: Sequence[str]) -> dict[str, ProviderCharge]:
        """`retrieve` for a batch (the ones the provider knows, by reference)."""

    async def lookup(self, payment_ids: Sequence[str]) -> dict[str, ProviderCharge]:
        """Charges by the merchant's own reference (our payment id), for payments
        whose provider reference never came back (a crash or a timeout during
        `charge`); real providers offer this through idempotency keys or a search
        by metadata. Absent: the provider never took that payment."""

    async def refund(self, *, provider_ref: str, amount_fen: int, idempotency_key: str) -> str:
        """Refund captured money; the same key refunds once. Returns a reference."""

    def verify(self, body: bytes, signature: str | None) -> WebhookEvent:
        """Check a webhook's signature and parse it; InvalidSignature otherwise."""


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_webhook(
    secret: bytes, body: bytes, signature: str | None, *, tolerance_seconds: int
) -> WebhookEvent:
    """Check a webhook's signature and parse it; InvalidSignature otherwise."""
    if not signature:
        raise InvalidSignature("missing signature")
    try:
        parts = dict(item.split("=", 1) for item in signature.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError) as exc:
        raise InvalidSignature("malformed signature header") from exc
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise InvalidSignature("signature mismatch")
    if abs(time.time() - timestamp) > tolerance_seconds:
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
