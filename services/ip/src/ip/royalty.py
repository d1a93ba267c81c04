"""Money rules of the royalty engine: pure, integer fen, standard library only.

Rounding, documented once:

- a line's royalty is computed exactly (as a `Fraction`) and rounded ONCE,
  half to even (`round(Fraction)` is banker's rounding);
- a split of an amount among holders uses the largest remainder method: every
  holder gets the floor of its exact share, and the fen left over go one each
  to the largest fractional remainders, ties broken by holder id. The parts sum
  exactly to the whole, each is within 1 fen of its exact share, and the result
  does not depend on the order in which holders are listed;
- a refund reverses cumulatively: after each refund the total reversed is the
  accrual times the refunded fraction (rounded half-even), never more than the
  accrual, and all of it once the whole line is refunded. Its split among the
  holders is proportional to what each still holds, so nobody gives back more
  than it received and a full refund restores every balance exactly.

Royalty terms: a base rate in basis points of net sales, optionally replaced
by tier rates once the license's cumulative units (or net sales) within its
term reach a threshold. One line can cross tiers; each part of it is charged at
its own tier's rate. The per-unit minimum fee applies to the line as a whole:
royalty = max(rate royalty, fee x quantity).

An advance is recouped from earned royalties: of each line's royalty, what is
still unrecouped is kept against the advance (the holders already received it
when the license was granted) and only the rest becomes payable.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

__all__ = [
    "BPS",
    "Cumulative",
    "LineRoyalty",
    "PostedAmounts",
    "Tier",
    "TierBasis",
    "allocate",
    "check_payout",
    "combine_shares",
    "compute_line_royalty",
    "half_even",
    "recoup",
    "reverse",
]

BPS = 10_000
TierBasis = Literal["units", "net_sales"]


def half_even(value: Fraction) -> int:
    """Round to the nearest integer, halves to the even neighbour."""
    return round(value)


def allocate(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split `total` fen by integer weights with the largest remainder method.

    The parts sum exactly to `total`; each part is the floor or the ceiling of
    its exact share; ties go to the smaller key, so the listing order of the
    weights never matters. A negative total is split as its absolute value."""
    if total < 0:
        return {key: -part for key, part in allocate(-total, weights).items()}
    if any(w < 0 for w in weights.values()):
        raise ValueError("weights must not be negative")
    whole = sum(weights.values())
    if whole <= 0:
        raise ValueError("weights must have a positive sum")
    parts: dict[str, int] = {}
    remainders: list[tuple[int, str]] = []
    for key in sorted(weights):
        quotient, remainder = divmod(total * weights[key], whole)
        parts[key] = quotient
        remainders.append((remainder, key))
    left = total - sum(parts.values())
    # largest remainder first; equal remainders in key order
    for _, key in sorted(remainders, key=lambda rk: (-rk[0], rk[1]))[:left]:
        parts[key] += 1
    return parts


def combine_shares(per_asset: Sequence[Mapping[str, int]]) -> dict[str, int]:
    """Weights for a line licensed from several assets: each asset counts
    equally, and inside it each holder by its share."""
    weights: dict[str, int] = {}
    for shares in per_asset:
        for holder, bps in shares.items():
            weights[holder] = weights.get(holder, 0) + bps
    return weights


@dataclass(frozen=True)
class Tier:
    """From `threshold` (cumulative units or net-sales fen) on, `rate_bps` applies."""

    threshold: int
    rate_bps: int


@dataclass(frozen=True)
class Cumulative:
    """What a license has sold within its term so far, and how much of its
    advance earned royalties have recouped."""

    units: int = 0
    net_sales_fen: int = 0
    recouped_fen: int = 0


@dataclass(frozen=True)
class LineRoyalty:
    royalty_fen: int
    rate_royalty_fen: int  # before the per-unit minimum
    minimum_fen: int  # fee x quantity
    segments: tuple[tuple[int, Fraction], ...] = field(default=())  # (rate_bps, net sales)


def _rate_at(position: int, base_rate_bps: int, tiers: Sequence[Tier]) -> int:
    rate = base_rate_bps
    for tier in tiers:
        if position >= tier.threshold:
            rate = tier.rate_bps
    return rate


def _segments(start: int, length: int, thresholds: Sequence[int]) -> list[tuple[int, int]]:
    """Cut [start, start + length) at the thresholds: (segment start, segment length)."""
    cuts = sorted({t for t in thresholds if start < t < start + length})
    bounds = [start, *cuts, start + length]
    return [(a, b - a) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def compute_line_royalty(
    *,
    base_rate_bps: int,
    tiers: Sequence[Tier],
    tier_basis: TierBasis,
    minimum_per_unit_fen: int,
    before: Cumulative,
    quantity: int,
    net_sales_fen: int,
) -> LineRoyalty:
    """The royalty of one order line, given the license's cumulative sales before it."""
    if quantity <= 0 or net_sales_fen < 0:
        raise ValueError("a line has a positive quantity and non-negative sales")
    ordered = sorted(tiers, key=lambda t: t.threshold)
    thresholds = [t.threshold for t in ordered]
    segments: list[tuple[int, Fraction]] = []
    if tier_basis == "units":
        for seg_start, units in _segments(before.units, quantity, thresholds):
            rate = _rate_at(seg_start, base_rate_bps, ordered)
            segments.append((rate, Fraction(net_sales_fen * units, quantity)))
    else:
        for seg_start, sales in _segments(before.net_sales_fen, net_sales_fen, thresholds):
            rate = _rate_at(seg_start, base_rate_bps, ordered)
            segments.append((rate, Fraction(sales)))
    exact = sum((Fraction(rate, BPS) * sales for rate, sales in segments), Fraction(0))
    rate_royalty = half_even(exact)
    minimum = minimum_per_unit_fen * quantity
    return LineRoyalty(
        royalty_fen=max(rate_royalty, minimum),
        rate_royalty_fen=rate_royalty,
        minimum_fen=minimum,
        segments=tuple(segments),
    )


def recoup(royalty_fen: int, *, advance_fen: int, recouped_before_fen: int) -> tuple[int, int]:
    """(recouped now, payable now): the advance is never over-recouped and
    neither part is negative."""
    if royalty_fen < 0:
        raise ValueError("royalty must not be negative")
    open_advance = max(advance_fen - recouped_before_fen, 0)
    recouped = min(royalty_fen, open_advance)
    return recouped, royalty_fen - recouped


def check_payout(amount_fen: int, *, balance_fen: int) -> int:
    """The balance left after paying `amount_fen`: a payout is positive and at
    most the balance, so it never drives a balance below zero."""
    if amount_fen <= 0:
        raise ValueError("a payout is a positive amount")
    if amount_fen > balance_fen:
        raise ValueError(f"a payout of {amount_fen} fen exceeds the balance of {balance_fen} fen")
    return balance_fen - amount_fen


@dataclass(frozen=True)
class PostedAmounts:
    """One line's accrual, or the running total of its reversals."""

    quantity: int = 0
    net_sales_fen: int = 0
    royalty_fen: int = 0
    payable_fen: int = 0  # royalty_fen - recouped_fen: what the ledger moved
    recouped_fen: int = 0

    def plus(self, other: "PostedAmounts") -> "PostedAmounts":
        return PostedAmounts(
            self.quantity + other.quantity,
            self.net_sales_fen + other.net_sales_fen,
            self.royalty_fen + other.royalty_fen,
            self.payable_fen + other.payable_fen,
            self.recouped_fen + other.recouped_fen,
        )


def reverse(
    accrued: PostedAmounts,
    reversed_before: PostedAmounts,
    *,
    refund_quantity: int,
    refund_fen: int,
) -> PostedAmounts:
    """What one refund gives back of an accrued line (all parts >= 0).

    Cumulative and monotone: the total reversed after this refund is the
    accrual times the refunded fraction of its sales (half-even), all of it once
    the whole quantity or amount is refunded, and never more than accrued. The
    payable/recouped parts are floor/ceil of that total in the accrual's own
    proportion, so both only ever grow and end exactly at the accrual's."""
    quantity = min(reversed_before.quantity + refund_quantity, accrued.quantity)
    sales = min(reversed_before.net_sales_fen + refund_fen, accrued.net_sales_fen)
    full = quantity >= accrued.quantity or sales >= accrued.net_sales_fen
    if full:
        royalty = accrued.royalty_fen
    else:
        royalty = half_even(Fraction(accrued.royalty_fen * sales, accrued.net_sales_fen))
    royalty = max(royalty, reversed_before.royalty_fen)
    if accrued.royalty_fen:
        payable = royalty * accrued.payable_fen // accrued.royalty_fen
    else:
        payable = 0
    payable = max(payable, reversed_before.payable_fen)
    total = PostedAmounts(
        quantity=quantity,
        net_sales_fen=sales,
        royalty_fen=royalty,
        payable_fen=payable,
        recouped_fen=royalty - payable,
    )
    return PostedAmounts(
        quantity=total.quantity - reversed_before.quantity,
        net_sales_fen=total.net_sales_fen - reversed_before.net_sales_fen,
        royalty_fen=total.royalty_fen - reversed_before.royalty_fen,
        payable_fen=total.payable_fen - reversed_before.payable_fen,
        recouped_fen=total.recouped_fen - reversed_before.recouped_fen,
    )
