"""The kept museum blocks, pure: current while no day moved past the block,
per partition; gone when one did, when old, or when the least recently used."""

from analytics.block_cache import BlockCache, covers, merged_marks


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_merged_marks_keep_each_partitions_highest() -> None:
    assert merged_marks([{"a_0": 3, "b_1": 9}, {"a_0": 7}, {}]) == {"a_0": 7, "b_1": 9}
    assert merged_marks([]) == {}


def test_a_block_covers_its_days_when_no_partition_is_past_it() -> None:
    assert covers({"a_0": 7, "b_1": 9}, {"a_0": 7, "b_1": 2})
    assert covers({"a_0": 7}, {})  # days with no events yet
    assert not covers({"a_0": 7}, {"a_0": 8})  # a day counted offset 8, the block did not
    assert not covers({"a_0": 7}, {"b_1": 0})  # a partition the block never saw


def test_a_kept_block_is_returned_until_a_day_moves_past_it() -> None:
    cache = BlockCache()
    block = {"_id": "m|2026-11-20|2", "products": {"p": {"gross_fen": 100}}}
    cache.put("v1_museum_blocks", "m|2026-11-20|2", block, {"a_0": 5})
    assert cache.get("v1_museum_blocks", "m|2026-11-20|2", {"a_0": 5}) is block
    assert cache.get("v2_museum_blocks", "m|2026-11-20|2", {"a_0": 5}) is None  # other version
    assert cache.get("v1_museum_blocks", "m|2026-11-20|2", {"a_0": 6}) is None
    # and it is dropped: an older day state does not bring it back
    assert cache.get("v1_museum_blocks", "m|2026-11-20|2", {"a_0": 5}) is None


def test_a_kept_block_expires() -> None:
    clock = Clock()
    cache = BlockCache(ttl=30, clock=clock)
    cache.put("c", "b", {"_id": "b"}, {})
    clock.now = 30.0
    assert cache.get("c", "b", {}) == {"_id": "b"}
    clock.now = 30.5
    assert cache.get("c", "b", {}) is None


def test_the_least_recently_used_block_goes_first() -> None:
    cache = BlockCache(maxsize=2)
    for name in ("b1", "b2"):
        cache.put("c", name, {"_id": name}, {})
    assert cache.get("c", "b1", {}) is not None  # b1 used: b2 is now the oldest
    cache.put("c", "b3", {"_id": "b3"}, {})
    assert len(cache) == 2
    assert cache.get("c", "b2", {}) is None
    assert cache.get("c", "b1", {}) is not None
    assert cache.get("c", "b3", {}) is not None
