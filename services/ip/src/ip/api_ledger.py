"""HTTP routes of the ip ledger: balances, ledger pages, payouts, periods and
statements (thin: schemas in and out, rules elsewhere)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import AwareDatetime

from ip.deps import Svc
from ip.errors import BadInput, UnknownThing
from ip.ledger import holder_account, licensee_account
from ip.ledger_reads import LedgerFilter
from ip.rights import may_see_museum
from ip.schemas import (
    BalanceRead,
    LedgerRead,
    PayoutCreate,
    PayoutRead,
    PeriodsRead,
    PostingRead,
    StatementLineRead,
    StatementRead,
    TrialBalance,
    UnmatchedRead,
)
from ip.statements import statement_csv
from servicekit.auth import CurrentPrincipal, Role, require_role

__all__ = ["router"]

router = APIRouter(tags=["ip"])
# YYYY-MM as domain.validate_period wants, in years a datetime (and the month after) can hold
PERIOD_PATTERN = r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$"


# --- ledger --------------------------------------------------------------------


LEDGER_IDS = """
Id rules: a museum's holder id is its museum id (catalog's); a donor's holder
id is the donor id catalog's relic events carry (`donor.donor_id`), other
holders' ids are given or `hld-<12 hex>`; a relic's asset id is
`relic-<relic id>`, a design asset's `design-<12 hex>`. Posting ids name what
was posted: `accrual:<order id>:<line id>`, `reversal:<refund id>:<line id>`,
`advance:<license id>`, `shortfall:<license id>:<YYYY-MM>`,
`payout:<reference>`. Accounts: `holder:<holder id>`, `licensee:<licensee id>`.
"""

LEDGER_FILTERS = """
Filters (all optional, combined with AND): `order_id` (and `line_id` within
it: read by id from the order's postings), `license_id`, `period` (YYYY-MM),
`from` / `to` (posted_at, `from` inclusive, `to` exclusive, ISO 8601 with a
zone). Pages come in posting order (posted_at, posting id); pass a page's
`next_cursor` as `cursor` for the next one (opaque; null on the last page).
With a `license_id` filter a page may hold fewer than `limit` postings and
still have a `next_cursor`: each request reads a bounded part of the ledger.
"""


class LedgerQuery:
    """The ledger and payables filters (query parameters)."""

    def __init__(
        self,
        limit: int = Query(500, ge=1, le=5000),
        cursor: str | None = None,
        period: str | None = Query(None, pattern=PERIOD_PATTERN),
        order_id: str | None = None,
        line_id: str | None = None,
        license_id: str | None = None,
        since: Annotated[AwareDatetime | None, Query(alias="from")] = None,
        until: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    ) -> None:
        self.filter = LedgerFilter(
            limit=limit,
            cursor=cursor or None,
            period=period or None,
            order_id=order_id or None,
            line_id=line_id or None,
            license_id=license_id or None,
            since=since,
            until=until,
        )


Filters = Annotated[LedgerQuery, Depends()]


@router.get(
    "/holders/{holder_id}/ledger",
    response_model=LedgerRead,
    description="A rights holder's postings and balance (what it is owed)."
    + LEDGER_FILTERS
    + LEDGER_IDS,
)
async def holder_ledger(
    holder_id: str, principal: CurrentPrincipal, svc: Svc, q: Filters
) -> LedgerRead:
    holder = await svc.rights.holder(principal, holder_id)
    account = holder_account(holder.holder_id)
    page = await svc.ledger.page(account, q.filter)
    # a holder is owed what its account was credited: the raw sum negated
    balance = -page.account_sum_fen
    return LedgerRead(
        balance=BalanceRead(account=account, party_id=holder.holder_id, balance_fen=balance),
        postings=[PostingRead.of(p) for p in page.postings],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/holders/{holder_id}/balance",
    response_model=BalanceRead,
    description="What the holder is owed now (fen)." + LEDGER_IDS,
)
async def holder_balance(holder_id: str, principal: CurrentPrincipal, svc: Svc) -> BalanceRead:
    holder = await svc.rights.holder(principal, holder_id)
    balance = await svc.ledger.holder_balance(holder.holder_id)
    return BalanceRead(
        account=holder_account(holder.holder_id), party_id=holder.holder_id, balance_fen=balance
    )


@router.get(
    "/licensees/{licensee_id}/payables",
    response_model=LedgerRead,
    description="A licensee's postings and what it owes." + LEDGER_FILTERS + LEDGER_IDS,
)
async def licensee_payables(
    licensee_id: str, principal: CurrentPrincipal, svc: Svc, q: Filters
) -> LedgerRead:
    if not principal.can_act_for_licensee(licensee_id):
        raise UnknownThing("licensee", licensee_id)
    account = licensee_account(licensee_id)
    page = await svc.ledger.page(account, q.filter)
    return LedgerRead(
        balance=BalanceRead(
            account=account, party_id=licensee_id, balance_fen=page.account_sum_fen
        ),
        postings=[PostingRead.of(p) for p in page.postings],
        next_cursor=page.next_cursor,
    )


@router.get("/ledger/trial-balance", response_model=TrialBalance)
async def trial_balance(principal: CurrentPrincipal, svc: Svc) -> TrialBalance:
    require_role(principal, Role.OPERATOR)
    # one balance document per account (they do not grow with orders)
    books = await svc.store.books.all_books()
    accounts = dict(sorted((b.account, b.sum_fen) for b in books))
    return TrialBalance(accounts=accounts, total_fen=sum(accounts.values()))


@router.get(
    "/ledger/postings/{posting_id}",
    response_model=PostingRead,
    description="One posting by id." + LEDGER_IDS,
)
async def get_posting(posting_id: str, principal: CurrentPrincipal, svc: Svc) -> PostingRead:
    posting = await svc.store.posting(posting_id)
    if posting is None or not (
        may_see_museum(principal, posting.museum_id)
        or (posting.licensee_id and principal.can_act_for_licensee(posting.licensee_id))
    ):
        raise UnknownThing("posting", posting_id)
    return PostingRead.of(posting)


@router.get("/ledger/unmatched", response_model=list[UnmatchedRead])
async def unmatched_lines(principal: CurrentPrincipal, svc: Svc) -> list[UnmatchedRead]:
    """Order lines that named a license ip could not post under (operators)."""
    require_role(principal, Role.OPERATOR)
    return [
        UnmatchedRead(posting_id=posting_id, reason=reason, event_id=event_id)
        for posting_id, reason, event_id in await svc.store.unmatched_lines()
    ]


# --- payouts -------------------------------------------------------------------


@router.post("/payouts", status_code=201, response_model=PayoutRead)
async def record_payout(
    body: PayoutCreate, principal: CurrentPrincipal, svc: Svc, response: Response
) -> PayoutRead:
    require_role(principal, Role.OPERATOR)
    if body.amount_fen <= 0:
        raise BadInput("a payout amount is positive")
    holder = await svc.rights.holder(principal, body.holder_id)
    posting, created = await svc.ledger.record_payout(
        holder=holder, reference=body.reference, amount_fen=body.amount_fen, at=svc.clock()
    )
    if not created:
        response.status_code = 200
    return PayoutRead(
        payout_id=posting.posting_id,
        reference=body.reference,
        holder_id=holder.holder_id,
        amount_fen=posting.amounts.payable_fen,
        period=posting.period,
        paid_at=posting.posted_at,
    )


# --- periods and statements ----------------------------------------------------


@router.get("/periods", response_model=PeriodsRead)
async def periods(principal: CurrentPrincipal, svc: Svc) -> PeriodsRead:
    require_role(principal, Role.OPERATOR, Role.MUSEUM)
    return PeriodsRead(last_closed=await svc.store.last_closed())


@router.post("/periods/{period}/close", response_model=list[StatementRead])
async def close_period(
    period: Annotated[str, Path(pattern=PERIOD_PATTERN, examples=["2026-03"])],
    principal: CurrentPrincipal,
    svc: Svc,
) -> list[StatementRead]:
    require_role(principal, Role.OPERATOR)
    issued = await svc.statements.close_period(period, now=svc.clock())
    return [StatementRead.of(x) for x in issued]


@router.get(
    "/holders/{holder_id}/statements/current",
    response_model=StatementRead,
    description="The open period so far, provisional (`provisional: true`): computed from the "
    "same ledger books as closed statements, it changes as postings arrive until the period is "
    "closed. `period` (YYYY-MM) picks an open period; by default the one a posting made now "
    "would land in. A closed period answers 409: read its statement." + LEDGER_IDS,
)
async def current_statement(
    holder_id: str,
    principal: CurrentPrincipal,
    svc: Svc,
    period: str | None = Query(None, pattern=PERIOD_PATTERN),
) -> StatementRead:
    holder = await svc.rights.holder(principal, holder_id)
    record = await svc.statements.current(holder.holder_id, now=svc.clock(), period=period)
    return StatementRead.of(record, provisional=True)


@router.get("/holders/{holder_id}/statements", response_model=list[StatementRead])
async def holder_statements(
    holder_id: str, principal: CurrentPrincipal, svc: Svc
) -> list[StatementRead]:
    holder = await svc.rights.holder(principal, holder_id)
    return [StatementRead.of(x) for x in await svc.statements.of_holder(holder.holder_id)]


@router.get("/statements/{statement_id}", response_model=StatementRead)
async def get_statement(statement_id: str, principal: CurrentPrincipal, svc: Svc) -> StatementRead:
    return StatementRead.of(await svc.statements.get(principal, statement_id))


@router.get("/statements/{statement_id}/lines", response_model=list[StatementLineRead])
async def statement_lines(
    statement_id: str, principal: CurrentPrincipal, svc: Svc
) -> list[StatementLineRead]:
    statement = await svc.statements.get(principal, statement_id)
    lines = await svc.statements.lines(statement.holder_id, statement.period)
    return [StatementLineRead.of(line) for line in lines]


@router.get(
    "/statements/{statement_id}/csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def statement_as_csv(statement_id: str, principal: CurrentPrincipal, svc: Svc) -> Response:
    statement = await svc.statements.get(principal, statement_id)
    lines = await svc.statements.lines(statement.holder_id, statement.period)
    filename = statement_id.replace(":", "_")
    return Response(
        statement_csv(statement, lines),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )
