"""The filter shapes the catalog's hot paths send: every one names its
documents by `_id` (the local store serves nothing else from an index, see
servicekit.queries). The store modules build their filters here and
catalog.hot_queries lists them, so the list cannot drift from the code."""

from collections.abc import Iterable
from typing import Any

__all__ = ["by_id", "by_ids", "older_version"]

Doc = dict[str, Any]


def by_id(doc_id: str) -> Doc:
    return {"_id": doc_id}


def by_ids(doc_ids: Iterable[str]) -> Doc:
    """A bounded set of point reads (the caller bounds it)."""
    return {"_id": {"$in": list(doc_ids)}}


def older_version(doc_id: str, version: int) -> Doc:
    """The document, only while it is behind `version` (the roll-forward)."""
    return {"_id": doc_id, "version": {"$lt": version}}
