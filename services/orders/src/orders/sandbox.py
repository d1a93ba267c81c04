"""The sandbox payment provider: a stand-in for a card processor that behaves
like one. It keeps its charges and its pending webhook deliveries in its own
store (sandbox_store), so after a restart it still answers `retrieve` and
still delivers; it retries a failed delivery with capped exponential backoff
for days (like real providers), logging each failure with its reason.

Its webhooks go out over real HTTP from `run_deliveries`, which reads the due
set by `_id` (minute buckets), never the charges. Several replicas may each
deliver a due webhook: the receiver settles a payment once whatever the count.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import httpx

from orders.errors import UnknownCardToken
from orders.minute_queue import DueBucket, minute_of
from orders.payments import (
    SANDBOX_TOKENS,
    SIGNATURE_HEADER,
    ChargeRequest,
    ChargeStatus,
    ProviderCharge,
    WebhookEvent,
    sign,
    verify_webhook,
)
from orders.sandbox_store import Attempt, SandboxStore, StoredCharge

__all__ = ["RetryPolicy", "SandboxProvider", "reference_of"]

log = logging.getLogger(__name__)

_TICK_BUCKETS = 60  # minutes of due deliveries one tick looks at


def reference_of(payment_id: str) -> str:
    """The charge's reference, derived from the merchant's payment id: a charge
    retried for the same payment is the same charge, and `lookup` is by `_id`."""
    return f"sbx_ch_{hashlib.sha256(payment_id.encode()).hexdigest()[:20]}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RetryPolicy:
    """Capped exponential backoff: base, 2x base, ... up to `cap`, for `give_up_after`."""

    def __init__(self, *, base_seconds: float, cap_seconds: float, give_up_after: float) -> None:
        self.base, self.cap, self.give_up_after = base_seconds, cap_seconds, give_up_after

    def next_at(self, *, attempts: int, first_at: datetime, now: datetime) -> datetime | None:
        """After the `attempts`-th failure: when to try again; None: give up."""
        if (now - first_at).total_seconds() >= self.give_up_after:
            return None
        delay = min(self.base * 2 ** min(attempts - 1, 40), self.cap)
        return now + timedelta(seconds=delay)


def _reason(exc: BaseException) -> str:
    """Never empty: some transport errors carry no message."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else f"{type(exc).__name__} ({exc!r})"


class SandboxProvider:
    name = "sandbox"

    def __init__(
        self,
        *,
        secret: bytes,
        store: SandboxStore,
        tolerance_seconds: int = 300,
        webhook_delay_seconds: float = 0.1,
        retry: RetryPolicy | None = None,
        poll_seconds: float = 1.0,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._secret = secret
        self._store = store
        self._tolerance = tolerance_seconds
        self._delay = timedelta(seconds=webhook_delay_seconds)
        self._retry = retry or RetryPolicy(
            base_seconds=1, cap_seconds=3_600, give_up_after=3 * 24 * 3_600
        )
        self._poll = poll_seconds
        self._clock = clock
        self._wake = asyncio.Event()

    # --- the provider's API -------------------------------------------------------

    def check_token(self, card_token: str) -> None:
        if card_token not in SANDBOX_TOKENS:
            raise UnknownCardToken(card_token)

    async def charge(self, request: ChargeRequest) -> str:
        self.check_token(request.card_token)
        outcome = SANDBOX_TOKENS[request.card_token]
        if outcome == "timeout":
            await asyncio.Event().wait()  # never answers, records nothing
        status: ChargeStatus = {
            "approve": "approved",
            "decline": "declined",
            "processing": "processing",
        }[outcome]  # type: ignore[assignment]
        charge = ProviderCharge(
            provider_ref=reference_of(request.payment_id),
            payment_id=request.payment_id,
            order_id=request.order_id,
            status=status,
            amount_fen=request.amount_fen,
            failure_reason="card_declined" if status == "declined" else None,
        )
        now = self._clock()
        deliver_at = None if status == "processing" else now + self._delay
        stored = await self._store.open(
            charge, at=now, webhook_url=request.webhook_url, deliver_at=deliver_at
        )
        self._wake_at(self._delay.total_seconds())
        return stored.provider_ref

    async def retrieve(self, provider_ref: str) -> ProviderCharge | None:
        found = await self.retrieve_many([provider_ref])
        return found.get(provider_ref)

    async def retrieve_many(self, provider_refs: Sequence[str]) -> dict[str, ProviderCharge]:
        stored = await self._store.get_many(provider_refs)
        return {ref: s.charge for ref, s in stored.items()}

    async def lookup(self, payment_ids: Sequence[str]) -> dict[str, ProviderCharge]:
        by_ref = await self.retrieve_many([reference_of(p) for p in payment_ids])
        return {c.payment_id: c for c in by_ref.values()}

    async def refund(self, *, provider_ref: str, amount_fen: int, idempotency_key: str) -> str:
        charge = await self.retrieve(provider_ref)
        if charge is None:
            log.warning("sandbox: refund of unknown charge %s", provider_ref)
        elif not await self._store.refund(charge, key=idempotency_key, amount_fen=amount_fen):
            log.info("sandbox: refund %s of %s already made", idempotency_key, provider_ref)
        return f"sbx_re_{hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]}"

    def verify(self, body: bytes, signature: str | None) -> WebhookEvent:
        return verify_webhook(self._secret, body, signature, tolerance_seconds=self._tolerance)

    # --- the sandbox's test controls ------------------------------------------------

    async def complete(self, provider_ref: str, *, approve: bool) -> ProviderCharge | None:
        """Give a `processing` charge its verdict (as a bank would, later); its
        webhook follows. None: no such charge."""
        stored = (await self._store.get_many([provider_ref])).get(provider_ref)
        if stored is None:
            return None
        if stored.charge.status == "processing":
            now = self._clock()
            await self._store.complete(
                provider_ref,
                status="approved" if approve else "declined",
                failure_reason=None if approve else "card_declined",
                at=now,
                webhook_url=stored.origin_url,
                deliver_at=now + self._delay,
            )
            self._wake_at(self._delay.total_seconds())
        return await self.retrieve(provider_ref)

    # --- webhook deliveries ---------------------------------------------------------

    def _wake_at(self, seconds: float) -> None:
        try:
            asyncio.get_running_loop().call_later(max(seconds, 0), self._wake.set)
        except RuntimeError:  # no loop (a synchronous caller): the poll finds it
            pass

    async def run_deliveries(self) -> None:
        """Deliver due webhooks, at start-up and then whenever one falls due (a
        wake-up from this process) or every `poll_seconds` (one from elsewhere)."""
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                self._wake.clear()
                try:
                    await self.deliver_due(client)
                except Exception as exc:  # noqa: BLE001 - the store is down: next round
                    log.warning("sandbox: delivery round failed: %s", _reason(exc))
                try:
                    await asyncio.wait_for(self._wake.wait(), self._poll)
                except TimeoutError:
                    pass

    async def deliver_due(self, client: httpx.AsyncClient) -> int:
        """One round: the due buckets, their charges by `_id`, every due webhook
        posted at once, the outcomes written back. Returns how many were delivered."""
        now = self._clock()
        buckets = await self._store.due_buckets(now, limit=_TICK_BUCKETS)
        if not buckets:
            return 0
        charges = await self._store.get_many([i for b in buckets for i in b.ids])
        due = [
            s
            for s in charges.values()
            if s.webhook_url is not None and s.next_at is not None and _aware(s.next_at) <= now
        ]
        attempts = list(await asyncio.gather(*(self._post(client, s) for s in due)))
        await self._store.record(attempts)
        outcome = {a.provider_ref: a for a in attempts}
        for bucket in buckets:
            await self._store.due.settle(bucket, _handled(bucket, charges, outcome, now))
        soonest = [a.next_at for a in attempts if a.next_at is not None]
        if soonest:
            self._wake_at((min(soonest) - self._clock()).total_seconds())
        return sum(1 for a in attempts if a.error is None)

    async def _post(self, client: httpx.AsyncClient, stored: StoredCharge) -> Attempt:
        charge = stored.charge
        body = _webhook_body(charge)
        headers = {
            SIGNATURE_HEADER: sign(self._secret, body, int(time.time())),
            "Content-Type": "application/json",
        }
        url = stored.webhook_url or ""
        try:
            response = await client.post(url, content=body, headers=headers)
            error = None if response.status_code < 500 else f"HTTP {response.status_code}"
            if error and response.text:
                error += f": {response.text[:200]}"
        except httpx.HTTPError as exc:
            error = _reason(exc)
        now = self._clock()
        if error is None:
            return Attempt(charge.provider_ref, None, None, now)
        attempt = stored.attempts + 1
        next_at = self._retry.next_at(
            attempts=attempt, first_at=_aware(stored.first_at or now), now=now
        )
        if next_at is None:
            log.error(
                "webhook for %s to %s given up after %s attempts: %s",
                charge.provider_ref,
                url,
                attempt,
                error,
            )
        else:
            log.warning(
                "webhook for %s delivery %s failed: %s; retrying at %s",
                charge.provider_ref,
                attempt,
                error,
                next_at.isoformat(),
            )
        return Attempt(charge.provider_ref, error, next_at, now)


def _aware(at: datetime) -> datetime:
    """The store may give naive UTC datetimes back."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _webhook_body(charge: ProviderCharge) -> bytes:
    approved = charge.status == "approved"
    event = {
        "event_id": f"sbx_evt_{charge.provider_ref}_{charge.status}",
        "kind": "payment.succeeded" if approved else "payment.failed",
        "payment_id": charge.payment_id,
        "order_id": charge.order_id,
        "provider_ref": charge.provider_ref,
        "amount_fen": charge.amount_fen,
        "failure_reason": None if approved else (charge.failure_reason or "declined"),
    }
    return json.dumps(event).encode()


def _handled(
    bucket: DueBucket,
    charges: dict[str, StoredCharge],
    outcome: dict[str, Attempt],
    now: datetime,
) -> list[str]:
    """The bucket's entries this round is done with: the charge was attempted
    (a retry was filed in its own minute first: unless that is this very
    minute, the entry here is spent), or its
    next attempt is filed in another minute; in a closed bucket, also one
    with nothing to deliver."""
    handled = []
    for ref in bucket.ids:
        stored = charges.get(ref)
        attempt = outcome.get(ref)
        if stored is None or stored.webhook_url is None or stored.next_at is None:
            # nothing to deliver, or its write has not landed yet (the entry
            # comes first): dropped once no writer can still be on its way
            if bucket.closed:
                handled.append(ref)
        elif attempt is not None:
            if attempt.next_at is None or minute_of(attempt.next_at) != bucket.minute:
                handled.append(ref)
        elif minute_of(_aware(stored.next_at)) != bucket.minute and _aware(stored.next_at) > now:
            handled.append(ref)  # filed again later (a retry whose old entry stayed)
    return handled
