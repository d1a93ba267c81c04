"""The books' documents and filters, pure (no I/O): day chunks, month
indexes, balances, and the plan of one projection round.

Three levels, each found by `_id` only, each bounded whatever the history:

- a chunk, `_id` = `<account>/<UTC day>/<period>/<k>` (k = 0, 1, ...): up to
  `CHUNK` postings of that account that day in that period (id, time, kind,
  amount, license), their count `n`, sum, payouts and time range `lo`..`hi`.
  Only the last chunk of a day takes postings, and only while it has room:
  every chunk before it is full, so full means frozen;
- a month index, `_id` = `<account>/<UTC month>`: per chunk key
  `<day>_<period>_<k>` the last snapshot `{n, sum_fen, payouts, lo, hi}`
  copied from that chunk, moved only forward (a larger `n`): ~100 keys at
  300 postings a day;
- a balance, `_id` = the account: per month the snapshot `{n, sum_fen,
  payouts, periods}` of its month index, moved only forward the same way:
  one key per month.

Each snapshot is copied from one document read whole (its `n` and sums agree),
so the sums are exact whatever the order of concurrent projections.
"""

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import UpdateOne

__all__ = [
    "BALANCES",
    "BUCKETS",
    "CHUNK",
    "MONTHS",
    "BookLine",
    "ChunkMeta",
    "ChunkState",
    "Plan",
    "by_id",
    "by_ids",
    "chunk_doc",
    "chunk_id",
    "chunk_key",
    "chunk_metas",
    "chunk_state",
    "day_key",
    "decode_cursor",
    "encode_cursor",
    "fill_update",
    "group_lines",
    "line_of",
    "month_chunks",
    "month_id",
    "month_snapshot",
    "month_totals",
    "plan_appends",
    "snapshot_update",
    "stamp",
]

Doc = dict[str, Any]
BUCKETS = "ledger_days"
MONTHS = "ledger_months"
BALANCES = "ledger_balances"
CHUNK = 100  # postings per chunk: what one page may have to decode


@dataclass(frozen=True)
class BookLine:
    """One posting as one account sees it (raw amount: debit positive)."""

    posting_id: str
    at: str  # posted_at, ISO UTC to the millisecond (sorts as text)
    period: str
    kind: str
    amount_fen: int
    license_id: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.at, self.posting_id


def by_id(doc_id: str) -> Doc:
    return {"_id": doc_id}


def by_ids(doc_ids: Sequence[str]) -> Doc:
    return {"_id": {"$in": list(doc_ids)}}


def stamp(at: datetime) -> str:
    """posted_at as stored (BSON keeps milliseconds), as sortable text."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def day_key(account: str, day: str, period: str) -> str:
    return f"{account}/{day}/{period}"


def chunk_id(account: str, day: str, period: str, k: int) -> str:
    return f"{day_key(account, day, period)}/{k}"


def chunk_key(day: str, period: str, k: int) -> str:
    """A chunk's key in its month index (no dots: a field name)."""
    return f"{day}_{period}_{k}"


def month_id(account: str, day: str) -> str:
    return f"{account}/{day[:7]}"


def encode_cursor(key: tuple[str, str]) -> str:
    raw = f"{key[0]}|{key[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """(time, posting id) after which the next page starts; ValueError if malformed."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("malformed cursor") from exc
    at, sep, posting_id = raw.partition("|")
    if not sep or len(at) < 10 or not posting_id:
        raise ValueError("malformed cursor")
    return at, posting_id


def _item(line: BookLine) -> Doc:
    return {
        "id": line.posting_id,
        "at": line.at,
        "kind": line.kind,
        "amount_fen": line.amount_fen,
        "lic": line.license_id,
    }


def line_of(item: Doc, period: str) -> BookLine:
    return BookLine(
        item["id"], item["at"], period, item["kind"], int(item["amount_fen"]), item.get("lic")
    )


# --- chunks ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkState:
    """A chunk's totals as read (or as left by our own guarded append)."""

    account: str
    day: str
    period: str
    k: int
    n: int
    sum_fen: int
    payouts: int
    lo: str
    hi: str

    @property
    def doc_id(self) -> str:
        return chunk_id(self.account, self.day, self.period, self.k)

    def plus(self, lines: Sequence[BookLine]) -> "ChunkState":
        ats = [x.at for x in lines]
        return ChunkState(
            self.account,
            self.day,
            self.period,
            self.k,
            self.n + len(lines),
            self.sum_fen + sum(x.amount_fen for x in lines),
            self.payouts + sum(1 for x in lines if x.kind == "payout"),
            min([self.lo, *ats]) if self.n else min(ats),
            max([self.hi, *ats]) if self.n else max(ats),
        )


def chunk_state(doc: Doc) -> ChunkState:
    return ChunkState(
        doc["account"],
        doc["day"],
        doc["period"],
        int(doc["k"]),
        int(doc["n"]),
        int(doc["sum_fen"]),
        int(doc.get("payouts", 0)),
        doc.get("lo", ""),
        doc.get("hi", ""),
    )


def chunk_doc(state: ChunkState, lines: Sequence[BookLine]) -> Doc:
    """A new chunk holding `lines` (created once: `$setOnInsert`)."""
    full = ChunkState(state.account, state.day, state.period, state.k, 0, 0, 0, "", "").plus(lines)
    return {
        "_id": full.doc_id,
        "account": full.account,
        "day": full.day,
        "period": full.period,
        "k": full.k,
        "n": full.n,
        "sum_fen": full.sum_fen,
        "payouts": full.payouts,
        "lo": full.lo,
        "hi": full.hi,
        "ids": [x.posting_id for x in lines],
        "items": [_item(x) for x in lines],
    }


def fill_update(state: ChunkState, lines: Sequence[BookLine]) -> tuple[Doc, Doc]:
    """(filter, update) appending `lines` to a chunk still holding exactly
    `state.n` postings (so its content is the one read: nothing to dedupe)."""
    return (
        {"_id": state.doc_id, "n": state.n},
        {
            "$push": {
                "ids": {"$each": [x.posting_id for x in lines]},
                "items": {"$each": [_item(x) for x in lines]},
            },
            "$inc": {
                "n": len(lines),
                "sum_fen": sum(x.amount_fen for x in lines),
                "payouts": sum(1 for x in lines if x.kind == "payout"),
            },
            "$min": {"lo": min(x.at for x in lines)},
            "$max": {"hi": max(x.at for x in lines)},
        },
    )


@dataclass
class Plan:
    """One round's writes: `first` (fills of chunks as read, creates of chunks
    whose predecessor is full already) then `after` (creates of chunks whose
    predecessor `first` fills up: sent only once `first` all landed), the
    chunk states they leave, and whether lines were left for another round."""

    first: list[UpdateOne] = field(default_factory=list)
    fills: int = 0
    creates: int = 0
    after: list[UpdateOne] = field(default_factory=list)
    states: list[ChunkState] = field(default_factory=list)
    deferred: bool = False


def plan_appends(
    day: tuple[str, str, str],
    chunks: Sequence[ChunkState],
    missing: Sequence[BookLine],
    plan: Plan,
) -> None:
    """Add to `plan` the writes that put `missing` (none of them in `chunks`,
    the day's chunks as read, in order of k) into the day's last chunk and at
    most one new chunk after it (a chunk is created only behind a full one
    whose content is known, so no posting can sit in two chunks); what does
    not fit waits for the next round. Every state left goes to `plan.states`."""
    account, day_, period = day
    ordered = sorted(missing, key=lambda x: x.key)
    last = chunks[-1] if chunks else None
    plan.states.extend(chunks[:-1])
    filled = False
    if last is not None and last.n < CHUNK and ordered:
        part, ordered = ordered[: CHUNK - last.n], ordered[CHUNK - last.n :]
        plan.first.append(UpdateOne(*fill_update(last, part)))
        plan.fills += 1
        last = last.plus(part)
        filled = True
    if last is not None:
        plan.states.append(last)
    if not ordered:
        return
    part, rest = ordered[:CHUNK], ordered[CHUNK:]
    empty = ChunkState(account, day_, period, last.k + 1 if last else 0, 0, 0, 0, "", "")
    create = UpdateOne(by_id(empty.doc_id), {"$setOnInsert": chunk_doc(empty, part)}, upsert=True)
    if filled:
        plan.after.append(create)
    else:
        plan.first.append(create)
        plan.creates += 1
    plan.states.append(empty.plus(part))
    plan.deferred = plan.deferred or bool(rest)


# --- snapshots -------------------------------------------------------------------


def snapshot_update(states: Sequence[ChunkState]) -> tuple[Doc, Doc]:
    """(filter, update) copying chunks' totals (chunks of one month) into
    their month index, unless the index holds any of them at the same count
    or later: one document rewritten once, however many chunks moved."""
    [month] = {month_id(s.account, s.day) for s in states}
    guard: Doc = {"_id": month}
    moved: Doc = {}
    for state in states:
        key = chunk_key(state.day, state.period, state.k)
        guard[f"chunks.{key}.n"] = {"$not": {"$gte": state.n}}
        moved[f"chunks.{key}"] = {
            "n": state.n,
            "sum_fen": state.sum_fen,
            "payouts": state.payouts,
            "lo": state.lo,
            "hi": state.hi,
        }
    return guard, {"$set": moved}


@dataclass(frozen=True)
class ChunkMeta:
    """A chunk as its month index lists it (what a page plans its reads by)."""

    day: str
    period: str
    k: int
    n: int
    lo: str
    hi: str


def chunk_metas(month: Doc) -> list[ChunkMeta]:
    metas = []
    for key, snap in (month.get("chunks") or {}).items():
        day, period, k = key.split("_")
        metas.append(ChunkMeta(day, period, int(k), int(snap["n"]), snap["lo"], snap["hi"]))
    return sorted(metas, key=lambda m: (m.day, m.lo, m.period, m.k))


def month_chunks(month: Doc) -> list[ChunkState]:
    """The chunk states a month index holds (snapshots: the loader's start)."""
    account = month["_id"].rsplit("/", 1)[0]
    states = []
    for key, snap in (month.get("chunks") or {}).items():
        day, period, k = key.split("_")
        states.append(
            ChunkState(
                account,
                day,
                period,
                int(k),
                int(snap["n"]),
                int(snap["sum_fen"]),
                int(snap.get("payouts", 0)),
                snap["lo"],
                snap["hi"],
            )
        )
    return states


def month_totals(month: Doc) -> Doc:
    """A month index's totals: its snapshots added up, read from one document."""
    snaps: Mapping[str, Doc] = month.get("chunks") or {}
    return {
        "n": sum(int(s["n"]) for s in snaps.values()),
        "sum_fen": sum(int(s["sum_fen"]) for s in snaps.values()),
        "payouts": sum(int(s.get("payouts", 0)) for s in snaps.values()),
        "periods": sorted({k.split("_")[1] for k in snaps}),
    }


def month_snapshot(account: str, month: str, totals: Doc) -> tuple[Doc, Doc]:
    """(filter, update) copying a month's totals into the account's balance,
    unless the balance holds that month at the same count or later."""
    return (
        {"_id": account, f"months.{month}.n": {"$not": {"$gte": int(totals["n"])}}},
        {"$set": {f"months.{month}": totals}},
    )


def group_lines(
    lines: Iterable[tuple[str, BookLine]],
) -> dict[tuple[str, str, str], list[BookLine]]:
    """(account, day, period) -> its lines, each posting once."""
    days: dict[tuple[str, str, str], dict[str, BookLine]] = {}
    for account, line in lines:
        days.setdefault((account, line.at[:10], line.period), {}).setdefault(line.posting_id, line)
    return {d: list(x.values()) for d, x in days.items()}
