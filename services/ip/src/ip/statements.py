"""Period close, monthly statements per rights holder, drill-down and CSV.

Closing period P (operators):

1. moves the close watermark to P: every period <= P is locked, and later
   postings dated in it roll into the first open period; then waits a short
   grace (`IP_CLOSE_GRACE_S`) for postings already in flight;
2. charges each license's minimum-guarantee shortfall for P
   (`shortfall:<license>:<P>`, posted into P itself);
3. issues one statement per holder with postings up to P
   (`<holder>:<P>`), each with one `statement.issued` per license section.

Every step is idempotent, so closing P again (after a crash, say) resumes.
A statement's arithmetic, in what the holder is owed:
closing = opening + accrued - reversed + shortfall + advance - payouts,
and closing equals minus the holder account's sum over all postings <= P.
"""

import asyncio
import csv
import io
from dataclasses import dataclass
from datetime import datetime

from contracts.ip import StatementIssued
from ip.book_pages import lines_of_period
from ip.domain import (
    RuleViolation,
    StatementSection,
    next_period,
    period_bounds,
    period_of,
    posting_period,
    previous_period,
    validate_period,
)
from ip.errors import BadInput, StateConflict, UnknownThing
from ip.ledger import Ledger, holder_account
from ip.rights import may_see_museum
from ip.store import LicenseRecord, Posting, StatementRecord, Store
from servicekit.auth import Principal
from servicekit.outbox import outbox_entry

__all__ = ["StatementLine", "Statements", "statement_csv"]


@dataclass
class StatementLine:
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
    amount_fen: int  # what this posting moved the holder's balance by


def _owed_delta(posting: Posting, account: str) -> int:
    return -sum(e.amount_fen for e in posting.entries if e.account == account)


class Statements:
    def __init__(
        self,
        store: Store,
        ledger: Ledger,
        *,
        close_grace_s: float = 2.0,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._close_grace_s = close_grace_s

    async def close_period(self, period: str, *, now: datetime) -> list[StatementRecord]:
        validate_period(period)
        if period > period_of(now):
            raise BadInput(f"period {period} has not started yet")
        for _ in range(10):
            last = await self._store.last_closed()
            if last is not None and last > period:
                raise StateConflict(f"period {period} is closed already (closed through {last})")
            if last == period or await self._store.advance_last_closed(last, period):
                break
        else:
            raise StateConflict("another close is moving the period watermark")
        # a posting that read the watermark just before it moved may still be
        # inserting into this period: give it time before adding up (narrows
        # the race documented in ip.ledger; it does not remove it)
        await asyncio.sleep(self._close_grace_s)
        await self._charge_shortfalls(period, now)
        return await self._issue(period, now)

    async def _charge_shortfalls(self, period: str, now: datetime) -> None:
        start, end = period_bounds(period)
        candidates = await self._store.guaranteed_licenses(start, end)
        for lic in candidates:
            if lic.granted_at is None:
                continue
            if lic.ended_at is not None and lic.ended_at <= start:
                continue
            earned = 0
            for p in await self._store.earnings_postings(lic.license_id, period):
                earned += p.amounts.royalty_fen if p.kind == "accrual" else -p.amounts.royalty_fen
            shortfall = lic.terms.minimum_guarantee_fen - max(earned, 0)
            if shortfall > 0:
                await self._ledger.post_shortfall(
                    lic, period=period, shortfall_fen=shortfall, at=min(end, now)
                )

    async def _issue(self, period: str, now: datetime) -> list[StatementRecord]:
        sums = await self._store.account_sums(up_to_period=period)
        accounts = sorted(a for a in sums if a.startswith("holder:"))
        issued = []
        for account in accounts:
            issued.append(await self._issue_one(account.split(":", 1)[1], period, now))
        return issued

    async def _issue_one(self, holder_id: str, period: str, now: datetime) -> StatementRecord:
        statement_id = f"{holder_id}:{period}"
        existing = await self._store.statement(statement_id)
        if existing is not None:
            return existing
        account = holder_account(holder_id)
        holder = await self._store.holder(holder_id)
        sections: dict[str | None, StatementSection] = {}

        def section(license_id: str | None) -> StatementSection:
            return sections.setdefault(license_id, StatementSection(license_id))

        opening = await self._store.sums_by_license(account, before_period=period)
        for license_id, total in opening.items():
            section(license_id).opening_balance_fen = -total
        # the month close (an operator's one-off) may read the journal whole
        for posting in await self._store.postings_of_account(account, period=period):
            section(posting.license_id).add(posting.kind, _owed_delta(posting, account))
        start, end = period_bounds(period)
        record = StatementRecord(
            statement_id=statement_id,
            holder_id=holder_id,
            holder_kind=holder.kind if holder else "museum",
            museum_id=holder.museum_id if holder else None,
            period=period,
            period_start=start,
            period_end=end,
            totals=StatementSection.total(sections.values()),
            sections=tuple(sorted(sections.values(), key=lambda x: x.license_id or "")),
            issued_at=now,
        )
        events = []
        for part in record.sections:
            lic = await self._store.license(part.license_id) if part.license_id else None
            if lic is not None:
                events.append(_issued(record, part, lic))
        if not await self._store.insert_statement(record, events):
            return await self._store.statement(statement_id) or record
        return record

    async def get(self, principal: Principal, statement_id: str) -> StatementRecord:
        """A statement its reader may see: the holder's museum, or operators."""
        statement = await self._store.statement(statement_id)
        if statement is None or not may_see_museum(principal, statement.museum_id):
            raise UnknownThing("statement", statement_id)
        return statement

    async def of_holder(self, holder_id: str) -> list[StatementRecord]:
        """The holder's statements, read by `_id` (`<holder>:<period>`): one per
        closed period from the first one its books show."""
        book = await self._store.books.book(holder_account(holder_id))
        last = await self._store.last_closed()
        if not book.months or last is None:
            return []
        periods: list[str] = []
        # a posting's period is never before its UTC month (China time is ahead)
        period = min(book.months)
        while period <= last:
            periods.append(period)
            period = next_period(period)
        return await self._store.statements_of(holder_id, periods)

    async def current(
        self, holder_id: str, *, now: datetime, period: str | None = None
    ) -> StatementRecord:
        """An open period so far (by default the one a posting made now would
        land in), provisional: from the books, the same chunks a closed
        statement's lines come from. Opening = the balance less the lines of
        this and later periods; per license from the previous statement when
        that period is the last closed one, else brought forward as one sum."""
        last = await self._store.last_closed()
        period = period or posting_period(now, last)
        try:
            validate_period(period)
        except RuleViolation as exc:
            raise BadInput(str(exc)) from exc
        if last is not None and period <= last:
            raise StateConflict(f"period {period} is closed: read its statement")
        account = holder_account(holder_id)
        book = await self._store.books.book(account)
        later = sorted({p for t in book.months.values() for p in t.periods if p >= period})
        lines = {p: await lines_of_period(self._store.books, account, p) for p in later}
        sections: dict[str | None, StatementSection] = {}
        for line in lines.get(period, []):
            sections.setdefault(line.license_id, StatementSection(line.license_id)).add(
                line.kind, -line.amount_fen
            )
        opening = -(book.sum_fen - sum(x.amount_fen for ls in lines.values() for x in ls))
        previous = await self._store.statement(f"{holder_id}:{previous_period(period)}")
        if previous is not None and previous.period == last:
            for part in previous.sections:
                if part.closing_balance_fen:
                    section = sections.setdefault(
                        part.license_id, StatementSection(part.license_id)
                    )
                    section.opening_balance_fen = part.closing_balance_fen
        brought = opening - sum(x.opening_balance_fen for x in sections.values())
        if brought:
            sections.setdefault(None, StatementSection(None)).opening_balance_fen += brought
        holder = await self._store.holder(holder_id)
        start, end = period_bounds(period)
        return StatementRecord(
            statement_id=f"{holder_id}:{period}",
            holder_id=holder_id,
            holder_kind=holder.kind if holder else "museum",
            museum_id=holder.museum_id if holder else None,
            period=period,
            period_start=start,
            period_end=end,
            totals=StatementSection.total(sections.values()),
            sections=tuple(sorted(sections.values(), key=lambda x: x.license_id or "")),
            issued_at=now,
        )

    async def lines(self, holder_id: str, period: str) -> list[StatementLine]:
        """A statement's lines: the holder's day buckets of that period, then
        those postings by id (bounded by the period, not by history)."""
        account = holder_account(holder_id)
        found = await lines_of_period(self._store.books, account, period)
        postings = await self._store.postings_by_ids([x.posting_id for x in found])
        return [
            StatementLine(
                posting_id=p.posting_id,
                kind=p.kind,
                posted_at=p.posted_at,
                license_id=p.license_id,
                order_id=p.order_id,
                line_id=p.line_id,
                refund_id=p.refund_id,
                reference=p.reference,
                product_id=p.product_id,
                quantity=p.amounts.quantity,
                net_sales_fen=p.amounts.net_sales_fen,
                royalty_fen=p.amounts.royalty_fen,
                amount_fen=_owed_delta(p, account),
            )
            for p in postings
        ]


def _issued(
    record: StatementRecord, part: StatementSection, lic: LicenseRecord
) -> dict[str, object]:
    """The outbox entry of `statement.issued` for one license section."""
    issued = StatementIssued(
        license_id=lic.license_id,
        statement_id=record.statement_id,
        museum_id=lic.museum_id,
        licensee_id=lic.scope.licensee_id,
        period_start=record.period_start,
        period_end=record.period_end,
        opening_balance_fen=part.opening_balance_fen,
        accrued_fen=part.accrued_fen,
        reversed_fen=part.reversed_fen,
        closing_balance_fen=part.closing_balance_fen,
        holder_id=record.holder_id,
        holder_kind=record.holder_kind,
        shortfall_fen=part.shortfall_fen,
        advance_fen=part.advance_fen,
    )
    event_id = f"statement:{record.statement_id}:{lic.license_id}"
    return outbox_entry(issued, source="ip", event_id=event_id)


CSV_COLUMNS = [
    "posting_id",
    "kind",
    "posted_at",
    "license_id",
    "order_id",
    "line_id",
    "refund_id",
    "reference",
    "product_id",
    "quantity",
    "net_sales_fen",
    "royalty_fen",
    "amount_fen",
]


def statement_csv(statement: StatementRecord, lines: list[StatementLine]) -> str:
    """The statement's lines as CSV, with its totals as trailing rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in lines:
        row = [getattr(line, c) for c in CSV_COLUMNS]
        row[2] = line.posted_at.isoformat()
        writer.writerow(["" if v is None else v for v in row])
    writer.writerow([])
    for name in (
        "opening_balance_fen",
        "accrued_fen",
        "reversed_fen",
        "shortfall_fen",
        "advance_fen",
        "payouts_fen",
        "closing_balance_fen",
    ):
        writer.writerow([name, getattr(statement.totals, name)])
    return out.getvalue()
