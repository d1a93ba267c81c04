"""How the royalty engine turns an order line into a posting: pure builders,
no I/O, shared by the order consumer (ip.ledger) and the history loader
(ip.history), so both post exactly the same entries and events.

Accounts (debits positive, credits negative; every posting sums to zero):
`licensee:<id>` what a licensee owes, `holder:<id>` what a rights holder is
owed (a credit balance), `platform:cash` money paid out.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from contracts.ip import RoyaltyAccrued, RoyaltyReversed, RoyaltySplit
from contracts.orders import OrderLine, OrderPaid, OrderRefunded, RefundLine
from ip.domain import shares_at
from ip.records import AssetRecord, Entry, LicenseRecord, Posting
from ip.royalty import (
    Cumulative,
    PostedAmounts,
    allocate,
    combine_shares,
    compute_line_royalty,
    recoup,
    reverse,
)

__all__ = [
    "CASH",
    "Holders",
    "accrual",
    "accrual_id",
    "holder_account",
    "holders_of",
    "licensee_account",
    "reversal",
    "reversal_id",
]

CASH = "platform:cash"


def holder_account(holder_id: str) -> str:
    return f"holder:{holder_id}"


def licensee_account(licensee_id: str) -> str:
    return f"licensee:{licensee_id}"


def accrual_id(order_id: str, line_id: str) -> str:
    return f"accrual:{order_id}:{line_id}"


def reversal_id(refund_id: str, line_id: str) -> str:
    return f"reversal:{refund_id}:{line_id}"


@dataclass(frozen=True)
class Holders:
    weights: dict[str, int]
    kinds: dict[str, str]


def holders_of(
    assets: Sequence[AssetRecord],
    relic_ids: Sequence[str],
    at: datetime,
) -> Holders | None:
    """The holders of the line's assets (those of the license whose relic the
    line names; all of the license's when none matches), by the shares in
    force at `at`. `assets` are the license's assets."""
    chosen = [a for a in assets if a.relic_id in relic_ids] or list(assets)
    if not chosen:
        return None
    per_asset: list[dict[str, int]] = []
    kinds: dict[str, str] = {}
    for asset in sorted(chosen, key=lambda a: a.asset_id):
        shares = shares_at(asset.ownership, at)
        per_asset.append({s.holder_id: s.share_bps for s in shares})
        kinds.update({s.holder_id: s.holder_kind for s in shares})
    return Holders(combine_shares(per_asset), kinds)


def holder_entries(split: Mapping[str, int], kinds: Mapping[str, str], sign: int) -> list[Entry]:
    return [
        Entry(holder_account(h), h, kinds.get(h, "museum"), sign * amount)
        for h, amount in sorted(split.items())
        if amount
    ]


def splits(entries: tuple[Entry, ...]) -> list[RoyaltySplit]:
    return [
        RoyaltySplit(holder_id=e.party_id, holder_kind=e.party_kind, amount_fen=abs(e.amount_fen))
        for e in entries
        if e.account.startswith("holder:")
    ]


def accrual(
    event: OrderPaid,
    line: OrderLine,
    *,
    event_id: str,
    lic: LicenseRecord,
    holders: Holders,
    seq: int,
    before: Cumulative,
    period: str,
) -> tuple[Posting, RoyaltyAccrued]:
    """The accrual of one licensed line at chain position `seq + 1`."""
    terms = lic.terms
    royalty = compute_line_royalty(
        base_rate_bps=terms.rate_bps,
        tiers=terms.tiers,
        tier_basis=terms.tier_basis,
        minimum_per_unit_fen=terms.minimum_per_unit_fen,
        before=before,
        quantity=line.quantity,
        net_sales_fen=line.line_total_fen,
    ).royalty_fen
    recouped, payable = recoup(
        royalty, advance_fen=terms.advance_fen, recouped_before_fen=before.recouped_fen
    )
    licensee = lic.scope.licensee_id
    entries = holder_entries(allocate(payable, holders.weights), holders.kinds, -1)
    if payable:
        entries.insert(0, Entry(licensee_account(licensee), licensee, "licensee", payable))
    posting_id = accrual_id(event.order_id, line.line_id)
    posting = Posting(
        posting_id=posting_id,
        kind="accrual",
        source_key=f"{event_id}:{line.line_id}",
        chain_key=f"license:{lic.license_id}:{seq + 1}",
        period=period,
        posted_at=event.paid_at,
        entries=tuple(entries),
        license_id=lic.license_id,
        licensee_id=licensee,
        museum_id=lic.museum_id,
        order_id=event.order_id,
        line_id=line.line_id,
        product_id=line.product_id,
        relic_ids=tuple(line.relic_ids),
        amounts=PostedAmounts(line.quantity, line.line_total_fen, royalty, payable, recouped),
        license_seq=seq + 1,
        cum_after=Cumulative(
            before.units + line.quantity,
            before.net_sales_fen + line.line_total_fen,
            before.recouped_fen + recouped,
        ),
    )
    accrued = RoyaltyAccrued(
        license_id=lic.license_id,
        posting_id=posting_id,
        licensee_id=licensee,
        museum_id=lic.museum_id,
        order_id=event.order_id,
        line_id=line.line_id,
        product_id=line.product_id,
        relic_ids=list(line.relic_ids),
        quantity=line.quantity,
        net_sales_fen=line.line_total_fen,
        royalty_fen=royalty,
        splits=splits(posting.entries),
        accrued_at=event.paid_at,
        recouped_fen=recouped,
        period=period,
    )
    return posting, accrued


def reversal(
    event: OrderRefunded,
    line: RefundLine,
    *,
    event_id: str,
    accrued: Posting,
    prior: Sequence[Posting],
    seq: int,
    before: Cumulative,
    period: str,
) -> tuple[Posting, RoyaltyReversed] | None:
    """The reversal of one refunded line at chain position `seq + 1`, given
    the accrual and its earlier reversals; None when nothing is left to reverse."""
    license_id = accrued.license_id or ""
    reversed_before = PostedAmounts()
    held = {e.party_id: -e.amount_fen for e in accrued.entries if e.account.startswith("holder:")}
    for p in prior:
        reversed_before = reversed_before.plus(p.amounts)
        for e in p.entries:
            if e.account.startswith("holder:"):
                held[e.party_id] -= e.amount_fen
    step = reverse(
        accrued.amounts, reversed_before, refund_quantity=line.quantity, refund_fen=line.amount_fen
    )
    if step == PostedAmounts():
        return None
    kinds = {e.party_id: e.party_kind for e in accrued.entries}
    back = allocate(step.payable_fen, held) if step.payable_fen else {}
    entries = holder_entries(back, kinds, +1)
    licensee = accrued.licensee_id or ""
    if step.payable_fen:
        entries.insert(
            0, Entry(licensee_account(licensee), licensee, "licensee", -step.payable_fen)
        )
    posting_id = reversal_id(event.refund_id, line.line_id)
    posting = Posting(
        posting_id=posting_id,
        kind="reversal",
        source_key=f"{event_id}:{line.line_id}",
        chain_key=f"license:{license_id}:{seq + 1}",
        period=period,
        posted_at=event.refunded_at,
        entries=tuple(entries),
        license_id=license_id,
        licensee_id=accrued.licensee_id,
        museum_id=accrued.museum_id,
        order_id=event.order_id,
        line_id=line.line_id,
        product_id=line.product_id,
        refund_id=event.refund_id,
        relic_ids=accrued.relic_ids,
        amounts=step,
        license_seq=seq + 1,
        cum_after=Cumulative(
            before.units - step.quantity,
            before.net_sales_fen - step.net_sales_fen,
            before.recouped_fen - step.recouped_fen,
        ),
        accrual_id=accrued.posting_id,
    )
    reversed_event = RoyaltyReversed(
        license_id=license_id,
        posting_id=posting_id,
        licensee_id=licensee,
        museum_id=accrued.museum_id or "",
        order_id=event.order_id,
        refund_id=event.refund_id,
        line_id=line.line_id,
        product_id=line.product_id,
        relic_ids=list(accrued.relic_ids),
        quantity=step.quantity,
        net_sales_fen=step.net_sales_fen,
        royalty_fen=step.royalty_fen,
        splits=splits(posting.entries),
        reversed_at=event.refunded_at,
        recouped_fen=step.recouped_fen,
        period=period,
    )
    return posting, reversed_event
