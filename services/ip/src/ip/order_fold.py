"""A batch of order events folded into postings, in memory (no I/O).

The order consumer (ip.order_batches) and the history loader (ip.history)
both hand a batch of `order.paid` / `order.refunded` events and a view of
what the store holds (`LedgerView`: the licenses, assets and chain heads the
batch names, the close watermark, the postings already in the journal) to
`fold_orders`, which returns the postings to insert, in order, with their
outgoing events. Each license's chain positions are consecutive within the
batch: the first posting of a license sits right after the head read, the
next right after it, each computed from the cumulative state the previous
one left (tiers, recoupment). A posting already in the journal is not built
again: it comes back as `healed`, so what follows its insert (head pointer,
books) is redone, idempotently. The same order paid twice in one batch (a
redelivered copy, or a second event id) posts once.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from contracts.ip import RoyaltyAccrued, RoyaltyReversed
from contracts.orders import OrderPaid, OrderRefunded
from ip.domain import posting_period
from ip.postings import accrual, accrual_id, holders_of, reversal, reversal_id
from ip.records import AssetRecord, LicenseRecord, Posting
from ip.royalty import Cumulative

__all__ = [
    "Folded",
    "LedgerView",
    "OrderEvent",
    "RoyaltyEvent",
    "Unmatched",
    "fold_orders",
    "head_moves",
    "licenses_named",
    "posting_ids",
    "reversal_notes",
]

RoyaltyEvent = RoyaltyAccrued | RoyaltyReversed


@dataclass(frozen=True)
class OrderEvent:
    """An order event and the id of the envelope it came in."""

    event: OrderPaid | OrderRefunded
    event_id: str


@dataclass(frozen=True)
class LedgerView:
    """What a batch reads from the store (one `$in` read per collection)."""

    licenses: dict[str, LicenseRecord]
    assets: dict[str, AssetRecord]
    heads: dict[str, tuple[int, Cumulative]]  # every license asked: (0, zero) if none
    last_closed: str | None
    posted: dict[str, Posting]  # in the journal: the batch's own ids, accruals refunded
    reversals: dict[str, list[str]] = field(default_factory=dict)  # accrual -> listed ids


@dataclass(frozen=True)
class Unmatched:
    """An order line that cannot be posted, and why (kept for operators)."""

    posting_id: str
    reason: str
    event_id: str | None = None


@dataclass
class Folded:
    new: list[tuple[Posting, RoyaltyEvent]] = field(default_factory=list)
    healed: list[Posting] = field(default_factory=list)
    unmatched: list[Unmatched] = field(default_factory=list)
    # licenses whose head the view lacks (a refund of an accrual on another
    # license than its line names): their lines wait for a round that reads them
    missing_heads: set[str] = field(default_factory=set)


def _licensed(events: Iterable[OrderEvent]) -> Iterable[tuple[OrderEvent, str, str]]:
    """(event, line id, posting id) of every licensed line."""
    for item in events:
        e = item.event
        for line in e.lines:
            if line.license_id is None:
                continue
            if isinstance(e, OrderPaid):
                yield item, line.line_id, accrual_id(e.order_id, line.line_id)
            else:
                yield item, line.line_id, reversal_id(e.refund_id, line.line_id)


def posting_ids(events: Sequence[OrderEvent]) -> list[str]:
    """The ids of the postings the batch would make, and of the accruals its
    refunds reverse (all read by `$in` before folding)."""
    ids: list[str] = []
    for item, line_id, posting_id in _licensed(events):
        ids.append(posting_id)
        if isinstance(item.event, OrderRefunded):
            ids.append(accrual_id(item.event.order_id, line_id))
    return list(dict.fromkeys(ids))


def licenses_named(events: Sequence[OrderEvent]) -> list[str]:
    found = [line.license_id for item in events for line in item.event.lines if line.license_id]
    return list(dict.fromkeys(found))


def reversal_notes(events: Sequence[OrderEvent]) -> dict[str, list[str]]:
    """accrual id -> the reversal ids the batch may post for it (listed in the
    reversal index BEFORE any of them is inserted, see ip.store)."""
    notes: dict[str, list[str]] = {}
    for item, line_id, posting_id in _licensed(events):
        if isinstance(item.event, OrderRefunded):
            key = accrual_id(item.event.order_id, line_id)
            notes.setdefault(key, []).append(posting_id)
    return notes


def head_moves(postings: Iterable[Posting]) -> dict[str, tuple[int, Cumulative]]:
    """Per license, the furthest chain position among these postings."""
    moves: dict[str, tuple[int, Cumulative]] = {}
    for p in postings:
        if p.license_id and p.license_seq and p.cum_after:
            if p.license_seq > moves.get(p.license_id, (0, Cumulative()))[0]:
                moves[p.license_id] = (p.license_seq, p.cum_after)
    return moves


class _Fold:
    def __init__(self, view: LedgerView) -> None:
        self.view = view
        self.heads = dict(view.heads)
        # a posting in the journal is in its chain: a pointer behind it lags
        for license_id, (seq, cum) in head_moves(view.posted.values()).items():
            if license_id in self.heads and seq > self.heads[license_id][0]:
                self.heads[license_id] = (seq, cum)
        self.out = Folded()
        self.new: dict[str, Posting] = {}
        self.new_reversals: dict[str, list[Posting]] = {}
        self.healed: dict[str, Posting] = {}

    def done(self, posting_id: str) -> bool:
        """True if posted before (healed) or already built in this batch."""
        existing = self.view.posted.get(posting_id)
        if existing is not None:
            self.healed.setdefault(posting_id, existing)
            return True
        return posting_id in self.new

    def head(self, license_id: str) -> tuple[int, Cumulative] | None:
        if license_id not in self.heads:
            self.out.missing_heads.add(license_id)
            return None
        return self.heads[license_id]

    def add(self, posting: Posting, event: RoyaltyEvent) -> None:
        assert posting.license_id
        assert posting.license_seq
        assert posting.cum_after
        self.heads[posting.license_id] = (posting.license_seq, posting.cum_after)
        self.new[posting.posting_id] = posting
        self.out.new.append((posting, event))

    def paid(self, event: OrderPaid, event_id: str) -> None:
        view = self.view
        for line in event.lines:
            if line.license_id is None:
                continue
            posting_id = accrual_id(event.order_id, line.line_id)
            if self.done(posting_id):
                continue
            lic = view.licenses.get(line.license_id)
            if lic is None or lic.granted_at is None:
                reason = "unknown license" if lic is None else "license never granted"
                self.out.unmatched.append(Unmatched(posting_id, reason, event_id))
                continue
            assets = [view.assets[a] for a in sorted(lic.scope.asset_ids) if a in view.assets]
            holders = holders_of(assets, line.relic_ids, event.paid_at)
            if holders is None:
                self.out.unmatched.append(Unmatched(posting_id, "license has no assets", event_id))
                continue
            head = self.head(lic.license_id)
            if head is None:
                continue
            self.add(
                *accrual(
                    event,
                    line,
                    event_id=event_id,
                    lic=lic,
                    holders=holders,
                    seq=head[0],
                    before=head[1],
                    period=posting_period(event.paid_at, view.last_closed),
                )
            )

    def refunded(self, event: OrderRefunded, event_id: str) -> None:
        view = self.view
        for line in event.lines:
            if line.license_id is None:
                continue
            posting_id = reversal_id(event.refund_id, line.line_id)
            if self.done(posting_id):
                continue
            key = accrual_id(event.order_id, line.line_id)
            accrued = self.new.get(key) or view.posted.get(key)
            if accrued is None or accrued.license_id is None:
                self.out.unmatched.append(Unmatched(posting_id, "refund of a line never accrued"))
                continue
            head = self.head(accrued.license_id)
            if head is None:
                continue
            # the accrual's reversals so far: those in the journal (listed in
            # the index), then those built earlier in this batch
            prior = [
                view.posted[x]
                for x in view.reversals.get(key, [])
                if x in view.posted and x != posting_id
            ]
            prior += self.new_reversals.get(key, [])
            built = reversal(
                event,
                line,
                event_id=event_id,
                accrued=accrued,
                prior=prior,
                seq=head[0],
                before=head[1],
                period=posting_period(event.refunded_at, view.last_closed),
            )
            if built is None:  # fully reversed already
                continue
            self.add(*built)
            self.new_reversals.setdefault(key, []).append(built[0])


def fold_orders(view: LedgerView, events: Sequence[OrderEvent]) -> Folded:
    """The batch's postings, in event order, chained per license from `view`."""
    fold = _Fold(view)
    for item in events:
        if isinstance(item.event, OrderPaid):
            fold.paid(item.event, item.event_id)
        else:
            fold.refunded(item.event, item.event_id)
    fold.out.healed = list(fold.healed.values())
    return fold.out
