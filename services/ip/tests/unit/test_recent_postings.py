"""The ledger pages' postings kept in the process: asked again, a page reads
only what it has not seen, in the order asked, within its bound."""

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from ip.ledger_records import Entry, Posting
from ip.recent_postings import RecentPostings

AT = datetime(2026, 5, 1, tzinfo=UTC)


def posting(n: int) -> Posting:
    return Posting(
        posting_id=f"p{n}",
        kind="accrual",
        source_key=f"s{n}",
        chain_key=f"c{n}",
        period="2026-05",
        posted_at=AT,
        entries=(Entry("holder:m", "m", "museum", -n), Entry("licensee:l", "l", "licensee", n)),
    )


class Journal:
    """The store's side: which ids each read asked for."""

    def __init__(self, held: range) -> None:
        self.held = {f"p{n}": posting(n) for n in held}
        self.asked: list[list[str]] = []

    async def read(self, ids: Sequence[str]) -> list[Posting]:
        self.asked.append(list(ids))
        return [self.held[x] for x in ids if x in self.held]


@pytest.mark.asyncio
async def test_a_page_read_again_asks_the_store_only_for_what_it_has_not_seen() -> None:
    journal, recent = Journal(range(10)), RecentPostings()
    first = await recent.get(["p3", "p1", "p2"], journal.read)
    again = await recent.get(["p1", "p2", "p3", "p4"], journal.read)
    assert [p.posting_id for p in first] == ["p3", "p1", "p2"]
    assert [p.posting_id for p in again] == ["p1", "p2", "p3", "p4"]
    assert journal.asked == [["p3", "p1", "p2"], ["p4"]]
    await recent.get(["p4", "p1"], journal.read)
    assert len(journal.asked) == 2  # all kept: no store read


@pytest.mark.asyncio
async def test_an_id_the_journal_lacks_is_left_out_and_asked_again_next_time() -> None:
    journal, recent = Journal(range(2)), RecentPostings()
    assert [p.posting_id for p in await recent.get(["p0", "p9", "p1"], journal.read)] == [
        "p0",
        "p1",
    ]
    await recent.get(["p9"], journal.read)
    assert journal.asked[-1] == ["p9"]  # a missing posting is never remembered as missing


@pytest.mark.asyncio
async def test_the_least_recently_used_go_first_beyond_the_bound() -> None:
    journal, recent = Journal(range(10)), RecentPostings(capacity=3)
    await recent.get(["p0", "p1", "p2"], journal.read)
    await recent.get(["p0"], journal.read)  # p0 used again: p1 is now the oldest
    await recent.get(["p3"], journal.read)
    await recent.get(["p0", "p2", "p3"], journal.read)
    assert len(journal.asked) == 2  # p0, p2 and p3 all kept
    await recent.get(["p1"], journal.read)
    assert journal.asked[-1] == ["p1"]  # p1 was let go
