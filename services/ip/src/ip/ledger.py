"""The royalty engine: postings on a double-entry, append-only journal.

Accounts (debits positive, credits negative; every posting sums to zero):

- `licensee:<id>`  what a licensee owes (royalties, advances, shortfalls);
- `holder:<id>`    what is owed to a rights holder (a credit balance);
- `platform:cash`  money paid out to holders.

A holder's balance as shown is minus its account's sum: what it is owed.

Exactly once without transactions
---------------------------------
Each posting is ONE journal document, inserted once: its `_id` names the thing
posted (`accrual:<order>:<line>`, `reversal:<refund>:<line>`,
`advance:<license>`, `shortfall:<license>:<period>`, `payout:<reference>`),
a unique `source_key` names its cause (for an order line: `<event id>:<line>`),
and its outgoing event rides in the same document (the outbox), with the
posting id as the event id. A redelivered event hits the duplicate key and
changes nothing; so does the same order paid under a second event id.

Tiers and recoupment depend on what the license sold before, so accruals and
reversals of one license form a chain: each such posting carries
`license_seq` (its position) and `cum_after` (units, net sales and recouped
advance after it), and a unique `chain_key` = `license:<id>:<seq>`. A posting
is computed from the chain's head (the highest seq) and inserted at head + 1;
if another posting took that position first, the insert fails on `chain_key`
and the posting is recomputed from the new head. The cumulative state is thus
never counted twice or skipped, and it lives in the same single document as
the entries it produced: there is no second write to get out of step.

Payouts form a per-holder chain the same way (`payout:<holder>:<n>`), so two
concurrent payouts cannot both spend the same balance.

Periods: a posting belongs to its event's month (China time) unless that month
is closed, then to the first open one (the watermark is re-read on every
chain attempt). Closing period P moves a single watermark (all periods <= P
are closed), then waits a grace period before adding up. Known gap: a posting
that read the watermark before the close and inserts only after the grace
(a stall of seconds between one read and one insert) lands in the closed
month after its statement was issued. Closing is an operator action run after
month end, which makes this practically empty, but it is not impossible.
"""

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from contracts.ip import PayoutRecorded, RoyaltyAccrued, RoyaltyReversed, RoyaltySplit
from contracts.orders import OrderLine, OrderPaid, OrderRefunded, RefundLine
from ip.domain import posting_period, shares_at
from ip.errors import Contention, InsufficientBalance, ReferenceReused
from ip.royalty import (
    Cumulative,
    PostedAmounts,
    allocate,
    check_payout,
    combine_shares,
    compute_line_royalty,
    recoup,
    reverse,
)
from ip.store import Entry, HolderRecord, InsertResult, LicenseRecord, Posting, Store
from servicekit.consumer import EventMeta
from servicekit.outbox import outbox_entry

__all__ = [
    "CASH",
    "Ledger",
    "holder_account",
    "licensee_account",
]

log = logging.getLogger(__name__)
CASH = "platform:cash"
MAX_CHAIN_RETRIES = 100
# a chain position lost to a rival: its winner moves the head pointer right
# after, so look there again a few times before reading the journal itself
EXACT_AFTER = 3


def holder_account(holder_id: str) -> str:
    return f"holder:{holder_id}"


def licensee_account(licensee_id: str) -> str:
    return f"licensee:{licensee_id}"


@dataclass(frozen=True)
class _Holders:
    weights: dict[str, int]
    kinds: dict[str, str]


def _holder_entries(split: Mapping[str, int], kinds: Mapping[str, str], sign: int) -> list[Entry]:
    return [
        Entry(holder_account(h), h, kinds.get(h, "museum"), sign * amount)
        for h, amount in sorted(split.items())
        if amount
    ]


def _splits(entries: tuple[Entry, ...]) -> list[RoyaltySplit]:
    return [
        RoyaltySplit(holder_id=e.party_id, holder_kind=e.party_kind, amount_fen=abs(e.amount_fen))
        for e in entries
        if e.account.startswith("holder:")
    ]


class Ledger:
    def __init__(self, store: Store) -> None:
        self._store = store

    # --- who gets what ----------------------------------------------------------

    async def _holders(
        self, lic: LicenseRecord, relic_ids: list[str] | tuple[str, ...], at: datetime
    ) -> _Holders | None:
        """The holders of the line's assets (those of the license whose relic the
        line names; all of the license's when none matches), by the shares in
        force at `at`."""
        assets = await self._store.assets_by_ids(sorted(lic.scope.asset_ids))
        chosen = [a for a in assets if a.relic_id in relic_ids] or assets
        if not chosen:
            return None
        per_asset: list[dict[str, int]] = []
        kinds: dict[str, str] = {}
        for asset in sorted(chosen, key=lambda a: a.asset_id):
            shares = shares_at(asset.ownership, at)
            per_asset.append({s.holder_id: s.share_bps for s in shares})
            kinds.update({s.holder_id: s.holder_kind for s in shares})
        return _Holders(combine_shares(per_asset), kinds)

    # --- order paid: accruals -------------------------------------------------

    async def accrue_order(self, event: OrderPaid, meta: EventMeta) -> None:
        for line in event.lines:
            if line.license_id is not None:
                await self._accrue_line(event, line, meta)

    async def _accrue_line(self, event: OrderPaid, line: OrderLine, meta: EventMeta) -> None:
        store = self._store
        posting_id = f"accrual:{event.order_id}:{line.line_id}"
        if await store.posting(posting_id) is not None:
            return
        lic = await store.license(line.license_id or "")
        if lic is None or lic.granted_at is None:
            reason = "unknown license" if lic is None else "license never granted"
            await store.record_unmatched(posting_id, reason, {"event_id": meta.id})
            log.warning("order line under license %s: %s", line.license_id, reason)
            return
        holders = await self._holders(lic, line.relic_ids, event.paid_at)
        if holders is None:
            await store.record_unmatched(posting_id, "license has no assets", {"event_id": meta.id})
            return
        terms = lic.terms
        for attempt in range(MAX_CHAIN_RETRIES):
            seq, before = await store.license_head(lic.license_id, exact=attempt >= EXACT_AFTER)
            period = posting_period(event.paid_at, await store.last_closed())
            royalty = compute_line_royalty(
                base_rate_bps=terms.rate_bps,
                tiers=terms.tiers,
                tier_basis=terms.tier_basis,
                minimum_per_unit_fen=terms.minimum_per_unit_fen,
                before=before,
                quantity=line.quantity,
                net_sales_fen=line.line_total_fen,
            ).royalty_fen
            recouped, payable = recoup(
                royalty, advance_fen=terms.advance_fen, recouped_before_fen=before.recouped_fen
            )
            split = allocate(payable, holders.weights)
            entries = _holder_entries(split, holders.kinds, -1)
            if payable:
                entries.insert(
                    0,
                    Entry(
                        licensee_account(lic.scope.licensee_id),
                        lic.scope.licensee_id,
                        "licensee",
                        payable,
                    ),
                )
            posting = Posting(
                posting_id=posting_id,
                kind="accrual",
                source_key=f"{meta.id}:{line.line_id}",
                chain_key=f"license:{lic.license_id}:{seq + 1}",
                period=period,
                posted_at=event.paid_at,
                entries=tuple(entries),
                license_id=lic.license_id,
                licensee_id=lic.scope.licensee_id,
                museum_id=lic.museum_id,
                order_id=event.order_id,
                line_id=line.line_id,
                product_id=line.product_id,
                relic_ids=tuple(line.relic_ids),
                amounts=PostedAmounts(
                    line.quantity, line.line_total_fen, royalty, payable, recouped
                ),
                license_seq=seq + 1,
                cum_after=Cumulative(
                    before.units + line.quantity,
                    before.net_sales_fen + line.line_total_fen,
                    before.recouped_fen + recouped,
                ),
            )
            accrued = RoyaltyAccrued(
                license_id=lic.license_id,
                posting_id=posting_id,
                licensee_id=lic.scope.licensee_id,
                museum_id=lic.museum_id,
                order_id=event.order_id,
                line_id=line.line_id,
                product_id=line.product_id,
                relic_ids=list(line.relic_ids),
                quantity=line.quantity,
                net_sales_fen=line.line_total_fen,
                royalty_fen=royalty,
                splits=_splits(posting.entries),
                accrued_at=event.paid_at,
                recouped_fen=recouped,
                period=period,
            )
            if await self._insert(posting, accrued):
                return
        raise Contention(f"license {lic.license_id} chain stayed contended")

    async def _insert(self, posting: Posting, event: RoyaltyAccrued | RoyaltyReversed) -> bool:
        """True when done (inserted now or before); False to recompute and retry."""
        outbox = [outbox_entry(event, source="ip", event_id=posting.posting_id)]
        result = await self._store.insert_posting(posting, outbox)
        if result is InsertResult.CHAIN_TAKEN:
            await asyncio.sleep(random.uniform(0, 0.02))  # let the winner's rivals spread out
            return False
        return True

    # --- order refunded: reversals --------------------------------------------

    async def reverse_refund(self, event: OrderRefunded, meta: EventMeta) -> None:
        for line in event.lines:
            if line.license_id is not None:
                await self._reverse_line(event, line, meta)

    async def _reverse_line(self, event: OrderRefunded, line: RefundLine, meta: EventMeta) -> None:
        store = self._store
        posting_id = f"reversal:{event.refund_id}:{line.line_id}"
        if await store.posting(posting_id) is not None:
            return
        accrual = await store.posting(f"accrual:{event.order_id}:{line.line_id}")
        if accrual is None or accrual.license_id is None:
            await store.record_unmatched(posting_id, "refund of a line never accrued", {})
            log.warning("refund %s of a line never accrued: %s", event.refund_id, line.line_id)
            return
        license_id = accrual.license_id
        for attempt in range(MAX_CHAIN_RETRIES):
            seq, before = await store.license_head(license_id, exact=attempt >= EXACT_AFTER)
            prior = await store.reversals_of(accrual.posting_id)
            reversed_before = PostedAmounts()
            held = {
                e.party_id: -e.amount_fen
                for e in accrual.entries
                if e.account.startswith("holder:")
            }
            for p in prior:
                reversed_before = reversed_before.plus(p.amounts)
                for e in p.entries:
                    if e.account.startswith("holder:"):
                        held[e.party_id] -= e.amount_fen
            step = reverse(
                accrual.amounts,
                reversed_before,
                refund_quantity=line.quantity,
                refund_fen=line.amount_fen,
            )
            if step == PostedAmounts():
                log.info("refund %s: line %s already fully reversed", event.refund_id, line.line_id)
                return
            kinds = {e.party_id: e.party_kind for e in accrual.entries}
            back = allocate(step.payable_fen, held) if step.payable_fen else {}
            entries = _holder_entries(back, kinds, +1)
            if step.payable_fen:
                entries.insert(
                    0,
                    Entry(
                        licensee_account(accrual.licensee_id or ""),
                        accrual.licensee_id or "",
                        "licensee",
                        -step.payable_fen,
                    ),
                )
            period = posting_period(event.refunded_at, await store.last_closed())
            posting = Posting(
                posting_id=posting_id,
                kind="reversal",
                source_key=f"{meta.id}:{line.line_id}",
                chain_key=f"license:{license_id}:{seq + 1}",
                period=period,
                posted_at=event.refunded_at,
                entries=tuple(entries),
                license_id=license_id,
                licensee_id=accrual.licensee_id,
                museum_id=accrual.museum_id,
                order_id=event.order_id,
                line_id=line.line_id,
                product_id=line.product_id,
                refund_id=event.refund_id,
                relic_ids=accrual.relic_ids,
                amounts=step,
                license_seq=seq + 1,
                cum_after=Cumulative(
                    before.units - step.quantity,
                    before.net_sales_fen - step.net_sales_fen,
                    before.recouped_fen - step.recouped_fen,
                ),
                accrual_id=accrual.posting_id,
            )
            reversed_event = RoyaltyReversed(
                license_id=license_id,
                posting_id=posting_id,
                licensee_id=accrual.licensee_id or "",
                museum_id=accrual.museum_id or "",
                order_id=event.order_id,
                refund_id=event.refund_id,
                line_id=line.line_id,
                product_id=line.product_id,
                relic_ids=list(accrual.relic_ids),
                quantity=step.quantity,
                net_sales_fen=step.net_sales_fen,
                royalty_fen=step.royalty_fen,
                splits=_splits(posting.entries),
                reversed_at=event.refunded_at,
                recouped_fen=step.recouped_fen,
                period=period,
            )
            if await self._insert(posting, reversed_event):
                return
        raise Contention(f"license {license_id} chain stayed contended")

    # --- advances, shortfalls, payouts -----------------------------------------

    async def post_advance(self, lic: LicenseRecord) -> None:
        """The advance of a granted license: the licensee owes it, its holders
        are owed it (by the shares at grant). Idempotent; safe to call again."""
        if lic.terms.advance_fen <= 0 or lic.granted_at is None:
            return
        posting_id = f"advance:{lic.license_id}"
        if await self._store.posting(posting_id) is not None:
            return
        holders = await self._holders(lic, (), lic.granted_at)
        if holders is None:
            return
        await self._post_charge(
            lic,
            kind="advance",
            posting_id=posting_id,
            amount_fen=lic.terms.advance_fen,
            holders=holders,
            period=posting_period(lic.granted_at, await self._store.last_closed()),
            at=lic.granted_at,
        )

    async def post_shortfall(
        self, lic: LicenseRecord, *, period: str, shortfall_fen: int, at: datetime
    ) -> None:
        holders = await self._holders(lic, (), at)
        if holders is None or shortfall_fen <= 0:
            return
        await self._post_charge(
            lic,
            kind="shortfall",
            posting_id=f"shortfall:{lic.license_id}:{period}",
            amount_fen=shortfall_fen,
            holders=holders,
            period=period,
            at=at,
        )

    async def _post_charge(
        self,
        lic: LicenseRecord,
        *,
        kind: str,
        posting_id: str,
        amount_fen: int,
        holders: _Holders,
        period: str,
        at: datetime,
    ) -> None:
        split = allocate(amount_fen, holders.weights)
        licensee = lic.scope.licensee_id
        entries = [
            Entry(licensee_account(licensee), licensee, "licensee", amount_fen),
            *_holder_entries(split, holders.kinds, -1),
        ]
        posting = Posting(
            posting_id=posting_id,
            kind=kind,
            source_key=posting_id,
            chain_key=posting_id,
            period=period,
            posted_at=at,
            entries=tuple(entries),
            license_id=lic.license_id,
            licensee_id=licensee,
            museum_id=lic.museum_id,
            amounts=PostedAmounts(royalty_fen=amount_fen, payable_fen=amount_fen),
        )
        await self._store.insert_posting(posting, [])

    async def holder_balance(self, holder_id: str) -> int:
        """What the holder is owed now (fen)."""
        account = holder_account(holder_id)
        return -await self._store.account_balance(account)

    async def record_payout(
        self, *, holder: HolderRecord, reference: str, amount_fen: int, at: datetime
    ) -> tuple[Posting, bool]:
        """Pay a holder, at most its balance, once per reference: (posting, created)."""
        store = self._store
        posting_id = f"payout:{reference}"
        account = holder_account(holder.holder_id)
        for _ in range(MAX_CHAIN_RETRIES):
            existing = await store.posting(posting_id)
            if existing is not None:
                if existing.amounts.payable_fen != amount_fen or account not in {
                    e.account for e in existing.entries
                }:
                    raise ReferenceReused(reference)
                return existing, False
            # count first, then the balance: the balance then includes every
            # payout counted, and position paid + 1 is free only if none came since
            paid = await store.count_payouts(account)
            balance = await self.holder_balance(holder.holder_id)
            try:
                check_payout(amount_fen, balance_fen=balance)
            except ValueError as exc:
                raise InsufficientBalance(holder.holder_id, balance, amount_fen) from exc
            period = posting_period(at, await store.last_closed())
            posting = Posting(
                posting_id=posting_id,
                kind="payout",
                source_key=posting_id,
                chain_key=f"payout:{holder.holder_id}:{paid + 1}",
                period=period,
                posted_at=at,
                entries=(
                    Entry(account, holder.holder_id, holder.kind, amount_fen),
                    Entry(CASH, "platform", "platform", -amount_fen),
                ),
                museum_id=holder.museum_id,
                reference=reference,
                amounts=PostedAmounts(payable_fen=amount_fen),
            )
            recorded = PayoutRecorded(
                payout_id=posting_id,
                reference=reference,
                holder_id=holder.holder_id,
                museum_id=holder.museum_id,
                amount_fen=amount_fen,
                paid_at=at,
            )
            outbox = [outbox_entry(recorded, source="ip", event_id=posting_id)]
            result = await store.insert_posting(posting, outbox)
            if result is InsertResult.INSERTED:
                return posting, True
        raise Contention(f"payouts of {holder.holder_id} stayed contended")
