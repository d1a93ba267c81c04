"""HTTP routes of the ip service: thin, schemas in and out, rules elsewhere."""

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from ip.deps import Svc
from ip.domain import LicenseScope, Share
from ip.errors import BadInput, UnknownThing
from ip.ledger import holder_account, licensee_account
from ip.rights import NewHolder, NewRegistration, may_see_museum
from ip.schemas import (
    AssetRead,
    BalanceRead,
    DesignAssetCreate,
    HolderCreate,
    HolderRead,
    LedgerRead,
    LicenseAction,
    LicenseApply,
    LicenseRead,
    OwnershipChange,
    PayoutCreate,
    PayoutDetailsUpdate,
    PayoutRead,
    PeriodsRead,
    PostingRead,
    RegistrationCreate,
    RegistrationRead,
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


# --- holders and assets --------------------------------------------------------


@router.post("/holders", status_code=201, response_model=HolderRead)
async def create_holder(body: HolderCreate, principal: CurrentPrincipal, svc: Svc) -> HolderRead:
    holder = await svc.rights.create_holder(
        principal,
        NewHolder(body.kind, body.name, body.holder_id, body.museum_id, body.payout_details),
    )
    return HolderRead.of(holder)


@router.get("/holders", response_model=list[HolderRead])
async def list_holders(principal: CurrentPrincipal, svc: Svc) -> list[HolderRead]:
    return [HolderRead.of(h) for h in await svc.rights.holders(principal)]


@router.get("/holders/{holder_id}", response_model=HolderRead)
async def get_holder(holder_id: str, principal: CurrentPrincipal, svc: Svc) -> HolderRead:
    return HolderRead.of(await svc.rights.holder(principal, holder_id))


@router.put("/holders/{holder_id}/payout-details", response_model=HolderRead)
async def set_payout_details(
    holder_id: str, body: PayoutDetailsUpdate, principal: CurrentPrincipal, svc: Svc
) -> HolderRead:
    return HolderRead.of(
        await svc.rights.set_payout_details(principal, holder_id, body.payout_details)
    )


@router.get("/assets", response_model=list[AssetRead])
async def list_assets(principal: CurrentPrincipal, svc: Svc) -> list[AssetRead]:
    return [AssetRead.of(a) for a in await svc.rights.assets(principal)]


@router.post("/assets", status_code=201, response_model=AssetRead)
async def create_design_asset(
    body: DesignAssetCreate, principal: CurrentPrincipal, svc: Svc
) -> AssetRead:
    asset = await svc.rights.create_design_asset(
        principal, title=body.title, museum_id=body.museum_id, now=svc.clock()
    )
    return AssetRead.of(asset)


@router.get("/assets/{asset_id}", response_model=AssetRead)
async def get_asset(asset_id: str, principal: CurrentPrincipal, svc: Svc) -> AssetRead:
    return AssetRead.of(await svc.rights.asset(principal, asset_id))


@router.put("/assets/{asset_id}/ownership", response_model=AssetRead)
async def change_ownership(
    asset_id: str, body: OwnershipChange, principal: CurrentPrincipal, svc: Svc
) -> AssetRead:
    shares = [Share(s.holder_id, s.holder_kind, s.share_bps) for s in body.shares]
    asset = await svc.rights.change_ownership(
        principal, asset_id, shares=shares, effective_at=body.effective_at
    )
    return AssetRead.of(asset)


@router.post("/assets/{asset_id}/registrations", status_code=201, response_model=RegistrationRead)
async def register_right(
    asset_id: str, body: RegistrationCreate, principal: CurrentPrincipal, svc: Svc
) -> RegistrationRead:
    doc = await svc.rights.register(
        principal,
        asset_id,
        NewRegistration(
            kind=body.kind,
            number=body.number,
            jurisdiction=body.jurisdiction,
            registered_at=body.registered_at,
            expires_at=body.expires_at,
            title=body.title,
            nice_class=body.nice_class,
        ),
    )
    return RegistrationRead.of(doc)


@router.get("/registrations/expiring", response_model=list[RegistrationRead])
async def expiring_registrations(
    principal: CurrentPrincipal, svc: Svc, within_days: int = Query(30, ge=0, le=3650)
) -> list[RegistrationRead]:
    docs = await svc.rights.expiring(principal, within_days=within_days, now=svc.clock())
    return [RegistrationRead.of(d) for d in docs]


# --- licenses ------------------------------------------------------------------


@router.post("/licenses", status_code=201, response_model=LicenseRead)
async def apply_for_license(
    body: LicenseApply, principal: CurrentPrincipal, svc: Svc
) -> LicenseRead:
    scope = LicenseScope(
        licensee_id=principal.licensee_id or "",
        asset_ids=frozenset(body.asset_ids),
        categories=frozenset(body.categories),
        territory=body.territory,
        channels=frozenset(body.channels),
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        exclusivity=body.exclusivity,
    )
    lic = await svc.licensing.apply(
        principal, scope=scope, terms=body.terms.to_domain(), now=svc.clock()
    )
    return LicenseRead.of(lic)


@router.get("/licenses", response_model=list[LicenseRead])
async def list_licenses(
    principal: CurrentPrincipal, svc: Svc, status: str | None = None
) -> list[LicenseRead]:
    return [LicenseRead.of(x) for x in await svc.licensing.list_for(principal, status)]


@router.get("/licenses/{license_id}", response_model=LicenseRead)
async def get_license(license_id: str, principal: CurrentPrincipal, svc: Svc) -> LicenseRead:
    return LicenseRead.of(await svc.licensing.get(principal, license_id))


@router.post("/licenses/{license_id}/{action}", response_model=LicenseRead)
async def act_on_license(
    license_id: str,
    action: Literal["approve", "reject", "counter", "accept", "suspend", "reinstate", "revoke"],
    principal: CurrentPrincipal,
    svc: Svc,
    body: LicenseAction | None = None,
) -> LicenseRead:
    body = body or LicenseAction()
    lic = await svc.licensing.act(
        principal,
        license_id,
        action,
        now=svc.clock(),
        reason=body.reason,
        counter_terms=body.terms.to_domain() if body.terms else None,
    )
    return LicenseRead.of(lic)


# --- ledger --------------------------------------------------------------------


@router.get("/holders/{holder_id}/ledger", response_model=LedgerRead)
async def holder_ledger(
    holder_id: str,
    principal: CurrentPrincipal,
    svc: Svc,
    period: str | None = None,
    limit: int = Query(500, ge=1, le=5000),
    cursor: str | None = None,
) -> LedgerRead:
    """The holder's postings in posting order, a page at a time: pass the
    `next_cursor` of one page as `cursor` to get the next."""
    holder = await svc.rights.holder(principal, holder_id)
    account = holder_account(holder.holder_id)
    postings, next_cursor = await svc.ledger.page(
        account, limit=limit, cursor=cursor or None, period=period or None
    )
    balance = await svc.ledger.holder_balance(holder.holder_id)
    return LedgerRead(
        balance=BalanceRead(account=account, party_id=holder.holder_id, balance_fen=balance),
        postings=[PostingRead.of(p) for p in postings],
        next_cursor=next_cursor,
    )


@router.get("/holders/{holder_id}/balance", response_model=BalanceRead)
async def holder_balance(holder_id: str, principal: CurrentPrincipal, svc: Svc) -> BalanceRead:
    holder = await svc.rights.holder(principal, holder_id)
    balance = await svc.ledger.holder_balance(holder.holder_id)
    return BalanceRead(
        account=holder_account(holder.holder_id), party_id=holder.holder_id, balance_fen=balance
    )


@router.get("/licensees/{licensee_id}/payables", response_model=LedgerRead)
async def licensee_payables(
    licensee_id: str,
    principal: CurrentPrincipal,
    svc: Svc,
    limit: int = Query(500, ge=1, le=5000),
    cursor: str | None = None,
) -> LedgerRead:
    if not principal.can_act_for_licensee(licensee_id):
        raise UnknownThing("licensee", licensee_id)
    account = licensee_account(licensee_id)
    owes = await svc.store.account_balance(account)
    postings, next_cursor = await svc.ledger.page(account, limit=limit, cursor=cursor or None)
    return LedgerRead(
        balance=BalanceRead(account=account, party_id=licensee_id, balance_fen=owes),
        postings=[PostingRead.of(p) for p in postings],
        next_cursor=next_cursor,
    )


@router.get("/ledger/trial-balance", response_model=TrialBalance)
async def trial_balance(principal: CurrentPrincipal, svc: Svc) -> TrialBalance:
    require_role(principal, Role.OPERATOR)
    # one balance document per account (they do not grow with orders)
    books = await svc.store.books.all_books()
    accounts = dict(sorted((b.account, b.sum_fen) for b in books))
    return TrialBalance(accounts=accounts, total_fen=sum(accounts.values()))


@router.get("/ledger/postings/{posting_id}", response_model=PostingRead)
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
