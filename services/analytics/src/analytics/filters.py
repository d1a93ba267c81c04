"""Every filter the analytics store sends, built in one place.

Each names its documents by `_id` (an equality, with at most conditions on
that one document, or a bounded `$in`): the local store serves nothing else
from an index (see servicekit.queries). `hot_queries.py` lists them with
sample values for the test that asks the real store to explain each one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ACTIVE", "HWM", "by_id", "by_ids", "guarded", "newer_than"]

ACTIVE = "active"  # projection_state: the live version
HWM = "_hwm"  # a projection document's per-partition high-water marks (batch.py)


def by_id(doc_id: str) -> dict[str, Any]:
    """Strings only: the local store's index serves string and ObjectId `_id`s."""
    return {"_id": doc_id}


def by_ids(ids: Sequence[str]) -> dict[str, Any]:
    """A bounded set of point reads; callers send at most a chunk of ids."""
    return {"_id": {"$in": list(ids)}}


def guarded(doc_id: str, firsts: Mapping[str, int]) -> dict[str, Any]:
    """One document, only while each of its marks (`_hwm.<key>`) is below the
    batch's first offset for it (a missing mark is below everything)."""
    return {"_id": doc_id, **{f"{HWM}.{k}": {"$not": {"$gte": o}} for k, o in firsts.items()}}


def newer_than(version: int) -> dict[str, Any]:
    """The active-version document, if `version` is newer than the live one."""
    return {"_id": ACTIVE, "version": {"$lt": version}}
