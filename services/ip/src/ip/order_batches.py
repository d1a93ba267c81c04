"""Order events into the ledger, a batch at a time.

One round reads what the batch needs (one `$in` per collection), folds the
batch in memory (ip.order_fold), and writes: the reversal index (refunds
only, BEFORE the reads: a rival reversal of the same accrual that reads it
after finds ours), one `mark_pending` and one ordered `insert_many` of the
postings with their events, then one bulk write each for the head pointers
and the order index, and the books' round (ip.books: the day chunks read
and written, the month indexes written and read, the balances written). At
steady state a batch of paid orders costs 14 store commands whatever its
size (one more when it fills a day's chunk and opens the next).

Exactly once (see ip.ledger for the journal's keys): the batch's postings
already in the journal are read first and not sent again, but what follows
their insert (heads, books) is redone, idempotently, so a crash between the
insert and those writes heals on redelivery, and a whole batch redelivered
changes nothing. A posting that loses its chain position to a rival (another
replica on the same license) stops the insert there; the round writes what
follows the postings that landed, and the next round re-reads and recomputes
the rest from the new heads. Head pointers are read BEFORE the journal and
the reversal index, so a pointer read past a rival's posting comes with that
posting (and its index entry) visible. A pointer that stays put while its
chain position is taken belongs to a writer that crashed between its two
writes: after `STUCK_AFTER` rounds the head is read from the journal (the
only scan, a recovery).
"""

import asyncio
import logging
import random
from collections.abc import Sequence

from ip import journal
from ip.errors import Contention
from ip.order_fold import (
    Folded,
    LedgerView,
    OrderEvent,
    fold_orders,
    head_moves,
    licenses_named,
    posting_ids,
    reversal_notes,
)
from ip.records import AssetRecord, LicenseRecord, Posting
from ip.royalty import Cumulative
from ip.store import Store, book_lines
from servicekit.outbox import outbox_entry

__all__ = ["MAX_ROUNDS", "OrderBatches"]

log = logging.getLogger(__name__)
MAX_ROUNDS = 100
# a chain position lost to a rival: its winner moves the head pointer right
# after; only a pointer that stays put this many rounds in a row is stuck
STUCK_AFTER = 12


class _Chains:
    """Per license, where a position was lost and for how many rounds its
    head pointer has not moved past it."""

    def __init__(self) -> None:
        self.failed_at: dict[str, int] = {}
        self.stuck: dict[str, int] = {}

    def lost(self, license_id: str, seq: int) -> None:
        self.failed_at[license_id] = max(self.failed_at.get(license_id, -1), seq)

    def stuck_heads(self, heads: dict[str, tuple[int, Cumulative]]) -> list[str]:
        """Licenses whose pointer should now be read from the journal."""
        due: list[str] = []
        for license_id, failed in self.failed_at.items():
            seq = heads.get(license_id, (0, Cumulative()))[0]
            count = self.stuck.get(license_id, 0) + 1 if seq <= failed else 0
            self.stuck[license_id] = 0 if count >= STUCK_AFTER else count
            if count >= STUCK_AFTER:
                due.append(license_id)
        return due

    async def pause(self) -> None:
        # let the rivals spread out, longer while a pointer stays put
        worst = max(self.stuck.values(), default=0)
        await asyncio.sleep(random.uniform(0, 0.02 * min(worst + 1, 5)))


class OrderBatches:
    """Applies batches of order events to the ledger (idempotent)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def apply(self, events: Sequence[OrderEvent]) -> dict[str, LicenseRecord]:
        """Post the batch; the licenses its lines name, as last read (the
        certificates of ip.authenticity follow the same licensed lines)."""
        if not any(line.license_id for e in events for line in e.event.lines):
            return {}
        chains = _Chains()
        marked: set[str] = set()
        extra: set[str] = set()
        for _ in range(MAX_ROUNDS):
            done, licenses = await self._round(events, chains, marked, extra)
            if done:
                return licenses
        raise Contention("license chains stayed contended")

    async def _view(
        self, events: Sequence[OrderEvent], chains: _Chains, extra: set[str]
    ) -> LedgerView:
        store = self._store
        notes = reversal_notes(events)
        await journal.note_reversals(store, notes)
        named = licenses_named(events)
        heads, licenses, last_closed = await asyncio.gather(
            journal.heads_of(store, [*named, *sorted(extra - set(named))]),
            journal.licenses_by_ids(store, named),
            store.last_closed(),
        )
        for license_id in chains.stuck_heads(heads):
            heads[license_id] = await store.license_head(license_id, exact=True)
        lists = await journal.reversal_lists(store, list(notes))
        wanted = posting_ids(events) + [x for ids in lists.values() for x in ids]
        asset_ids = sorted({a for lic in licenses.values() for a in lic.scope.asset_ids})
        posted, assets = await asyncio.gather(
            store.postings_by_ids(list(dict.fromkeys(wanted))),
            store.assets_by_ids(asset_ids) if asset_ids else _none(),
        )
        return LedgerView(
            licenses=licenses,
            assets={a.asset_id: a for a in assets},
            heads=heads,
            last_closed=last_closed,
            posted={p.posting_id: p for p in posted},
            reversals=lists,
        )

    async def _round(
        self, events: Sequence[OrderEvent], chains: _Chains, marked: set[str], extra: set[str]
    ) -> tuple[bool, dict[str, LicenseRecord]]:
        """One attempt at the whole batch; True when every line is settled."""
        store = self._store
        view = await self._view(events, chains, extra)
        folded = fold_orders(view, events)
        items = [
            (p, [outbox_entry(event, source="ip", event_id=p.posting_id)])
            for p, event in folded.new
        ]
        # each posting's marker once per apply: a later round's insert of it
        # still comes after that marker
        mark = [p.posting_id for p, _ in items if p.posting_id not in marked]
        marked.update(mark)
        inserted = await journal.insert_postings(store, items, mark=mark)
        await self._derive([p for p, _ in items[:inserted]], folded.healed)
        await self._unmatched(folded)
        if inserted < len(items):
            lost = items[inserted][0]
            chains.lost(lost.license_id or "", (lost.license_seq or 1) - 1)
            await chains.pause()
            return False, view.licenses
        if folded.missing_heads - extra:
            extra.update(folded.missing_heads)
            return False, view.licenses
        return True, view.licenses

    async def _derive(self, written: list[Posting], healed: list[Posting]) -> None:
        """What follows postings' insert: head pointers, then the books."""
        postings = written + healed
        if not postings:
            return
        await journal.move_heads(self._store, head_moves(postings))
        await journal.note_orders(self._store, postings)
        lines = [line for p in postings for line in book_lines(p)]
        await self._store.books.project(lines, fresh=not healed)

    async def _unmatched(self, folded: Folded) -> None:
        if folded.unmatched:
            for u in folded.unmatched:
                log.warning("order line not posted: %s (%s)", u.posting_id, u.reason)
            await journal.record_unmatched(self._store, folded.unmatched)


async def _none() -> list[AssetRecord]:
    return []
