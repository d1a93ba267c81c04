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
concurrent payouts cannot both spend the same balance: position n + 1 is
taken only when the holder's books (ip.books) show n payouts, and the
balance checked is the one in that same document.

After its insert a posting moves its license's head pointer and is projected
into the books (buckets and balances by `_id`); both steps are idempotent and
run again whenever the posting's cause is redelivered and finds it posted, so
a crash between the insert and them heals with the next delivery. A chain
whose head pointer stays behind (its writer crashed in between and no
redelivery came) is read from the journal once: the only scan, a recovery.

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
from collections.abc import Sequence
from datetime import datetime

from contracts.ip import PayoutRecorded
from contracts.orders import OrderPaid, OrderRefunded
from ip.domain import posting_period
from ip.errors import Contention, InsufficientBalance, ReferenceReused
from ip.ledger_reads import LedgerFilter, LedgerPage, read_ledger
from ip.order_batches import OrderBatches
from ip.order_fold import OrderEvent
from ip.postings import (
    CASH,
    Holders,
    holder_account,
    holder_entries,
    holders_of,
    licensee_account,
)
from ip.royalty import PostedAmounts, allocate, check_payout
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
MAX_CHAIN_RETRIES = 100
# payouts: a books document that stays put this many reads in a row is stuck
STUCK_AFTER = 12


class Ledger:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._orders = OrderBatches(store)

    async def _holders(
        self, lic: LicenseRecord, relic_ids: list[str] | tuple[str, ...], at: datetime
    ) -> Holders | None:
        assets = await self._store.assets_by_ids(sorted(lic.scope.asset_ids))
        return holders_of(assets, relic_ids, at)

    async def _done_before(self, posting_id: str) -> bool:
        """True if the posting is in the journal; then finish what follows it."""
        existing = await self._store.posting(posting_id)
        if existing is None:
            return False
        await self._store.posted(existing)
        return True

    # --- order events: accruals and reversals (ip.order_batches) --------------

    async def accrue_order(self, event: OrderPaid, meta: EventMeta) -> None:
        await self._orders.apply([OrderEvent(event, meta.id)])

    async def reverse_refund(self, event: OrderRefunded, meta: EventMeta) -> None:
        await self._orders.apply([OrderEvent(event, meta.id)])

    async def apply_orders(self, events: Sequence[OrderEvent]) -> dict[str, LicenseRecord]:
        """A batch of order events, folded (the consumer's path); the licenses
        its lines name, as read."""
        return await self._orders.apply(events)

    # --- advances, shortfalls, payouts -----------------------------------------

    async def post_advance(self, lic: LicenseRecord) -> None:
        """The advance of a granted license: the licensee owes it, its holders
        are owed it (by the shares at grant). Idempotent; safe to call again."""
        if lic.terms.advance_fen <= 0 or lic.granted_at is None:
            return
        posting_id = f"advance:{lic.license_id}"
        if await self._done_before(posting_id):
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
        holders: Holders,
        period: str,
        at: datetime,
    ) -> None:
        split = allocate(amount_fen, holders.weights)
        licensee = lic.scope.licensee_id
        entries = [
            Entry(licensee_account(licensee), licensee, "licensee", amount_fen),
            *holder_entries(split, holders.kinds, -1),
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
        if await self._store.insert_posting(posting, []) is InsertResult.EXISTS:
            await self._done_before(posting_id)

    async def holder_balance(self, holder_id: str) -> int:
        """What the holder is owed now (fen): its balance document."""
        account = holder_account(holder_id)
        return -await self._store.account_balance(account)

    async def record_payout(
        self, *, holder: HolderRecord, reference: str, amount_fen: int, at: datetime
    ) -> tuple[Posting, bool]:
        """Pay a holder, at most its balance, once per reference: (posting, created)."""
        store = self._store
        posting_id = f"payout:{reference}"
        account = holder_account(holder.holder_id)
        stuck = 0
        last_paid = -1
        for _ in range(MAX_CHAIN_RETRIES):
            existing = await store.posting(posting_id)
            if existing is not None:
                if existing.amounts.payable_fen != amount_fen or account not in {
                    e.account for e in existing.entries
                }:
                    raise ReferenceReused(reference)
                await store.posted(existing)
                return existing, False
            # the payouts counted and the balance come from one document, so
            # the balance includes every payout counted, and position paid + 1
            # is free only if none came since
            book = await store.books.book(account)
            paid, balance = book.payouts, -book.sum_fen
            stuck = stuck + 1 if paid == last_paid else 0
            if stuck >= STUCK_AFTER:
                # the books stay behind a payout (its writer crashed before
                # projecting it): recount from the journal, a recovery scan
                paid = await store.count_payouts(account)
                balance = -sum((await store.balances({"accounts": account})).values())
                stuck = 0
            last_paid = paid
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
            await asyncio.sleep(random.uniform(0, 0.02))
        raise Contention(f"payouts of {holder.holder_id} stayed contended")

    # --- reading ---------------------------------------------------------------

    async def page(self, account: str, query: LedgerFilter) -> LedgerPage:
        """One page of an account's postings in posting order, the cursor of
        the next (None at the end) and the account's sum: see ip.ledger_reads."""
        return await read_ledger(self._store, account, query)
