"""The scheduler's pending sets: which licenses may need expiring or an
advance posted, kept by `_id` so each round reads two small documents, not
the licenses collection.

- `license_schedule/live`: license id -> its term's end, set BEFORE the grant
  that makes the license live (a crash cannot hide one); the sweep expires
  those whose end has passed and drops entries of licenses no longer live.
- `license_schedule/advances`: license id -> when noted, set before a grant
  whose terms carry an advance; dropped once the advance is posted, or when
  the grant never landed (after a grace, so a grant still in flight keeps it).

Both hold at most one entry per license (the catalog of a museum, not
history); `BOUNDED` tells the scan counter so.
"""

from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ip.book_docs import by_id
from servicekit.queries import BOUNDED

__all__ = ["ADVANCES", "LIVE", "SCHEDULE", "Schedule"]

SCHEDULE = "license_schedule"
BOUNDED.add(SCHEDULE)
LIVE = "live"
ADVANCES = "advances"
Doc = dict[str, Any]


class Schedule:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.docs: AsyncCollection[Doc] = db[SCHEDULE]

    async def note_live(self, license_id: str, ends_at: datetime) -> None:
        await self.docs.update_one(
            by_id(LIVE), {"$set": {f"ends.{license_id}": ends_at}}, upsert=True
        )

    async def note_advance(self, license_id: str, at: datetime) -> None:
        await self.docs.update_one(
            by_id(ADVANCES), {"$set": {f"ids.{license_id}": at}}, upsert=True
        )

    async def live(self) -> dict[str, datetime]:
        doc = await self.docs.find_one(by_id(LIVE))
        return dict((doc or {}).get("ends") or {})

    async def advances(self) -> dict[str, datetime]:
        doc = await self.docs.find_one(by_id(ADVANCES))
        return dict((doc or {}).get("ids") or {})

    async def drop_live(self, license_id: str) -> None:
        await self.docs.update_one(by_id(LIVE), {"$unset": {f"ends.{license_id}": ""}})

    async def drop_advance(self, license_id: str) -> None:
        await self.docs.update_one(by_id(ADVANCES), {"$unset": {f"ids.{license_id}": ""}})
