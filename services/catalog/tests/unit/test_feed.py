"""The change feed's reader: which buckets it reads, which ids it reloads."""

from catalog.feed import MAX_GAP, SETTLE, WINDOW, FeedPosition, bucket_id, pick_changed, window_ids


def bucket(second: int, n: int, products: list[str] = [], stock: list[str] = []) -> dict:  # noqa: B006
    return {"_id": bucket_id(second), "n": n, "products": products, "stock": stock}


def test_the_window_reaches_back_for_late_writes_and_is_bounded() -> None:
    ids = window_ids(FeedPosition(1000), 1001)
    assert ids is not None
    assert ids[0] == bucket_id(1000 - WINDOW)
    assert ids[-1] == bucket_id(1001)
    assert len(ids) == WINDOW + 2
    assert window_ids(FeedPosition(1000), 1000 + MAX_GAP + 1) is None  # too far: load all


def test_settled_buckets_read_before_and_unchanged_are_skipped() -> None:
    now = 1000
    old, young = now - SETTLE - 3, now - 1
    first = pick_changed(
        [bucket(old, 2, ["p1"], ["s1"]), bucket(young, 1, stock=["s2"])], FeedPosition(now - 1), now
    )
    assert first.products == {"p1"}
    assert first.stock == {"s1", "s2"}
    assert first.position == FeedPosition(now, {bucket_id(old): 2})

    # a second later: the settled bucket is unchanged, the young one is read again
    again = pick_changed(
        [bucket(old, 2, ["p1"], ["s1"]), bucket(young, 1, stock=["s2"])], first.position, now + 1
    )
    assert again.products == set()
    assert again.stock == {"s2"}

    # a late write into the settled bucket: its ids are read again
    late = pick_changed([bucket(old, 3, ["p1", "p9"], ["s1"])], first.position, now + 1)
    assert late.products == {"p1", "p9"}


def test_buckets_leaving_the_window_are_forgotten() -> None:
    now = 1000
    position = pick_changed(
        [bucket(now - WINDOW - 1, 1, ["p"])], FeedPosition(now - 1), now
    ).position
    assert position.counts == {}
