"""Royalties by rights holder, pure: the museum's own share and its co-owners'.

ip splits every royalty posting among the holders of the licensed assets
(`RoyaltyAccrued.splits` / `RoyaltyReversed.splits`: what the ledger credited
or debited back to each holder, i.e. the royalty minus what the licence's
advance recouped) and records each payout by holder (`PayoutRecorded`). The
museum's own share is the split whose holder id is the museum id (ip's holder
id of a museum); every other holder of the museum's assets (donors, artists,
companies) is a co-owner, kept by holder id.

Where the figures live (the same documents the sales go to, so the batch fold
still makes one upsert per document):

- museum-day: `own_accrued_fen`, `own_reversed_fen`, `own_paid_fen` and the
  co-owners together `co_accrued_fen`, `co_reversed_fen`, `co_paid_fen`;
- museum-block: per relic the museum's `relics.<r>.own_accrued_fen|own_reversed_fen`,
  and per co-owner `co_owners.<h>.accrued_fen|reversed_fen|paid_fen`, its
  `kind`, and per relic `co_owners.<h>.relics.<r>.accrued_fen|reversed_fen`.

A line counts for every relic of its product (as the sales breakdown does).
A split does not say which of a line's relics a holder owns, so the reader
keeps a co-owner's relic only when the relic's asset lists that holder
(`owns`): a donor's part of a line licensed from its donated relic and a
museum-only one is shown under the donated relic alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from analytics.changes import RELICS_OF_BLOCK, field_id, field_key, nested
from contracts.ip import RoyaltySplit

__all__ = [
    "CO_OWNERS",
    "SHARE_FIELDS",
    "CoOwner",
    "ShareIncrements",
    "Shares",
    "Side",
    "co_by_relic",
    "co_owners",
    "own_by_relic",
    "owns",
    "payout_shares",
    "royalty_shares",
    "shares",
]

CO_OWNERS = "co_owners"  # the museum-block map of co-owners (by holder id)
_RELICS = "relics"  # a co-owner's relics, nested in its entry

# the museum-day counters of the holder shares
SHARE_FIELDS = (
    "own_accrued_fen",
    "own_reversed_fen",
    "own_paid_fen",
    "co_accrued_fen",
    "co_reversed_fen",
    "co_paid_fen",
)

Side = Literal["accrued", "reversed"]


@dataclass(frozen=True)
class ShareIncrements:
    """One event's holder shares: counters of the museum-day, counters and
    fields of the day's blocks."""

    day: dict[str, int] = field(default_factory=dict)
    block: dict[str, int] = field(default_factory=dict)
    block_set: dict[str, Any] = field(default_factory=dict)


def royalty_shares(
    museum_id: str, splits: Sequence[RoyaltySplit], relic_ids: Sequence[str], side: Side
) -> ShareIncrements:
    """A royalty posting's splits: the museum's own and each co-owner's."""
    own = sum(s.amount_fen for s in splits if s.holder_id == museum_id)
    others: dict[str, tuple[str, int]] = {}
    for s in splits:
        if s.holder_id != museum_id and s.amount_fen:
            kind, amount = others.get(s.holder_id, (s.holder_kind, 0))
            others[s.holder_id] = (kind, amount + s.amount_fen)
    co = sum(amount for _, amount in others.values())
    out = ShareIncrements()
    if own:
        out.day[f"own_{side}_fen"] = own
    if co:
        out.day[f"co_{side}_fen"] = co
    relics = list(dict.fromkeys(relic_ids))
    for relic_id in relics:
        if own:
            out.block[nested(RELICS_OF_BLOCK, relic_id, f"own_{side}_fen")] = own
    for holder_id, (kind, amount) in others.items():
        out.block[nested(CO_OWNERS, holder_id, f"{side}_fen")] = amount
        out.block_set[nested(CO_OWNERS, holder_id, "kind")] = kind
        for relic_id in relics:
            path = f"{CO_OWNERS}.{field_key(holder_id)}.{_RELICS}.{field_key(relic_id)}"
            out.block[f"{path}.{side}_fen"] = amount
    return out


def payout_shares(museum_id: str, holder_id: str, amount_fen: int) -> ShareIncrements:
    """A payout to the museum itself, or to one of its co-owners."""
    if holder_id == museum_id:
        return ShareIncrements(day={"own_paid_fen": amount_fen})
    return ShareIncrements(
        day={"co_paid_fen": amount_fen},
        block={nested(CO_OWNERS, holder_id, "paid_fen"): amount_fen},
    )


# --- reading: documents into figures ------------------------------------------


def _int(row: Mapping[str, Any], name: str) -> int:
    return int(row.get(name, 0) or 0)


@dataclass(frozen=True)
class Shares:
    """One holder's (or a group's) royalty figures over a range, in fen."""

    accrued_fen: int = 0
    reversed_fen: int = 0
    paid_fen: int = 0

    @property
    def net_fen(self) -> int:
        return self.accrued_fen - self.reversed_fen

    @property
    def outstanding_fen(self) -> int:
        """What ip still owes the holder for the range (accrued - reversed - paid)."""
        return self.net_fen - self.paid_fen


def shares(rows: Iterable[Mapping[str, Any]], prefix: Literal["own", "co"]) -> Shares:
    """The museum's own (`own`) or its co-owners' (`co`) figures of museum-day
    rows (or of a relic's nested counters: no payouts there)."""
    accrued = reversed_ = paid = 0
    for row in rows:
        accrued += _int(row, f"{prefix}_accrued_fen")
        reversed_ += _int(row, f"{prefix}_reversed_fen")
        paid += _int(row, f"{prefix}_paid_fen")
    return Shares(accrued, reversed_, paid)


@dataclass
class CoOwner:
    holder_id: str
    kind: str | None = None
    accrued_fen: int = 0
    reversed_fen: int = 0
    paid_fen: int = 0
    relics: dict[str, Shares] = field(default_factory=dict)  # relic id -> its part

    @property
    def shares(self) -> Shares:
        return Shares(self.accrued_fen, self.reversed_fen, self.paid_fen)


def co_owners(docs: Iterable[Mapping[str, Any]]) -> list[CoOwner]:
    """Every co-owner of the blocks' `co_owners` maps, summed over the blocks:
    the largest net share first, then by holder id."""
    found: dict[str, CoOwner] = {}
    for doc in docs:
        for key, entry in (doc.get(CO_OWNERS) or {}).items():
            holder_id = field_id(key)
            owner = found.setdefault(holder_id, CoOwner(holder_id))
            owner.kind = owner.kind or entry.get("kind")
            owner.accrued_fen += _int(entry, "accrued_fen")
            owner.reversed_fen += _int(entry, "reversed_fen")
            owner.paid_fen += _int(entry, "paid_fen")
            for relic_key, part in (entry.get(_RELICS) or {}).items():
                relic_id = field_id(relic_key)
                before = owner.relics.get(relic_id, Shares())
                owner.relics[relic_id] = Shares(
                    before.accrued_fen + _int(part, "accrued_fen"),
                    before.reversed_fen + _int(part, "reversed_fen"),
                )
    return sorted(found.values(), key=lambda o: (-o.shares.net_fen, o.holder_id))


def own_by_relic(docs: Iterable[Mapping[str, Any]]) -> dict[str, Shares]:
    """The museum's own share per relic, summed over the blocks."""
    rows: dict[str, list[Mapping[str, Any]]] = {}
    for doc in docs:
        for key, counters in (doc.get(RELICS_OF_BLOCK) or {}).items():
            rows.setdefault(field_id(key), []).append(counters)
    return {ident: shares(rs, "own") for ident, rs in rows.items()}


def owns(owners: list[CoOwner], holders_of: Mapping[str, set[str]]) -> list[CoOwner]:
    """The co-owners with only the relics they hold a share of; a relic whose
    holders are unknown (`holders_of` lacks it) is kept."""
    for owner in owners:
        owner.relics = {
            relic_id: part
            for relic_id, part in owner.relics.items()
            if relic_id not in holders_of or owner.holder_id in holders_of[relic_id]
        }
    return owners


def co_by_relic(owners: Iterable[CoOwner]) -> dict[str, Shares]:
    """The co-owners' share per relic (after `owns`)."""
    out: dict[str, Shares] = {}
    for owner in owners:
        for relic_id, part in owner.relics.items():
            before = out.get(relic_id, Shares())
            out[relic_id] = Shares(
                before.accrued_fen + part.accrued_fen, before.reversed_fen + part.reversed_fen
            )
    return out
