"""The projection documents, pure: collection names, `_id`s, and `Change`.

Every read of a hot path names its documents by `_id` (the local store serves
nothing else from an index), so the ids are computed here, from what a
request knows: a museum's day bucket is `<museum>|<day>`, the overview's
minutes are the last 60 UTC minutes, the platform's all-time figures one
document.

A museum's products, relics and licensees are counted in aligned *blocks*
of 1, 2, 4 ... 32 days (nested counters, `products.<key>.gross_fen`): a day
belongs to one block of each span, and any range of days is the union of a
few of them (`block_cover`: at most 8 for 30 days). The local store decodes
a whole document to answer, at a cost that follows its number of values, so
a dashboard reads the small day documents (its time series) plus those few
blocks instead of every day's breakdown; a write adds its breakdown to the
day's 6 blocks.

Daily buckets are Asia/Shanghai calendar days; minute buckets are UTC minutes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

__all__ = [
    "ASSETS",
    "EVENT_DAYS",
    "LICENSEES",
    "LICENSES",
    "BLOCK_SPANS",
    "LICENSE_INDEX",
    "MONEY_FIELDS",
    "MUSEUMS",
    "MUSEUM_BLOCKS",
    "MUSEUM_DAYS",
    "PLATFORM_DAYS",
    "PLATFORM_MINUTES",
    "PLATFORM_TOTALS",
    "PLATFORM_TOTAL_ID",
    "PRODUCTS",
    "RELICS",
    "ROLLUPS",
    "STATEMENTS",
    "TZ",
    "Change",
    "Changes",
    "block_cover",
    "blocks_of_day",
    "field_id",
    "field_key",
    "last_minutes",
    "local_day",
    "merge",
    "museum_block_id",
    "museum_block_ids",
    "museum_day_id",
    "museum_day_ids",
    "nested",
    "relic_asset_id",
    "utc_minute",
]

TZ = ZoneInfo("Asia/Shanghai")

# logical collection names (the store prefixes them with the projection version)
MUSEUM_DAYS = "museum_days"
MUSEUM_BLOCKS = "museum_blocks"
PLATFORM_DAYS = "platform_days"
PLATFORM_MINUTES = "platform_minutes"
PLATFORM_TOTALS = "platform_totals"
EVENT_DAYS = "event_days"
LICENSES = "licenses"
MUSEUMS = "museums"
RELICS = "relics"
PRODUCTS = "products"
ASSETS = "assets"
STATEMENTS = "statements"

ROLLUPS = (
    MUSEUM_DAYS,
    MUSEUM_BLOCKS,
    PLATFORM_DAYS,
    PLATFORM_MINUTES,
    PLATFORM_TOTALS,
    EVENT_DAYS,
    LICENSES,
    MUSEUMS,
    RELICS,
    PRODUCTS,
    ASSETS,
    STATEMENTS,
)

# the nested maps of a museum-block document (the dashboard's top tables), and
# the museum document's index of its licenses (the guarantees table)
PRODUCTS_OF_BLOCK = "products"
RELICS_OF_BLOCK = "relics"
LICENSEES = "licensees"
LICENSE_INDEX = "license_ids"

PLATFORM_TOTAL_ID = "all"  # the platform's all-time figures, one document

# every money and count figure of a dashboard row (a day, a product...)
MONEY_FIELDS = (
    "gross_fen",
    "refunds_fen",
    "units",
    "refunded_units",
    "orders",
    "refunds",
    "royalty_accrued_fen",
    "royalty_reversed_fen",
    "royalty_paid_fen",
)


def local_day(at: datetime) -> str:
    """The Asia/Shanghai calendar day of an instant, as YYYY-MM-DD."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(TZ).date().isoformat()


def utc_minute(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def museum_day_id(museum_id: str, day: str) -> str:
    return f"{museum_id}|{day}"


def museum_day_ids(museum_id: str, start: date, end: date) -> list[str]:
    """The `_id` of every museum-day bucket in [start, end] (missing ones are zeros)."""
    count = (end - start).days + 1
    return [museum_day_id(museum_id, (start + timedelta(days=i)).isoformat()) for i in range(count)]


# block spans in days: a write touches one block of each, a 30-day range
# reads at most 8 (more spans would cost every write one more upsert)
BLOCK_SPANS = (1, 2, 4, 8, 16, 32)
_EPOCH = date(1970, 1, 1)  # blocks are aligned on day numbers counted from here


def _block_start(day: date, span: int) -> date:
    return day - timedelta(days=(day - _EPOCH).days % span)


def blocks_of_day(day: date) -> list[tuple[date, int]]:
    """The block of each span that holds `day`: (first day, span)."""
    return [(_block_start(day, span), span) for span in BLOCK_SPANS]


def block_cover(start: date, end: date) -> list[tuple[date, int]]:
    """The fewest aligned blocks whose days are exactly [start, end]: from
    each day on, the largest block that starts there and ends in the range."""
    out: list[tuple[date, int]] = []
    day = start
    while day <= end:
        span = next(
            s
            for s in reversed(BLOCK_SPANS)
            if _block_start(day, s) == day and day + timedelta(days=s - 1) <= end
        )
        out.append((day, span))
        day += timedelta(days=span)
    return out


def museum_block_id(museum_id: str, first: date, span: int) -> str:
    return f"{museum_id}|{first.isoformat()}|{span}"


def museum_block_ids(museum_id: str, start: date, end: date) -> list[str]:
    """The `_id` of every block covering [start, end] (missing ones are zeros)."""
    return [museum_block_id(museum_id, first, span) for first, span in block_cover(start, end)]


def relic_asset_id(relic_id: str) -> str:
    """ip's id of a relic's IP asset (`AssetOpened.asset_id`; ip's README, id rules)."""
    return f"relic-{relic_id}"


def last_minutes(now: datetime, count: int = 60) -> list[str]:
    """The `_id`s of the last `count` UTC minute buckets, oldest first."""
    return [utc_minute(now - timedelta(minutes=i)) for i in range(count - 1, -1, -1)]


@lru_cache(maxsize=65_536)  # the same few ids, over and over in a replay or a load
def field_key(ident: str) -> str:
    """An id as a field name: no `.` (the path separator), no leading `$`, not
    empty; `%` escapes, so `field_id` gives the id back exactly."""
    if not ident:
        return "%"
    key = ident.replace("%", "%25").replace(".", "%2E")
    return "%24" + key[1:] if key.startswith("$") else key


def field_id(key: str) -> str:
    return "" if key == "%" else unquote(key)


def nested(mapping: str, ident: str, counter: str) -> str:
    """The dotted path of one nested counter: `products.<key>.gross_fen`."""
    return f"{mapping}.{field_key(ident)}.{counter}"


@dataclass
class Change:
    """One document's part of one or more events.

    `inc` and `set` names may be dotted paths into nested maps (see `nested`)."""

    collection: str
    doc_id: str
    inc: dict[str, int] = field(default_factory=dict)
    set: dict[str, Any] = field(default_factory=dict)
    on_insert: dict[str, Any] = field(default_factory=dict)

    def absorb(self, later: Change) -> None:
        """Fold a later change of the same document into this one."""
        for name, amount in later.inc.items():
            self.inc[name] = self.inc.get(name, 0) + amount
        self.set.update(later.set)
        for name, value in later.on_insert.items():
            self.on_insert.setdefault(name, value)

    def normalized(self) -> Change:
        """Fields that are set need not be set on insert too (the store refuses both)."""
        on_insert = {k: v for k, v in self.on_insert.items() if k not in self.set}
        return Change(self.collection, self.doc_id, dict(self.inc), dict(self.set), on_insert)

    def document(self) -> dict[str, Any]:
        """The whole document this change creates when none exists (dotted
        paths become nested maps): what an upsert would have inserted."""
        doc: dict[str, Any] = {}
        for name, value in (*self.on_insert.items(), *self.set.items(), *self.inc.items()):
            *parents, leaf = name.split(".")
            target = doc
            for parent in parents:
                target = target.setdefault(parent, {})
            target[leaf] = value
        doc["_id"] = self.doc_id
        return doc


class Changes:
    """Accumulates one event's changes, one `Change` per document."""

    def __init__(self) -> None:
        self._by_doc: dict[tuple[str, str], Change] = {}

    def add(
        self,
        collection: str,
        doc_id: str,
        *,
        inc: Mapping[str, int] | None = None,
        set: Mapping[str, Any] | None = None,  # noqa: A002
        on_insert: Mapping[str, Any] | None = None,
    ) -> None:
        change = Change(collection, doc_id, dict(inc or {}), dict(set or {}), dict(on_insert or {}))
        existing = self._by_doc.get((collection, doc_id))
        if existing is None:
            self._by_doc[(collection, doc_id)] = change
        else:
            existing.absorb(change)

    def of(self, collection: str) -> list[Change]:
        return [c for (name, _), c in self._by_doc.items() if name == collection]

    def result(self) -> list[Change]:
        return [c.normalized() for c in self._by_doc.values()]


def merge(changes: Iterable[Change]) -> list[Change]:
    """Fold many events' changes (in stream order) into one per document."""
    by_doc: dict[tuple[str, str], Change] = {}
    for change in changes:
        existing = by_doc.get((change.collection, change.doc_id))
        if existing is None:
            by_doc[(change.collection, change.doc_id)] = Change(
                change.collection,
                change.doc_id,
                dict(change.inc),
                dict(change.set),
                dict(change.on_insert),
            )
        else:
            existing.absorb(change)
    return [c.normalized() for c in by_doc.values()]
