"""The filters the service sends to its store. Each names its documents by
`_id` (an equality, possibly with a guard applied to that one document, or a
bounded `$in`): the local store serves only those from an index and scans the
whole collection for anything else. hot_queries.py lists them.

Every `$in` read names a bounded number of ids (at most 1,000) and asks for
all its documents in its first reply (`batch_size` one more than the ids, so
the cursor closes at once): one command per read, never a `getMore`.
"""

from collections.abc import Sequence
from typing import Any

__all__ = ["by_id", "ids_in", "rev_guard", "version_guard"]

Doc = dict[str, Any]


def by_id(doc_id: str) -> Doc:
    return {"_id": doc_id}


def rev_guard(doc_id: str, rev: int) -> Doc:
    """The document, only if nobody wrote it since revision `rev` was read."""
    return {"_id": doc_id, "rev": rev}


def ids_in(ids: Sequence[str]) -> Doc:
    return {"_id": {"$in": list(ids)}}


def version_guard(product_id: str, version: int) -> Doc:
    return {"_id": product_id, "version": {"$lt": version}}
