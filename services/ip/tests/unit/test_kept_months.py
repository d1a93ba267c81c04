"""The month indexes pages keep, pure: used while they count at least what
the balance counts, read again once it counts more; least recently used out."""

from ip.book_docs import ChunkMeta
from ip.kept_months import KeptMonths

META = [ChunkMeta("2026-11-03", "2026-11", 0, 100, "2026-11-03T01:00", "2026-11-03T09:00")]


def test_a_kept_index_serves_while_it_counts_what_the_balance_counts() -> None:
    kept = KeptMonths()
    kept.put("holder:m/2026-11", 100, META)
    assert kept.get("holder:m/2026-11", 100) is META
    assert kept.get("holder:m/2026-11", 90) is META  # the balance copied an older state
    assert kept.get("holder:m/2026-11", 101) is None  # the balance counts a newer one
    assert kept.get("holder:m/2026-12", 0) is None


def test_the_least_recently_used_index_goes_first() -> None:
    kept = KeptMonths(capacity=2)
    kept.put("a/2026-10", 1, META)
    kept.put("a/2026-11", 1, META)
    assert kept.get("a/2026-10", 1) is META
    kept.put("a/2026-12", 1, META)
    assert kept.get("a/2026-11", 1) is None
    assert kept.get("a/2026-10", 1) is META
    assert kept.get("a/2026-12", 1) is META
