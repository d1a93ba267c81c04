"""The month indexes ledger pages read, kept decoded in the process.

A month index (ip.book_docs) lists every chunk of an account's month: on a
busy account ~100 snapshots, ~20 KB the local store decodes for each page.
It only moves forward (each snapshot to a larger count), so its total count
`n` orders its states; and the account's balance, which every page reads
first, holds the count of the month's state it copied. A kept index whose
`n` is at least the balance's lists every chunk the balance counts: a page
uses it; one behind the balance is read again. A closed month's index never
changes, so after one read a page from that month costs the store only its
chunks and postings. Bounded: least recently used first out.
"""

from cachetools import LRUCache

from ip.book_docs import ChunkMeta

__all__ = ["KeptMonths"]


class KeptMonths:
    def __init__(self, capacity: int = 256) -> None:
        self._kept: LRUCache[str, tuple[int, list[ChunkMeta]]] = LRUCache(maxsize=capacity)

    def get(self, month_id: str, balance_n: int) -> list[ChunkMeta] | None:
        """The month's chunks, if the kept index counts `balance_n` or more."""
        kept = self._kept.get(month_id)
        return None if kept is None or kept[0] < balance_n else kept[1]

    def put(self, month_id: str, n: int, metas: list[ChunkMeta]) -> None:
        self._kept[month_id] = (n, metas)
