"""The ip service's use cases, assembled, and its event registry.

Events consumed, a poll at a time (`batch_subscription`; all idempotent, see
`ip.ledger`, `ip.order_batches` and `ip.rights`):

- catalog `museum.registered` / `museum.updated` -> a museum rights holder;
- catalog `relic.registered` -> an IP asset (and the donor as a holder);
  `relic.updated` (or registered again) -> the asset's grade, and an
  effective-dated ownership change when the donor changed;
- orders `order.paid` -> royalty accruals, one posting per licensed line, and
  one authenticity certificate per licensed unit (ip.authenticity);
- orders `order.refunded` -> proportional reversals, and the refunded units'
  certificates revoked.

The catalog events are rare: each goes through its own use case, in order.
The order events of a batch are folded together (ip.order_batches).

The scheduler (a background loop) expires licenses whose term ended and posts
any advance a crash kept from being posted at grant.
"""

import asyncio
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts import Event
from contracts.catalog import MuseumRegistered, MuseumUpdated, RelicRegistered, RelicUpdated
from contracts.orders import OrderPaid, OrderRefunded
from ip.authenticity import Authenticity
from ip.cert_keys import CertKeys, keys_from_settings
from ip.cert_store import CertStore
from ip.config import Settings
from ip.ledger import Ledger
from ip.licensing import Licensing
from ip.order_fold import OrderEvent
from ip.rights import Rights
from ip.signing import KeyRing
from ip.statements import Statements
from ip.store import Store
from servicekit.app import Runtime
from servicekit.consumer import TRANSIENT_ERRORS, BatchSubscription, EventMeta

__all__ = [
    "CONSUMED",
    "Clock",
    "Services",
    "batch_subscription",
    "handle_batch",
    "run_scheduler",
    "services_of",
]

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Services:
    store: Store
    rights: Rights
    licensing: Licensing
    ledger: Ledger
    statements: Statements
    authenticity: Authenticity
    clock: Clock


def build_services(
    store: Store,
    *,
    donor_share_bps: int,
    clock: Clock = _utc_now,
    close_grace_s: float = 2.0,
    cert_keys: CertKeys | None = None,
) -> Services:
    """`cert_keys` default: fresh throwaway keys (tests that do not verify)."""
    ledger = Ledger(store)
    keys = cert_keys or CertKeys(KeyRing(Ed25519PrivateKey.generate()), secrets.token_bytes(32))
    return Services(
        store=store,
        rights=Rights(store, donor_share_bps=donor_share_bps),
        licensing=Licensing(store, ledger),
        ledger=ledger,
        statements=Statements(store, ledger, close_grace_s=close_grace_s),
        authenticity=Authenticity(CertStore(store.db), keys),
        clock=clock,
    )


def services_of(runtime: Runtime) -> Services:
    """One Services per runtime (built on first use)."""
    existing = getattr(runtime, "_ip_services", None)
    if isinstance(existing, Services):
        return existing
    settings = runtime.settings
    built = build_services(
        Store(runtime.db),
        donor_share_bps=int(getattr(settings, "donor_share_bps", 3000)),
        close_grace_s=float(getattr(settings, "close_grace_s", 2.0)),
        cert_keys=keys_from_settings(settings) if isinstance(settings, Settings) else None,
    )
    setattr(runtime, "_ip_services", built)  # noqa: B010
    return built


CONSUMED: tuple[type[Event], ...] = (
    MuseumRegistered,
    MuseumUpdated,
    RelicRegistered,
    RelicUpdated,
    OrderPaid,
    OrderRefunded,
)


async def handle_batch(s: Services, items: Sequence[tuple[Event, EventMeta]]) -> None:
    """One poll's events: catalog events one by one in order, then the order
    events folded. Catalog first is safe: an order line names a license, and
    a license is granted only on assets that exist already, so no order event
    of a batch needs a catalog event behind it; and no catalog event reads
    what order events write."""
    orders: list[OrderEvent] = []
    for event, meta in items:
        if isinstance(event, MuseumRegistered | MuseumUpdated):
            await s.rights.museum_registered(event, meta)
        elif isinstance(event, RelicRegistered | RelicUpdated):
            await s.rights.relic_registered(event, meta)
        elif isinstance(event, OrderPaid | OrderRefunded):
            orders.append(OrderEvent(event, meta.id))
    licenses = await s.ledger.apply_orders(orders)
    # the same batch's certificates, after its accruals (a crash between them
    # redelivers the batch: the ledger heals, the certificates are written)
    await s.authenticity.apply([o.event for o in orders], licenses)


def batch_subscription(runtime: Runtime) -> BatchSubscription:
    s = services_of(runtime)

    async def handle(items: Sequence[tuple[Event, EventMeta]]) -> None:
        await handle_batch(s, items)

    return BatchSubscription(CONSUMED, handle)


def _stopping(runtime: Runtime) -> bool:
    return runtime.stopping.is_set()


async def _pause(runtime: Runtime, seconds: float) -> None:
    try:
        await asyncio.wait_for(runtime.stopping.wait(), seconds)
    except TimeoutError:
        pass


async def run_scheduler(runtime: Runtime) -> None:
    """Expire licenses whose term ended; reconcile advances. Ends at shutdown."""
    s = services_of(runtime)
    interval = float(getattr(runtime.settings, "scheduler_interval_s", 5.0))
    while not runtime.ready.is_set() and not _stopping(runtime):
        await _pause(runtime, 0.2)
    while not _stopping(runtime):
        try:
            expired = await s.licensing.expire_due(s.clock())
            if expired:
                log.info("expired %d licenses", expired)
            await s.licensing.reconcile_advances(s.clock())
        except TRANSIENT_ERRORS as exc:
            log.warning("scheduler paused, store unavailable: %s", exc)
        except Exception:  # a bad round must not stop expiry for good
            log.exception("scheduler round failed; next round retries")
        await _pause(runtime, interval)
