"""Tokenising and cursors: pure rules, no I/O."""

import pytest

from catalog.errors import InvalidCursor
from catalog.search import (
    Cursor,
    decode_cursor,
    decode_id_cursor,
    document_tokens,
    encode_cursor,
    encode_id_cursor,
    query_tokens,
)


def test_chinese_text_is_indexed_by_characters_and_bigrams() -> None:
    assert document_tokens("青铜面具") == ["青", "青铜", "铜", "铜面", "面", "面具", "具"]


def test_a_chinese_query_matches_by_bigrams_and_a_single_character_by_itself() -> None:
    assert query_tokens("青铜器") == ["青铜", "铜器"]
    assert query_tokens("玉") == ["玉"]
    assert set(query_tokens("青铜器")) <= set(document_tokens("商代青铜器冰箱贴"))
    assert not set(query_tokens("青器")) <= set(document_tokens("青铜器"))


def test_english_is_lower_cased_singular_and_without_stop_words() -> None:
    assert query_tokens("The Bronze MASKS of Sanxingdui") == ["bronze", "mask", "sanxingdui"]
    assert document_tokens("Glass bronzes") == ["glass", "bronze"]


def test_mixed_text_splits_scripts() -> None:
    assert query_tokens("三星堆bronze面具") == ["三星", "星堆", "bronze", "面具"]


def test_punctuation_only_queries_have_no_tokens() -> None:
    assert query_tokens("——！？ ...") == []


def test_cursors_round_trip_and_are_bound_to_their_query() -> None:
    cursor = Cursor(sort="price_asc", fingerprint="abc", segment=1, key=(1200, "prd_1"))
    text = encode_cursor(cursor)
    assert decode_cursor(text, sort="price_asc", expected_fingerprint="abc") == cursor
    with pytest.raises(InvalidCursor):
        decode_cursor(text, sort="newest", expected_fingerprint="abc")
    with pytest.raises(InvalidCursor):
        decode_cursor(text, sort="price_asc", expected_fingerprint="other")


@pytest.mark.parametrize("text", ["", "!!!", "bm90IGpzb24", "W10", "WzEsMiwzXQ", "eyJhIjoxfQ"])
def test_malformed_cursors_are_invalid(text: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(text, sort="newest", expected_fingerprint="abc")


def test_id_cursors() -> None:
    assert decode_id_cursor(encode_id_cursor("rel_1")) == "rel_1"
    with pytest.raises(InvalidCursor):
        decode_id_cursor("eA")
