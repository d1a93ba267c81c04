"""Response schemas of the ip ledger API: postings, balances, pages,
payouts, periods and statements (re-exported by ip.schemas)."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ip.domain import StatementSection
from ip.ledger_records import Posting, StatementRecord
from ip.statements import StatementLine

__all__ = [
    "BalanceRead",
    "EntryRead",
    "LedgerRead",
    "PayoutCreate",
    "PayoutRead",
    "PeriodsRead",
    "PostingRead",
    "SectionRead",
    "StatementLineRead",
    "StatementRead",
    "TrialBalance",
    "UnmatchedRead",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EntryRead(BaseModel):
    account: str
    party_id: str
    party_kind: str
    amount_fen: int  # debit positive, credit negative


class PostingRead(BaseModel):
    posting_id: str
    kind: str
    period: str
    posted_at: datetime
    license_id: str | None
    licensee_id: str | None
    museum_id: str | None
    order_id: str | None
    line_id: str | None
    refund_id: str | None
    reference: str | None
    quantity: int
    net_sales_fen: int
    royalty_fen: int
    recouped_fen: int
    entries: list[EntryRead]

    @classmethod
    def of(cls, p: Posting) -> "PostingRead":
        return cls(
            posting_id=p.posting_id,
            kind=p.kind,
            period=p.period,
            posted_at=p.posted_at,
            license_id=p.license_id,
            licensee_id=p.licensee_id,
            museum_id=p.museum_id,
            order_id=p.order_id,
            line_id=p.line_id,
            refund_id=p.refund_id,
            reference=p.reference,
            quantity=p.amounts.quantity,
            net_sales_fen=p.amounts.net_sales_fen,
            royalty_fen=p.amounts.royalty_fen,
            recouped_fen=p.amounts.recouped_fen,
            entries=[EntryRead(**vars(e)) for e in p.entries],
        )


class BalanceRead(BaseModel):
    account: str
    party_id: str
    balance_fen: int  # holders: what they are owed; licensees: what they owe


class LedgerRead(BaseModel):
    balance: BalanceRead
    postings: list[PostingRead]
    next_cursor: str | None = None  # the next page's `cursor`; None on the last page


class TrialBalance(BaseModel):
    accounts: dict[str, int]  # raw sums, debit positive
    total_fen: int  # always 0


class PayoutCreate(_In):
    reference: str = Field(min_length=1, max_length=128)
    holder_id: str
    amount_fen: int


class PayoutRead(BaseModel):
    payout_id: str
    reference: str
    holder_id: str
    amount_fen: int
    period: str
    paid_at: datetime


class PeriodsRead(BaseModel):
    last_closed: str | None


class SectionRead(BaseModel):
    license_id: str | None
    opening_balance_fen: int
    accrued_fen: int
    reversed_fen: int
    shortfall_fen: int
    advance_fen: int
    payouts_fen: int
    closing_balance_fen: int

    @classmethod
    def of(cls, s: StatementSection) -> "SectionRead":
        return cls(
            license_id=s.license_id,
            opening_balance_fen=s.opening_balance_fen,
            accrued_fen=s.accrued_fen,
            reversed_fen=s.reversed_fen,
            shortfall_fen=s.shortfall_fen,
            advance_fen=s.advance_fen,
            payouts_fen=s.payouts_fen,
            closing_balance_fen=s.closing_balance_fen,
        )


class StatementRead(SectionRead):
    statement_id: str
    holder_id: str
    holder_kind: str
    museum_id: str | None
    period: str
    period_start: datetime
    period_end: datetime
    sections: list[SectionRead]
    issued_at: datetime  # a provisional statement: the time it was computed
    provisional: bool = False  # the open period so far: changes until the period closes

    @classmethod
    def of(cls, r: StatementRecord, *, provisional: bool = False) -> "StatementRead":  # type: ignore[override]
        totals = SectionRead.of(r.totals).model_dump(exclude={"license_id"})
        return cls(
            statement_id=r.statement_id,
            holder_id=r.holder_id,
            holder_kind=r.holder_kind,
            museum_id=r.museum_id,
            period=r.period,
            period_start=r.period_start,
            period_end=r.period_end,
            license_id=None,
            sections=[SectionRead.of(x) for x in r.sections],
            issued_at=r.issued_at,
            provisional=provisional,
            **totals,
        )


class StatementLineRead(BaseModel):
    posting_id: str
    kind: str
    posted_at: datetime
    license_id: str | None
    order_id: str | None
    line_id: str | None
    refund_id: str | None
    reference: str | None
    product_id: str | None
    quantity: int
    net_sales_fen: int
    royalty_fen: int
    amount_fen: int

    @classmethod
    def of(cls, line: StatementLine) -> "StatementLineRead":
        return cls(**vars(line))


class UnmatchedRead(BaseModel):
    posting_id: str
    reason: str
    event_id: str | None = None
