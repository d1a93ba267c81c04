"""Pure rules of the counterfeit watch: which bucket documents a page of a
museum's reports reads, the cursor, and product ids as field names."""

from __future__ import annotations

from datetime import date

import pytest

from ip.counterfeit import (
    REPORT_CHUNK,
    UNATTRIBUTED,
    chunk_id,
    days_between,
    decode_cursor,
    field_key,
    plan_page,
    unfield_key,
)


def test_a_page_reads_only_the_chunks_holding_it_newest_first() -> None:
    counts = [("2026-03-03", 2), ("2026-03-02", 0), ("2026-03-01", REPORT_CHUNK + 3)]
    first = plan_page("m1", counts, limit=4)
    assert first.wanted == [
        ("2026-03-03", 1),
        ("2026-03-03", 0),
        ("2026-03-01", REPORT_CHUNK + 2),
        ("2026-03-01", REPORT_CHUNK + 1),
    ]
    assert first.chunks == [chunk_id("m1", "2026-03-03", 0), chunk_id("m1", "2026-03-01", 1)]
    assert first.next_cursor is not None

    second = plan_page("m1", counts, limit=2, cursor=decode_cursor(first.next_cursor))
    assert second.wanted == [("2026-03-01", REPORT_CHUNK), ("2026-03-01", REPORT_CHUNK - 1)]
    assert second.chunks == [chunk_id("m1", "2026-03-01", 1), chunk_id("m1", "2026-03-01", 0)]


def test_the_last_page_has_no_cursor() -> None:
    page = plan_page("m1", [("2026-03-01", 2)], limit=2)
    assert len(page.wanted) == 2
    assert page.next_cursor is None
    assert plan_page("m1", [], limit=5).wanted == []


def test_reports_naming_no_museum_are_unattributed() -> None:
    assert chunk_id(None, "2026-03-01", 0) == f"{UNATTRIBUTED}/2026-03-01/0"


@pytest.mark.parametrize("bad", ["", "2026-13-01~1", "2026-03-01~x", "2026-03-01~-1", "nope"])
def test_a_cursor_not_given_by_the_route_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (date and int parsing say different things)
        decode_cursor(bad)


def test_product_ids_become_safe_field_names_and_back() -> None:
    for product_id in ["prod-1", "a.b.c", "$set", "50%.off"]:
        key = field_key(product_id)
        assert "." not in key
        assert not key.startswith("$")
        assert unfield_key(key) == product_id


def test_days_between_lists_the_range_newest_first() -> None:
    assert days_between(date(2026, 2, 27), date(2026, 3, 1)) == [
        "2026-03-01",
        "2026-02-28",
        "2026-02-27",
    ]
