"""Search rules, pure: tokenising Chinese and English text, and opaque cursors.

Chinese has no spaces, and neither MongoDB's `$text` nor FerretDB segments it,
so a document stores every CJK character and every character bigram in a
`tokens` array (indexed); a query of two or more characters is matched by its
bigrams, a one-character query by that character. English words are
lower-cased, with a plural `s` stripped and a few stop words dropped. Every
query token must match (AND).

A cursor is URL-safe base64 of JSON: the sort, a fingerprint of the query it
belongs to, the segment (relevance tiers) and the last item's sort key.
"""

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from catalog.errors import InvalidCursor

__all__ = [
    "Cursor",
    "ProductQuery",
    "SortKey",
    "SortOrder",
    "decode_cursor",
    "decode_id_cursor",
    "document_tokens",
    "encode_cursor",
    "encode_id_cursor",
    "fingerprint",
    "query_tokens",
]

SortOrder = Literal["relevance", "newest", "price_asc", "price_desc"]
SortKey = tuple[int, str]  # (created_ms or price_fen, _id)

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(rf"[{_CJK}]+|[a-z0-9]+")
_CJK_RUN = re.compile(rf"^[{_CJK}]+$")
_STOP_WORDS = frozenset({"a", "an", "and", "the", "of", "in", "on", "with", "for", "to"})


def _normalise_word(word: str) -> str:
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _runs(text: str) -> list[str]:
    return _RUN.findall(text.lower())


def document_tokens(*texts: str | None) -> list[str]:
    """Every token a document can be found by, each once, in first-seen order."""
    seen: dict[str, None] = {}
    for text in texts:
        for run in _runs(text or ""):
            if _CJK_RUN.match(run):
                for i, char in enumerate(run):
                    seen.setdefault(char, None)
                    if i + 1 < len(run):
                        seen.setdefault(run[i : i + 2], None)
            elif run not in _STOP_WORDS:
                seen.setdefault(_normalise_word(run), None)
    return list(seen)


def query_tokens(query: str | None) -> list[str]:
    """The tokens a document must all contain to match the query."""
    seen: dict[str, None] = {}
    for run in _runs(query or ""):
        if _CJK_RUN.match(run):
            if len(run) == 1:
                seen.setdefault(run, None)
            for i in range(len(run) - 1):
                seen.setdefault(run[i : i + 2], None)
        elif run not in _STOP_WORDS:
            seen.setdefault(_normalise_word(run), None)
    return list(seen)


@dataclass(frozen=True)
class ProductQuery:
    tokens: list[str]
    sort: SortOrder
    museum_id: str | None = None
    relic_id: str | None = None
    category: str | None = None
    min_price_fen: int | None = None
    max_price_fen: int | None = None
    in_stock: bool | None = None


@dataclass(frozen=True)
class Cursor:
    sort: SortOrder
    fingerprint: str
    segment: int
    key: SortKey


def fingerprint(parts: Iterable[object]) -> str:
    """A short digest of what a cursor was issued for (query, filters, sort)."""
    text = json.dumps([str(p) for p in parts], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_cursor(cursor: Cursor) -> str:
    body = [1, cursor.sort, cursor.fingerprint, cursor.segment, cursor.key[0], cursor.key[1]]
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, *, sort: SortOrder, expected_fingerprint: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        body = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor("not a cursor this service issued") from exc
    if (
        not isinstance(body, list)
        or len(body) != 6
        or body[0] != 1
        or not isinstance(body[3], int)
        or isinstance(body[4], bool)
        or not isinstance(body[4], int)
        or not isinstance(body[5], str)
    ):
        raise InvalidCursor("not a cursor this service issued")
    if body[1] != sort or body[2] != expected_fingerprint:
        raise InvalidCursor("the cursor belongs to a different query or sort")
    if body[3] < 0:
        raise InvalidCursor("not a cursor this service issued")
    return Cursor(sort=sort, fingerprint=body[2], segment=body[3], key=(body[4], body[5]))


def encode_id_cursor(last_id: str) -> str:
    """A cursor for lists ordered by id alone (museums, relics)."""
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_id_cursor(text: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor("not a cursor this service issued") from exc
    if not raw.startswith("id:") or len(raw) < 4:
        raise InvalidCursor("not a cursor this service issued")
    return raw[3:]
