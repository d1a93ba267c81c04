"""The postings a ledger page showed last, kept decoded in the process.

A posting never changes once written (a correction is a new posting; the
relay only marks the document's outbox, which a Posting does not hold), so a
page read again (a museum refreshing its ledger) takes its postings from here
and asks the store only for the ones it has not seen: on the local store a
page's 50 journal documents were most of its cost. Bounded: least recently
used first out.
"""

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence

from ip.ledger_records import Posting

__all__ = ["RecentPostings"]


class RecentPostings:
    def __init__(self, capacity: int = 5000) -> None:
        self._capacity = capacity
        self._postings: OrderedDict[str, Posting] = OrderedDict()

    async def get(
        self,
        posting_ids: Sequence[str],
        read: Callable[[Sequence[str]], Awaitable[list[Posting]]],
    ) -> list[Posting]:
        """The postings of `posting_ids` that exist, in the order asked;
        `read` fetches from the store the ones not kept here."""
        missing = [x for x in dict.fromkeys(posting_ids) if x not in self._postings]
        for posting in await read(missing) if missing else []:
            self._postings[posting.posting_id] = posting
        found = {x: self._postings[x] for x in posting_ids if x in self._postings}
        for posting_id in found:
            self._postings.move_to_end(posting_id)
        while len(self._postings) > self._capacity:
            self._postings.popitem(last=False)
        return [found[x] for x in posting_ids if x in found]
