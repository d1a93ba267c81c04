"""HTTP routes of the ip service: thin, schemas in and out, rules elsewhere."""

from typing import Literal

from fastapi import APIRouter, Query

from ip.deps import Svc
from ip.domain import LicenseScope, Share
from ip.rights import NewHolder, NewRegistration
from ip.schemas import (
    ApprovalIO,
    AssetRead,
    DesignAssetCreate,
    HolderCreate,
    HolderRead,
    LicenseAction,
    LicenseApply,
    LicenseRead,
    OwnershipChange,
    PayoutDetailsUpdate,
    RegistrationCreate,
    RegistrationRead,
)
from servicekit.auth import CurrentPrincipal

__all__ = ["router"]

router = APIRouter(tags=["ip"])


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
    # the applicant learns at once when its application waits for a state approval
    required = await svc.licensing.needing_approval([lic])
    return LicenseRead.of(lic, approval_required=bool(required))


GRADE_RULE = (
    " A license on a first-grade (一级, `grade_1`) relic cannot become active (approve, accept, "
    "reinstate: 409 problem+json with the reason) until the owning museum records the state "
    "heritage administration's approval reference on it (PUT /licenses/{id}/approval-reference); "
    "`approval_required` and `awaiting_approval_reference` say which applications wait for one."
)


@router.get(
    "/licenses",
    response_model=list[LicenseRead],
    description="The license marketplace: a museum's, a licensee's, or (operators) all."
    + GRADE_RULE,
)
async def list_licenses(
    principal: CurrentPrincipal, svc: Svc, status: str | None = None
) -> list[LicenseRead]:
    found = await svc.licensing.list_for(principal, status)
    required = await svc.licensing.needing_approval(found)
    return [LicenseRead.of(x, approval_required=x.license_id in required) for x in found]


@router.get("/licenses/{license_id}", response_model=LicenseRead, description=GRADE_RULE)
async def get_license(license_id: str, principal: CurrentPrincipal, svc: Svc) -> LicenseRead:
    lic = await svc.licensing.get(principal, license_id)
    required = await svc.licensing.needing_approval([lic])
    return LicenseRead.of(lic, approval_required=bool(required))


@router.put(
    "/licenses/{license_id}/approval-reference",
    response_model=LicenseRead,
    description="The owning museum (or an operator) records the heritage administration's "
    "approval of the reproduction: its number and date (not in the future)." + GRADE_RULE,
)
async def record_approval(
    license_id: str, body: ApprovalIO, principal: CurrentPrincipal, svc: Svc
) -> LicenseRead:
    lic = await svc.licensing.record_approval(
        principal, license_id, body.to_domain(), now=svc.clock()
    )
    required = await svc.licensing.needing_approval([lic])
    return LicenseRead.of(lic, approval_required=bool(required))


@router.post("/licenses/{license_id}/{action}", response_model=LicenseRead, description=GRADE_RULE)
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
    required = await svc.licensing.needing_approval([lic])
    return LicenseRead.of(lic, approval_required=bool(required))
