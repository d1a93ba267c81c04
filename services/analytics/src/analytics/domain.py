"""Projection rules, pure: which read-model documents an event changes, and how.

Every contract event maps to a list of `Change`s (see `changes.py`): counters
to increment and fields to set on one document each. A handler applies them
exactly once per document (a partition high-water mark in the same update),
and a replay or the history loader merges many events' changes per document
before writing them (`merge`).

One event touches each document at most once (`Changes` folds the lines of
an order into one increment per document), so a per-document high-water mark
never swallows the second line of the same order.

A museum's day totals go to its museum-day document; its products, relics
and licensees to nested counters of the aligned blocks holding that day
(`changes.blocks_of_day`); every license it has is listed in its museum
document: the dashboard reads those by `_id`, never a scan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from analytics import latest
from analytics.authenticity import certificate_verified, counterfeit_reported
from analytics.changes import (
    ASSETS,
    EVENT_DAYS,
    LICENSEES,
    LICENSES,
    MONEY_FIELDS,
    MUSEUM_BLOCKS,
    MUSEUM_DAYS,
    MUSEUMS,
    PLATFORM_DAYS,
    PLATFORM_MINUTES,
    PLATFORM_TOTAL_ID,
    PLATFORM_TOTALS,
    PRODUCTS,
    PRODUCTS_OF_BLOCK,
    RELICS,
    RELICS_OF_BLOCK,
    ROLLUPS,
    STATEMENTS,
    TZ,
    Change,
    Changes,
    blocks_of_day,
    local_day,
    merge,
    museum_block_id,
    museum_day_id,
    nested,
    utc_minute,
)
from analytics.holders import Side, payout_shares, royalty_shares
from analytics.licensing import license_change, license_granted, license_status, statement
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
    CertificateVerified,
    CounterfeitReported,
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
    PaymentReversed,
    RefundLine,
)

__all__ = [
    "ASSETS",
    "EVENT_DAYS",
    "LICENSES",
    "MONEY_FIELDS",
    "MUSEUMS",
    "MUSEUM_BLOCKS",
    "MUSEUM_DAYS",
    "PLATFORM_DAYS",
    "PLATFORM_MINUTES",
    "PLATFORM_TOTALS",
    "PRODUCTS",
    "PROJECTED",
    "RELICS",
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


# --- per-event rules ------------------------------------------------------------


def _type_counter(event_type: str) -> str:
    # rebirth.orders.order.paid.v1 -> orders_order_paid_v1 (no '.' in keys)
    return event_type.removeprefix("rebirth.").replace(".", "_")


def _museum_dims(museum_id: str, day: str) -> dict[str, Any]:
    return {"museum_id": museum_id, "day": day}


def _museum_day(out: Changes, m: str, day: str, inc: Mapping[str, int] | None = None) -> None:
    out.add(MUSEUM_DAYS, museum_day_id(m, day), inc=inc, on_insert=_museum_dims(m, day))


@lru_cache(maxsize=4_096)  # a few museums' recent days, over and over
def _blocks(m: str, day: str) -> tuple[tuple[str, dict[str, Any]], ...]:
    """The `_id` and insert-time fields of every block holding a museum's day."""
    return tuple(
        (museum_block_id(m, first, s), {"museum_id": m, "first": first.isoformat(), "days": s})
        for first, s in blocks_of_day(date.fromisoformat(day))
    )


def _museum_blocks(
    out: Changes,
    m: str,
    day: str,
    inc: Mapping[str, int],
    set: Mapping[str, Any] | None = None,  # noqa: A002
) -> None:
    """A day's breakdown (nested counters), added to every block holding it."""
    for block_id, on_insert in _blocks(m, day):
        out.add(MUSEUM_BLOCKS, block_id, inc=inc, set=set, on_insert=on_insert)  # copies all


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
        _museum_day(out, m, day, money)
        _line_rollups(out, m, day, line, money)
    for m in museums:
        _museum_day(out, m, day, {"orders": 1})


def _line_rollups(
    out: Changes,
    m: str,
    day: str,
    line: OrderLine | RefundLine,
    money: dict[str, int],
) -> None:
    """One order or refund line's money, into its product, relic and licensee
    counters of the museum's blocks and into its license (the museum's own day
    figures are added by the caller). Only what a dashboard shows is counted:
    every nested counter is read back with each block."""
    inc = {nested(PRODUCTS_OF_BLOCK, line.product_id, k): v for k, v in money.items()}
    for relic_id in dict.fromkeys(line.relic_ids):
        inc.update({nested(RELICS_OF_BLOCK, relic_id, k): v for k, v in money.items()})
    if line.licensee_id is not None:
        inc.update({nested(LICENSEES, line.licensee_id, k): v for k, v in money.items()})
    _museum_blocks(out, m, day, inc)
    if line.license_id is not None:
        license_change(out, line.license_id, m, licensee_id=line.licensee_id, inc=money)


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
        _museum_day(out, m, day, money)
        _line_rollups(out, m, day, line, money)
    for m in museums:
        _museum_day(out, m, day, {"refunds": 1})


def _royalty(event: RoyaltyAccrued | RoyaltyReversed, out: Changes) -> None:
    side: Side
    if isinstance(event, RoyaltyAccrued):
        day, name, side = local_day(event.accrued_at), "royalty_accrued_fen", "accrued"
    else:
        day, name, side = local_day(event.reversed_at), "royalty_reversed_fen", "reversed"
    m, amount = event.museum_id, {name: event.royalty_fen}
    # the licence's royalty (all holders), and beside it each holder's split
    shares = royalty_shares(m, event.splits, event.relic_ids, side)
    out.add(PLATFORM_DAYS, day, inc=amount, on_insert={"day": day})
    _museum_day(out, m, day, {**amount, **shares.day})
    inc = {nested(PRODUCTS_OF_BLOCK, event.product_id, name): event.royalty_fen}
    for relic_id in dict.fromkeys(event.relic_ids):
        inc[nested(RELICS_OF_BLOCK, relic_id, name)] = event.royalty_fen
    inc[nested(LICENSEES, event.licensee_id, name)] = event.royalty_fen
    _museum_blocks(out, m, day, {**inc, **shares.block}, shares.block_set)
    # the part kept against the license's advance
    recouped = event.recouped_fen
    if isinstance(event, RoyaltyReversed):
        recouped = -recouped
    license_change(
        out,
        event.license_id,
        m,
        licensee_id=event.licensee_id,
        inc={**amount, "royalty_recouped_fen": recouped} if recouped else amount,
    )


def _payout(event: PayoutRecorded, out: Changes) -> None:
    day = local_day(event.paid_at)
    paid = {"royalty_paid_fen": event.amount_fen, "payouts": 1}
    out.add(PLATFORM_DAYS, day, inc=paid, on_insert={"day": day})
    if event.museum_id is not None:  # a holder registered under a museum
        shares = payout_shares(event.museum_id, event.holder_id, event.amount_fen)
        _museum_day(out, event.museum_id, day, {**paid, **shares.day})
        if shares.block:
            _museum_blocks(out, event.museum_id, day, shares.block)


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
    MuseumRegistered: _timeless(latest.museum),
    MuseumUpdated: _timeless(latest.museum),
    RelicRegistered: _timeless(latest.relic),
    RelicUpdated: _timeless(latest.relic),
    ProductPublished: _timeless(latest.product),
    ProductUpdated: _timeless(latest.product),
    ProductPriceChanged: _timeless(latest.product),
    ProductRetired: _timeless(latest.product),
    ProductUnsellable: _timeless(latest.product),
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
    # a capture refunded after its order expired: never in gross or royalties
    PaymentReversed: _platform_counter("payments_reversed", lambda e: e.reversed_at),
    AssetOpened: _timeless(latest.asset),
    OwnershipChanged: _timeless(latest.asset),
    LicenseGranted: _timeless(license_granted),
    LicenseSuspended: _timeless(license_status),
    LicenseReinstated: _timeless(license_status),
    LicenseRevoked: _timeless(license_status),
    LicenseExpired: _timeless(license_status),
    RoyaltyAccrued: _timeless(_royalty),
    RoyaltyReversed: _timeless(_royalty),
    StatementIssued: _timeless(statement),
    PayoutRecorded: _timeless(_payout),
    # authenticity (analytics.authenticity): checks and counterfeit reports
    CertificateVerified: _timeless(certificate_verified),
    CounterfeitReported: _timeless(counterfeit_reported),
}

PROJECTED: tuple[type[Event], ...] = tuple(_RULES)


def _platform_totals(out: Changes) -> None:
    """The money of the platform's day, added to its all-time figures too: the
    operator overview reads one document instead of every day."""
    for day in out.of(PLATFORM_DAYS):
        money = {k: v for k, v in day.inc.items() if k in MONEY_FIELDS}
        if money:
            out.add(PLATFORM_TOTALS, PLATFORM_TOTAL_ID, inc=money)


def changes_for(event: Event, received_at: datetime) -> list[Change]:
    """Every document change one event makes, one per document.

    `received_at` is the envelope time: it buckets the per-type event counts
    and events that carry no time of their own."""
    out = Changes()
    rule = _RULES.get(type(event))
    if rule is not None:
        rule(event, out, received_at)
    _platform_totals(out)
    day = local_day(received_at)
    out.add(EVENT_DAYS, day, inc={_type_counter(event.TYPE): 1}, on_insert={"day": day})
    return out.result()
