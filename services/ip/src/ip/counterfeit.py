"""Counterfeit reports and verification counts, pure: document ids, the
report record, and which bucket documents a page of reports reads.

Both live in `_id`-keyed buckets per museum per China day (ip.watch_store):

- `cert_checks` `<museum>/<day>`: verifications (valid / revoked, per
  product) and the reports' count, which also hands out each report's
  ordinal within its day;
- `cert_reports` `<museum>/<day>/<k>`: the reports with ordinals
  `k*REPORT_CHUNK ..`, so a day's chunks follow from its count.

A page of a museum's reports (newest first) reads the range's day counters
(one `$in`), then only the chunks holding the page (one `$in`): bounded by the
range and the page, never by history. Verifications of unknown serials and
reports naming no museum go under UNATTRIBUTED (operators read it).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ip.certificates import CHINA

__all__ = [
    "MAX_DAYS",
    "REPORT_CHUNK",
    "UNATTRIBUTED",
    "PagePlan",
    "Report",
    "checks_id",
    "chunk_id",
    "day_of",
    "days_between",
    "decode_cursor",
    "encode_cursor",
    "field_key",
    "plan_page",
    "unfield_key",
]

REPORT_CHUNK = 100  # reports per bucket document
MAX_DAYS = 92  # a museum's reports page covers at most this many days
UNATTRIBUTED = "unattributed"  # unknown serials, reports naming no museum


def day_of(at: datetime) -> str:
    return at.astimezone(CHINA).date().isoformat()


def checks_id(museum_id: str | None, day: str) -> str:
    return f"{museum_id or UNATTRIBUTED}/{day}"


def chunk_id(museum_id: str | None, day: str, k: int) -> str:
    return f"{museum_id or UNATTRIBUTED}/{day}/{k}"


def field_key(value: str) -> str:
    """A product id as a field name: no `.` or leading `$` (store rules)."""
    return value.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def unfield_key(key: str) -> str:
    return key.replace("%24", "$").replace("%2E", ".").replace("%25", "%")


def days_between(start: date, end: date) -> list[str]:
    """The days of [start, end], newest first."""
    return [(end - timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


@dataclass(frozen=True)
class Report:
    """One counterfeit report as stored (plain text fields, never markup)."""

    report_id: str
    ordinal: int  # within its museum's day
    reported_at: datetime
    serial: str | None
    serial_status: str  # valid | revoked | unknown | none
    museum_id: str | None
    product_id: str | None
    license_id: str | None
    where_seen: str
    photo_url: str | None
    text: str


def encode_cursor(day: str, before: int) -> str:
    return f"{day}~{before}"


def decode_cursor(cursor: str) -> tuple[str, int]:
    """(day, ordinal bound) or ValueError."""
    day, _, before = cursor.partition("~")
    date.fromisoformat(day)
    bound = int(before)
    if bound < 0:
        raise ValueError("negative ordinal")
    return day, bound


@dataclass(frozen=True)
class PagePlan:
    wanted: list[tuple[str, int]]  # (day, ordinal), newest first
    chunks: list[str]  # the chunk ids holding them
    next_cursor: str | None


def plan_page(
    museum_id: str,
    counts: Sequence[tuple[str, int]],
    *,
    limit: int,
    cursor: tuple[str, int] | None = None,
) -> PagePlan:
    """`counts`: (day, reports that day), newest day first. The page starts
    at the cursor's day below its ordinal bound (else at the newest)."""
    wanted: list[tuple[str, int]] = []
    next_cursor = None
    for day, n in counts:
        if cursor is not None:
            if day > cursor[0]:
                continue
            if day == cursor[0]:
                n = min(n, cursor[1])
        for ordinal in range(n - 1, -1, -1):
            if len(wanted) == limit:
                next_cursor = encode_cursor(day, ordinal + 1)
                break
            wanted.append((day, ordinal))
        if next_cursor is not None:
            break
    chunks = list(dict.fromkeys(chunk_id(museum_id, d, o // REPORT_CHUNK) for d, o in wanted))
    return PagePlan(wanted, chunks, next_cursor)
