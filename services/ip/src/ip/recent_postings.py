"""The postings a ledger page showed last, kept decoded in the process.

A posting never changes once written (a correction is a new posting; the
relay only marks the document's outbox, which a Posting does not hold), so a
page read again (a museum refreshing its ledger) takes its postings from here
and asks the store only for the ones it has not seen: on the local store a
page's 50 journal documents were most of its cost. Bounded: least recently
used first out.
"""

from collections.abc import Awaitable, Callable, Sequence

from cachetools import LRUCache

from ip.ledger_records import Posting

__all__ = ["RecentPostings"]


class RecentPostings:
    def __init__(self, capacity: int = 5000) -> None:
        self._postings: LRUCache[str, Posting] = LRUCache(maxsize=capacity)

    async def get(
        self,
        posting_ids: Sequence[str],
        read: Callable[[Sequence[str]], Awaitable[list[Posting]]],
    ) -> list[Posting]:
        """The postings of `posting_ids` that exist, in the order asked;
        `read` fetches from the store the ones not kept here."""
        asked = list(dict.fromkeys(posting_ids))
        # taken (and so marked used) before the new ones come in and push out the oldest
        found = {x: self._postings[x] for x in asked if x in self._postings}
        missing = [x for x in asked if x not in found]
        for posting in await read(missing) if missing else []:
            found[posting.posting_id] = self._postings[posting.posting_id] = posting
        return [found[x] for x in posting_ids if x in found]
