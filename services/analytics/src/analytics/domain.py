"""Projection rules, pure: which read-model documents an event changes, and how.

Every contract event maps to a list of `Change`s: counters to increment and
fields to set on one document each. A handler applies them exactly once per
document (a partition high-water mark in the same update), and a replay
merges many events' changes per document before writing them (`merge`).

One event touches each document at most once (`Changes` folds the lines of
an order into one increment per document), so a per-document high-water mark
never swallows the second line of the same order.

Daily buckets are Asia/Shanghai calendar days; orders-per-minute buckets are
UTC minutes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from contracts.base import Event
from contracts.catalog import (
    MuseumRegistered,
    MuseumUpdated,
    ProductPriceChanged,
    ProductPublished,
    ProductRetired,
    ProductUnsellable,
    ProductUpdated,
    RelicRegistered,
    RelicUpdated,
    StockRejected,
    StockReleased,
    StockReserved,
)
from contracts.ip import (
    AssetOpened,
    LicenseExpired,
    LicenseGranted,
    LicenseReinstated,
    LicenseRevoked,
    LicenseSuspended,
    OwnershipChanged,
    PayoutRecorded,
    RoyaltyAccrued,
    RoyaltyReversed,
    StatementIssued,
)
from contracts.orders import (
    OrderCancelled,
    OrderConfirmed,
    OrderFulfilled,
    OrderLine,
    OrderPaid,
    OrderPlaced,
    OrderRefunded,
    OrderRejected,
    RefundLine,
)

__all__ = [
    "ASSETS",
    "EVENT_DAYS",
    "LICENSEE_DAYS",
    "LICENSES",
    "MUSEUMS",
    "MUSEUM_DAYS",
    "PLATFORM_DAYS",
    "PLATFORM_MINUTES",
    "PRODUCTS",
    "PRODUCT_DAYS",
    "PROJECTED",
    "RELICS",
    "RELIC_DAYS",
    "ROLLUPS",
    "STATEMENTS",
    "TZ",
    "Change",
    "Changes",
    "changes_for",
    "local_day",
    "merge",
    "utc_minute",
]

TZ = ZoneInfo("Asia/Shanghai")

# logical collection names (the store prefixes them with the projection version)
MUSEUM_DAYS = "museum_days"
PRODUCT_DAYS = "product_days"
RELIC_DAYS = "relic_days"
LICENSEE_DAYS = "licensee_days"
PLATFORM_DAYS = "platform_days"
PLATFORM_MINUTES = "platform_minutes"
EVENT_DAYS = "event_days"
LICENSES = "licenses"
MUSEUMS = "museums"
RELICS = "relics"
PRODUCTS = "products"
ASSETS = "assets"
STATEMENTS = "statements"

ROLLUPS = (
    MUSEUM_DAYS,
    PRODUCT_DAYS,
    RELIC_DAYS,
    LICENSEE_DAYS,
    PLATFORM_DAYS,
    PLATFORM_MINUTES,
    EVENT_DAYS,
    LICENSES,
    MUSEUMS,
    RELICS,
    PRODUCTS,
    ASSETS,
    STATEMENTS,
)


def local_day(at: datetime) -> str:
    """The Asia/Shanghai calendar day of an instant, as YYYY-MM-DD."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(TZ).date().isoformat()


def utc_minute(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _key(*parts: str) -> str:
    return "|".join(parts)


@dataclass
class Change:
    """One document's part of one or more events."""

    collection: str
    doc_id: str
    inc: dict[str, int] = field(default_factory=dict)
    set: dict[str, Any] = field(default_factory=dict)
    on_insert: dict[str, Any] = field(default_factory=dict)

    def absorb(self, later: Change) -> None:
        """Fold a later change of the same document into this one."""
        for name, amount in later.inc.items():
            self.inc[name] = self.inc.get(name, 0) + amount
        self.set.update(later.set)
        for name, value in later.on_insert.items():
            self.on_insert.setdefault(name, value)

    def normalized(self) -> Change:
        """Fields that are set need not be set on insert too (the store refuses both)."""
        on_insert = {k: v for k, v in self.on_insert.items() if k not in self.set}
        return Change(self.collection, self.doc_id, dict(self.inc), dict(self.set), on_insert)


class Changes:
    """Accumulates one event's changes, one `Change` per document."""

    def __init__(self) -> None:
        self._by_doc: dict[tuple[str, str], Change] = {}

    def add(
        self,
        collection: str,
        doc_id: str,
        *,
        inc: Mapping[str, int] | None = None,
        set: Mapping[str, Any] | None = None,  # noqa: A002
        on_insert: Mapping[str, Any] | None = None,
    ) -> None:
        change = Change(collection, doc_id, dict(inc or {}), dict(set or {}), dict(on_insert or {}))
        existing = self._by_doc.get((collection, doc_id))
        if existing is None:
            self._by_doc[(collection, doc_id)] = change
        else:
            existing.absorb(change)

    def result(self) -> list[Change]:
        return [c.normalized() for c in self._by_doc.values()]


def merge(changes: Iterable[Change]) -> list[Change]:
    """Fold many events' changes (in stream order) into one per document."""
    by_doc: dict[tuple[str, str], Change] = {}
    for change in changes:
        existing = by_doc.get((change.collection, change.doc_id))
        if existing is None:
            by_doc[(change.collection, change.doc_id)] = Change(
                change.collection,
                change.doc_id,
                dict(change.inc),
                dict(change.set),
                dict(change.on_insert),
            )
        else:
            existing.absorb(change)
    return [c.normalized() for c in by_doc.values()]


# --- per-event rules ------------------------------------------------------------


def _type_counter(event_type: str) -> str:
    # rebirth.orders.order.paid.v1 -> orders_order_paid_v1 (no '.' in keys)
    return event_type.removeprefix("rebirth.").replace(".", "_")


def _museum_dims(museum_id: str, day: str) -> dict[str, Any]:
    return {"museum_id": museum_id, "day": day}


def _order_paid(event: OrderPaid, out: Changes) -> None:
    day, minute = local_day(event.paid_at), utc_minute(event.paid_at)
    units = sum(line.quantity for line in event.lines)
    out.add(
        PLATFORM_DAYS,
        day,
        inc={"gross_fen": event.total_fen, "orders": 1, "units": units},
        on_insert={"day": day},
    )
    out.add(
        PLATFORM_MINUTES,
        minute,
        inc={"gross_fen": event.total_fen, "orders": 1},
        on_insert={"minute": minute},
    )
    museums: set[str] = set()
    for line in event.lines:
        if line.museum_id is None:
            continue
        m = line.museum_id
        museums.add(m)
        money = {"gross_fen": line.line_total_fen, "units": line.quantity}
        out.add(MUSEUM_DAYS, _key(m, day), inc=money, on_insert=_museum_dims(m, day))
        _line_rollups(out, m, day, line, money, product_extra={"lines": 1})
    for m in museums:
        out.add(MUSEUM_DAYS, _key(m, day), inc={"orders": 1}, on_insert=_museum_dims(m, day))


def _line_rollups(
    out: Changes,
    m: str,
    day: str,
    line: OrderLine | RefundLine,
    money: dict[str, int],
    *,
    product_extra: dict[str, int] | None = None,
) -> None:
    """One order or refund line's money, into its product, relic, licensee and
    license rollups (the museum's own day is added by the caller)."""
    out.add(
        PRODUCT_DAYS,
        _key(m, day, line.product_id),
        inc={**money, **(product_extra or {})},
        set={"sku": line.sku},
        on_insert={**_museum_dims(m, day), "product_id": line.product_id},
    )
    for relic_id in dict.fromkeys(line.relic_ids):
        out.add(
            RELIC_DAYS,
            _key(m, day, relic_id),
            inc=money,
            on_insert={**_museum_dims(m, day), "relic_id": relic_id},
        )
    if line.licensee_id is not None:
        out.add(
            LICENSEE_DAYS,
            _key(m, day, line.licensee_id),
            inc=money,
            on_insert={**_museum_dims(m, day), "licensee_id": line.licensee_id},
        )
    if line.license_id is not None:
        out.add(
            LICENSES,
            line.license_id,
            inc=money,
            on_insert={
                "license_id": line.license_id,
                "museum_id": m,
                "licensee_id": line.licensee_id,
            },
        )


def _order_refunded(event: OrderRefunded, out: Changes) -> None:
    day = local_day(event.refunded_at)
    units = sum(line.quantity for line in event.lines)
    out.add(
        PLATFORM_DAYS,
        day,
        inc={"refunds_fen": event.amount_fen, "refunds": 1, "refunded_units": units},
        on_insert={"day": day},
    )
    museums: set[str] = set()
    for line in event.lines:
        if line.museum_id is None:
            continue
        m = line.museum_id
        museums.add(m)
        money = {"refunds_fen": line.amount_fen, "refunded_units": line.quantity}
        out.add(MUSEUM_DAYS, _key(m, day), inc=money, on_insert=_museum_dims(m, day))
        _line_rollups(out, m, day, line, money)
    for m in museums:
        out.add(MUSEUM_DAYS, _key(m, day), inc={"refunds": 1}, on_insert=_museum_dims(m, day))


def _royalty(event: RoyaltyAccrued | RoyaltyReversed, out: Changes) -> None:
    if isinstance(event, RoyaltyAccrued):
        day, name = local_day(event.accrued_at), "royalty_accrued_fen"
    else:
        day, name = local_day(event.reversed_at), "royalty_reversed_fen"
    m, amount = event.museum_id, {name: event.royalty_fen}
    out.add(PLATFORM_DAYS, day, inc=amount, on_insert={"day": day})
    out.add(MUSEUM_DAYS, _key(m, day), inc=amount, on_insert=_museum_dims(m, day))
    out.add(
        PRODUCT_DAYS,
        _key(m, day, event.product_id),
        inc=amount,
        on_insert={**_museum_dims(m, day), "product_id": event.product_id},
    )
    for relic_id in dict.fromkeys(event.relic_ids):
        out.add(
            RELIC_DAYS,
            _key(m, day, relic_id),
            inc=amount,
            on_insert={**_museum_dims(m, day), "relic_id": relic_id},
        )
    out.add(
        LICENSEE_DAYS,
        _key(m, day, event.licensee_id),
        inc=amount,
        on_insert={**_museum_dims(m, day), "licensee_id": event.licensee_id},
    )
    # the part kept against the license's advance
    recouped = event.recouped_fen
    if isinstance(event, RoyaltyReversed):
        recouped = -recouped
    out.add(
        LICENSES,
        event.license_id,
        inc={**amount, "royalty_recouped_fen": recouped} if recouped else amount,
        on_insert={
            "license_id": event.license_id,
            "museum_id": m,
            "licensee_id": event.licensee_id,
        },
    )


def _payout(event: PayoutRecorded, out: Changes) -> None:
    day = local_day(event.paid_at)
    paid = {"royalty_paid_fen": event.amount_fen, "payouts": 1}
    out.add(PLATFORM_DAYS, day, inc=paid, on_insert={"day": day})
    if event.museum_id is not None:
        m = event.museum_id
        out.add(MUSEUM_DAYS, _key(m, day), inc=paid, on_insert=_museum_dims(m, day))


def _statement(event: StatementIssued, out: Changes) -> None:
    # one statement covers a holder's period and has a section per license
    out.add(
        STATEMENTS,
        f"{event.statement_id}|{event.license_id}",
        set=event.model_dump(mode="python"),
    )
    shortfall = event.shortfall_fen
    out.add(
        LICENSES,
        event.license_id,
        inc={"statements": 1, "shortfall_charged_fen": shortfall}
        if shortfall
        else {"statements": 1},
        set={"last_statement_id": event.statement_id},
        on_insert={
            "license_id": event.license_id,
            "museum_id": event.museum_id,
            "licensee_id": event.licensee_id,
        },
    )


def _license_granted(event: LicenseGranted, out: Changes) -> None:
    out.add(
        LICENSES,
        event.license_id,
        set={
            "license_id": event.license_id,
            "museum_id": event.museum_id,
            "licensee_id": event.licensee_id,
            "relic_ids": list(event.relic_ids),
            "rate_bps": event.rate_bps,
            "minimum_guarantee_fen": event.minimum_guarantee_fen,
            "advance_fen": event.advance_fen,
            "starts_at": event.starts_at,
            "ends_at": event.ends_at,
            "exclusivity": event.exclusivity,
            "status": "active",
        },
    )
    day = local_day(event.starts_at)
    out.add(PLATFORM_DAYS, day, inc={"licenses_granted": 1}, on_insert={"day": day})


_LICENSE_STATUS: dict[type[Event], str] = {
    LicenseSuspended: "suspended",
    LicenseReinstated: "active",
    LicenseRevoked: "revoked",
    LicenseExpired: "expired",
}


def _license_status(
    event: LicenseSuspended | LicenseReinstated | LicenseRevoked | LicenseExpired, out: Changes
) -> None:
    out.add(
        LICENSES,
        event.license_id,
        set={"status": _LICENSE_STATUS[type(event)]},
        on_insert={
            "license_id": event.license_id,
            "museum_id": event.museum_id,
            "licensee_id": event.licensee_id,
        },
    )


def _museum(event: MuseumRegistered | MuseumUpdated, out: Changes) -> None:
    out.add(MUSEUMS, event.museum_id, set=event.model_dump(mode="python"))


def _relic(event: RelicRegistered | RelicUpdated, out: Changes) -> None:
    data = event.model_dump(mode="python")
    out.add(RELICS, event.relic_id, set=data)


def _product(
    event: ProductPublished
    | ProductUpdated
    | ProductPriceChanged
    | ProductRetired
    | ProductUnsellable,
    out: Changes,
) -> None:
    p = event.product
    out.add(
        PRODUCTS,
        event.product_id,
        set={
            "product_id": p.product_id,
            "sku": p.sku,
            "title_zh": p.title_zh,
            "title_en": p.title_en,
            "category": p.category,
            "price_fen": p.price_fen,
            "relic_ids": list(p.relic_ids),
            "museum_ids": list(p.museum_ids),
            "license_id": p.license_id,
            "licensee_id": p.licensee_id,
            "status": p.status,
            "sellable": p.sellable,
            "version": p.version,
        },
    )


def _asset(event: AssetOpened | OwnershipChanged, out: Changes) -> None:
    shares = [s.model_dump() for s in event.shares]
    if isinstance(event, AssetOpened):
        data: dict[str, Any] = {
            "asset_id": event.asset_id,
            "relic_id": event.relic_id,
            "museum_id": event.museum_id,
            "shares": shares,
        }
    else:
        data = {"asset_id": event.asset_id, "shares": shares, "effective_at": event.effective_at}
    out.add(ASSETS, event.asset_id, set=data)


def _platform_counter(
    name: str, at: Callable[[Any], datetime] | None = None
) -> Callable[[Any, Changes, datetime], None]:
    """A per-day platform counter; `at` picks the event's time (else the envelope's)."""

    def rule(event: Any, out: Changes, received_at: datetime) -> None:
        day = local_day(at(event) if at is not None else received_at)
        out.add(PLATFORM_DAYS, day, inc={name: 1}, on_insert={"day": day})

    return rule


def _timeless(rule: Callable[[Any, Changes], None]) -> Callable[[Any, Changes, datetime], None]:
    def wrapped(event: Any, out: Changes, _received_at: datetime) -> None:
        rule(event, out)

    return wrapped


def _order_placed(event: OrderPlaced, out: Changes) -> None:
    day, minute = local_day(event.placed_at), utc_minute(event.placed_at)
    out.add(
        PLATFORM_DAYS,
        day,
        inc={"orders_placed": 1, "placed_fen": event.total_fen},
        on_insert={"day": day},
    )
    out.add(PLATFORM_MINUTES, minute, inc={"orders_placed": 1}, on_insert={"minute": minute})


_RULES: dict[type[Event], Callable[[Any, Changes, datetime], None]] = {
    MuseumRegistered: _timeless(_museum),
    MuseumUpdated: _timeless(_museum),
    RelicRegistered: _timeless(_relic),
    RelicUpdated: _timeless(_relic),
    ProductPublished: _timeless(_product),
    ProductUpdated: _timeless(_product),
    ProductPriceChanged: _timeless(_product),
    ProductRetired: _timeless(_product),
    ProductUnsellable: _timeless(_product),
    StockReserved: _platform_counter("stock_reserved"),
    StockRejected: _platform_counter("stock_rejected"),
    StockReleased: _platform_counter("stock_released", lambda e: e.released_at),
    OrderPlaced: _timeless(_order_placed),
    OrderConfirmed: _platform_counter("orders_confirmed", lambda e: e.confirmed_at),
    OrderRejected: _platform_counter("orders_rejected", lambda e: e.rejected_at),
    OrderPaid: _timeless(_order_paid),
    OrderCancelled: _platform_counter("orders_cancelled", lambda e: e.cancelled_at),
    OrderRefunded: _timeless(_order_refunded),
    OrderFulfilled: _platform_counter("orders_fulfilled", lambda e: e.fulfilled_at),
    AssetOpened: _timeless(_asset),
    OwnershipChanged: _timeless(_asset),
    LicenseGranted: _timeless(_license_granted),
    LicenseSuspended: _timeless(_license_status),
    LicenseReinstated: _timeless(_license_status),
    LicenseRevoked: _timeless(_license_status),
    LicenseExpired: _timeless(_license_status),
    RoyaltyAccrued: _timeless(_royalty),
    RoyaltyReversed: _timeless(_royalty),
    StatementIssued: _timeless(_statement),
    PayoutRecorded: _timeless(_payout),
}

PROJECTED: tuple[type[Event], ...] = tuple(_RULES)


def changes_for(event: Event, received_at: datetime) -> list[Change]:
    """Every document change one event makes, one per document.

    `received_at` is the envelope time: it buckets the per-type event counts
    and events that carry no time of their own."""
    out = Changes()
    rule = _RULES.get(type(event))
    if rule is not None:
        rule(event, out, received_at)
    day = local_day(received_at)
    out.add(EVENT_DAYS, day, inc={_type_counter(event.TYPE): 1}, on_insert={"day": day})
    return out.result()
