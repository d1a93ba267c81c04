"""The ledger's records and their document mapping (no I/O): postings with
their entries, statements. Re-exported by ip.records."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ip.domain import StatementSection
from ip.royalty import Cumulative, PostedAmounts

__all__ = [
    "Entry",
    "InsertResult",
    "Posting",
    "StatementRecord",
    "cumulative_of",
    "posting_doc",
    "posting_of",
    "statement_doc",
    "statement_of",
]

Doc = dict[str, Any]


@dataclass(frozen=True)
class Entry:
    """One side of a posting; debits positive, credits negative."""

    account: str
    party_id: str
    party_kind: str
    amount_fen: int


@dataclass(frozen=True)
class Posting:
    posting_id: str
    kind: str  # accrual | reversal | advance | shortfall | payout
    source_key: str
    chain_key: str
    period: str
    posted_at: datetime
    entries: tuple[Entry, ...]
    license_id: str | None = None
    licensee_id: str | None = None
    museum_id: str | None = None
    order_id: str | None = None
    line_id: str | None = None
    product_id: str | None = None
    refund_id: str | None = None
    reference: str | None = None
    relic_ids: tuple[str, ...] = ()
    amounts: PostedAmounts = field(default_factory=PostedAmounts)
    license_seq: int | None = None
    cum_after: Cumulative | None = None
    accrual_id: str | None = None


@dataclass(frozen=True)
class StatementRecord:
    statement_id: str  # <holder>:<period>
    holder_id: str
    holder_kind: str
    museum_id: str | None
    period: str
    period_start: datetime
    period_end: datetime
    totals: StatementSection
    sections: tuple[StatementSection, ...]
    issued_at: datetime


class InsertResult(StrEnum):
    INSERTED = "inserted"
    EXISTS = "exists"  # this posting was already there: a redelivery
    CHAIN_TAKEN = "chain_taken"  # another posting took the chain position: retry


def _amounts_doc(a: PostedAmounts) -> Doc:
    return {
        "quantity": a.quantity,
        "net_sales_fen": a.net_sales_fen,
        "royalty_fen": a.royalty_fen,
        "payable_fen": a.payable_fen,
        "recouped_fen": a.recouped_fen,
    }


def posting_doc(p: Posting) -> Doc:
    return {
        "_id": p.posting_id,
        "kind": p.kind,
        "source_key": p.source_key,
        "chain_key": p.chain_key,
        "period": p.period,
        "posted_at": p.posted_at,
        "entries": [
            {
                "account": e.account,
                "party_id": e.party_id,
                "party_kind": e.party_kind,
                "amount_fen": e.amount_fen,
                # copied into each entry: FerretDB 1.24 drops a document's other
                # fields after $unwind, so per-license sums group on this one
                "license_id": p.license_id,
            }
            for e in p.entries
        ],
        "accounts": sorted({e.account for e in p.entries}),
        "license_id": p.license_id,
        "licensee_id": p.licensee_id,
        "museum_id": p.museum_id,
        "order_id": p.order_id,
        "line_id": p.line_id,
        "product_id": p.product_id,
        "refund_id": p.refund_id,
        "reference": p.reference,
        "relic_ids": list(p.relic_ids),
        **_amounts_doc(p.amounts),
        "license_seq": p.license_seq,
        "cum_after": (
            {
                "units": p.cum_after.units,
                "net_sales_fen": p.cum_after.net_sales_fen,
                "recouped_fen": p.cum_after.recouped_fen,
            }
            if p.cum_after
            else None
        ),
        "accrual_id": p.accrual_id,
    }


def _cumulative(cum: Doc) -> Cumulative:
    return Cumulative(cum["units"], cum["net_sales_fen"], cum["recouped_fen"])


def _posting(d: Doc) -> Posting:
    cum = d.get("cum_after")
    return Posting(
        posting_id=d["_id"],
        kind=d["kind"],
        source_key=d["source_key"],
        chain_key=d["chain_key"],
        period=d["period"],
        posted_at=d["posted_at"],
        entries=tuple(
            Entry(e["account"], e["party_id"], e["party_kind"], e["amount_fen"])
            for e in d["entries"]
        ),
        license_id=d.get("license_id"),
        licensee_id=d.get("licensee_id"),
        museum_id=d.get("museum_id"),
        order_id=d.get("order_id"),
        line_id=d.get("line_id"),
        product_id=d.get("product_id"),
        refund_id=d.get("refund_id"),
        reference=d.get("reference"),
        relic_ids=tuple(d.get("relic_ids", [])),
        amounts=PostedAmounts(
            d["quantity"], d["net_sales_fen"], d["royalty_fen"], d["payable_fen"], d["recouped_fen"]
        ),
        license_seq=d.get("license_seq"),
        cum_after=_cumulative(cum) if cum else None,
        accrual_id=d.get("accrual_id"),
    )


_SECTION_FIELDS = (
    "opening_balance_fen",
    "accrued_fen",
    "reversed_fen",
    "shortfall_fen",
    "advance_fen",
    "payouts_fen",
)


def _section_doc(s: StatementSection) -> Doc:
    return {
        "license_id": s.license_id,
        **{name: getattr(s, name) for name in _SECTION_FIELDS},
        "closing_balance_fen": s.closing_balance_fen,
    }


def _section(d: Doc) -> StatementSection:
    return StatementSection(d.get("license_id"), *(d[name] for name in _SECTION_FIELDS))


def statement_doc(r: StatementRecord) -> Doc:
    totals = _section_doc(r.totals)
    totals.pop("license_id")
    return {
        "_id": r.statement_id,
        "holder_id": r.holder_id,
        "holder_kind": r.holder_kind,
        "museum_id": r.museum_id,
        "period": r.period,
        "period_start": r.period_start,
        "period_end": r.period_end,
        **totals,
        "sections": [_section_doc(x) for x in r.sections],
        "issued_at": r.issued_at,
    }


def _statement(d: Doc) -> StatementRecord:
    return StatementRecord(
        statement_id=d["_id"],
        holder_id=d["holder_id"],
        holder_kind=d["holder_kind"],
        museum_id=d.get("museum_id"),
        period=d["period"],
        period_start=d["period_start"],
        period_end=d["period_end"],
        totals=_section(d),
        sections=tuple(_section(x) for x in d["sections"]),
        issued_at=d["issued_at"],
    )


posting_of = _posting
statement_of = _statement
cumulative_of = _cumulative
