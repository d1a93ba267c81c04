"""Effects applied exactly once under at-least-once delivery.

Without multi-document transactions an inbox written beside the effect is not
atomic with it, so the effect itself carries the key:

- a record an event inserts has an `_id` derived from the event id: the
  second insert is a duplicate-key no-op (`insert_once`);
- a counter document keeps a high-water mark per topic-partition, and the
  same single-document update checks and advances it (`apply_once`).
"""

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from servicekit.consumer import EventMeta

__all__ = ["apply_once", "hwm_field", "hwm_guard", "insert_once"]


def hwm_field(meta: EventMeta) -> str:
    # keys may not contain "." (topics do), hence the substitution
    return f"_hwm.{meta.topic.replace('.', '_')}_{meta.partition}"


async def insert_once(collection: AsyncCollection[dict[str, Any]], doc: dict[str, Any]) -> bool:
    """Insert a record keyed by its `_id`; False when it was already there."""
    try:
        await collection.insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


async def apply_once(
    collection: AsyncCollection[dict[str, Any]],
    doc_id: Any,
    meta: EventMeta,
    update: dict[str, Any],
    *,
    on_insert: dict[str, Any] | None = None,
) -> bool:
    """Apply `update` to one document unless this partition's offset already
    reached it. Creates the document first when missing. True when applied."""
    field = hwm_field(meta)
    try:
        await collection.update_one(
            {"_id": doc_id},
            {"$setOnInsert": {**(on_insert or {}), "_hwm": {}}},
            upsert=True,
        )
    except DuplicateKeyError:
        pass  # a concurrent upsert created it first
    guarded = {op: dict(fields) for op, fields in update.items()}
    guarded.setdefault("$set", {})[field] = meta.offset
    result = await collection.update_one(hwm_guard(doc_id, field, meta.offset), guarded)
    return result.modified_count == 1


def hwm_guard(doc_id: Any, field: str, offset: int) -> dict[str, Any]:
    """The document, unless its high-water mark `field` reached `offset`."""
    return {"_id": doc_id, "$or": [{field: {"$exists": False}}, {field: {"$lt": offset}}]}
