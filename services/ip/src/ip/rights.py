"""Use cases of the rights registry: holders, IP assets with effective-dated
ownership, and copyright/trademark/design-patent registrations.

Museums become holders from catalog's museum events; a relic's asset opens on
`relic.registered` (museum 100 %, or museum/donor co-ownership for a donated
relic, see `domain.default_relic_shares`). Who may see what:
a museum sees its own (and the holders registered under it); operators all.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from contracts.catalog import MuseumRegistered, MuseumUpdated, RelicRegistered, RelicUpdated
from contracts.ip import AssetOpened, OwnershipChanged, OwnershipShare
from ip.domain import (
    OwnershipEntry,
    RuleViolation,
    Share,
    default_relic_shares,
    relic_shares_changed,
    validate_shares,
)
from ip.errors import BadInput, StateConflict, UnknownThing
from ip.store import AssetRecord, HolderRecord, RegistrationRecord, Store
from servicekit.auth import Principal, Role, require_role
from servicekit.consumer import EventMeta
from servicekit.errors import Forbidden
from servicekit.outbox import outbox_entry

__all__ = [
    "NewHolder",
    "NewRegistration",
    "Rights",
    "may_see_museum",
    "relic_asset_id",
]


# An asset's first ownership is in force for every sale before any change.
SINCE_ALWAYS = datetime(1970, 1, 1, tzinfo=UTC)
MAX_REVISIONS = 10


def relic_asset_id(relic_id: str) -> str:
    return f"relic-{relic_id}"


def may_see_museum(principal: Principal, museum_id: str | None) -> bool:
    return principal.is_operator or (
        principal.role is Role.MUSEUM and museum_id is not None and principal.museum_id == museum_id
    )


def _as_stored(at: datetime) -> datetime:
    """A time as the store keeps it (milliseconds), to compare with stored ones."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def _shares_out(shares: tuple[Share, ...] | list[Share]) -> list[OwnershipShare]:
    return [
        OwnershipShare(holder_id=s.holder_id, holder_kind=s.holder_kind, share_bps=s.share_bps)
        for s in shares
    ]


@dataclass(frozen=True)
class NewHolder:
    kind: str  # donor | artist | company
    name: str
    holder_id: str | None = None
    museum_id: str | None = None
    payout_details: dict[str, str] | None = None


@dataclass(frozen=True)
class NewRegistration:
    kind: str  # copyright | trademark | design_patent
    number: str
    jurisdiction: str
    registered_at: datetime
    expires_at: datetime
    title: str = ""
    nice_class: int | None = None  # trademarks


class Rights:
    def __init__(self, store: Store, *, donor_share_bps: int) -> None:
        self._store = store
        self._donor_share_bps = donor_share_bps

    # --- events from catalog --------------------------------------------------

    async def museum_registered(
        self, event: MuseumRegistered | MuseumUpdated, _: EventMeta
    ) -> None:
        await self._store.upsert_museum(
            event.museum_id,
            name=event.name_zh or event.name_en,
            name_en=event.name_en,
            city=event.city,
            province=event.province,
        )

    async def relic_registered(
        self, event: RelicRegistered | RelicUpdated, meta: EventMeta
    ) -> None:
        """Open the relic's asset, or (registered again, or updated) revise it:
        its grade, and an ownership change effective from the event's time
        when catalog names another donor. Postings already made are never
        touched, and a sale keeps the shares in force when it was paid.
        Idempotent: a redelivery finds the asset as the event wants it."""
        museum_id = event.museum_id
        await self._store.ensure_holder(HolderRecord(museum_id, "museum", museum_id, museum_id))
        donor_id = event.donor.donor_id if event.donor else None
        if event.donor is not None:
            # a donor's holder id is catalog's donor id: one holder per donor
            await self._store.ensure_holder(
                HolderRecord(event.donor.donor_id, "donor", event.donor.name, museum_id)
            )
        asset_id = relic_asset_id(event.relic_id)
        for _ in range(MAX_REVISIONS):
            existing = await self._store.asset(asset_id)
            if existing is None:
                if await self._open_relic(event, meta, donor_id):
                    return
            elif await self._revise_relic(existing, event, meta, donor_id):
                return
        raise StateConflict(f"asset {asset_id} kept changing; the event is retried")

    async def _open_relic(
        self, event: RelicRegistered | RelicUpdated, meta: EventMeta, donor_id: str | None
    ) -> bool:
        shares = default_relic_shares(event.museum_id, donor_id, self._donor_share_bps)
        asset = AssetRecord(
            asset_id=relic_asset_id(event.relic_id),
            museum_id=event.museum_id,
            relic_id=event.relic_id,
            title=event.name_zh or event.name_en,
            ownership=(OwnershipEntry(SINCE_ALWAYS, tuple(shares)),),
            opened_at=meta.time,
            protection_grade=event.protection_grade,
            title_en=event.name_en or None,
        )
        opened = AssetOpened(
            asset_id=asset.asset_id,
            relic_id=event.relic_id,
            museum_id=event.museum_id,
            shares=_shares_out(shares),
        )
        outbox = [outbox_entry(opened, source="ip", event_id=f"{meta.id}:asset")]
        return await self._store.insert_asset(asset, outbox)

    async def _revise_relic(
        self,
        asset: AssetRecord,
        event: RelicRegistered | RelicUpdated,
        meta: EventMeta,
        donor_id: str | None,
    ) -> bool:
        """True when the asset is as the event wants it (revised now or before).
        A redelivered event whose change is in the asset already (it opened the
        asset, or its ownership entry is there) changes nothing: a later event
        may have moved the asset on since, and replaying the old one would add
        a stale entry and set an old grade."""
        at = _as_stored(meta.time)
        if at <= asset.opened_at or any(e.effective_at == at for e in asset.ownership):
            return True
        shares = relic_shares_changed(
            asset.ownership, asset.museum_id, donor_id, self._donor_share_bps
        )
        titles = (event.name_zh or event.name_en, event.name_en or None)
        same_names = (asset.title, asset.title_en) == titles
        if shares is None and asset.protection_grade == event.protection_grade and same_names:
            return True
        entry = OwnershipEntry(meta.time, shares) if shares is not None else None
        outbox = []
        if shares is not None:
            changed = OwnershipChanged(
                asset_id=asset.asset_id, shares=_shares_out(shares), effective_at=meta.time
            )
            outbox.append(outbox_entry(changed, source="ip", event_id=f"{meta.id}:ownership"))
        return await self._store.revise_asset(
            asset, grade=event.protection_grade, titles=titles, entry=entry, outbox=outbox
        )

    # --- holders ----------------------------------------------------------------

    async def create_holder(self, principal: Principal, new: NewHolder) -> HolderRecord:
        require_role(principal, Role.MUSEUM, Role.OPERATOR)
        if new.kind not in ("donor", "artist", "company"):
            raise BadInput("holders created here are donors, artists or companies")
        museum_id = principal.museum_id if principal.role is Role.MUSEUM else new.museum_id
        holder = HolderRecord(
            holder_id=new.holder_id or f"hld-{uuid.uuid4().hex[:12]}",
            kind=new.kind,
            name=new.name,
            museum_id=museum_id,
            payout_details=new.payout_details,
        )
        if not await self._store.insert_holder(holder):
            raise StateConflict(f"holder {holder.holder_id} exists already")
        return holder

    async def holder(self, principal: Principal, holder_id: str) -> HolderRecord:
        holder = await self._store.holder(holder_id)
        if holder is None or not (
            may_see_museum(principal, holder.museum_id) or principal.is_operator
        ):
            raise UnknownThing("holder", holder_id)
        return holder

    async def set_payout_details(
        self, principal: Principal, holder_id: str, details: dict[str, str]
    ) -> HolderRecord:
        """Where a holder's money goes (bank, account name, account number...)."""
        holder = await self.holder(principal, holder_id)
        await self._store.set_payout_details(holder_id, details)
        return HolderRecord(holder.holder_id, holder.kind, holder.name, holder.museum_id, details)

    async def holders(self, principal: Principal) -> list[HolderRecord]:
        require_role(principal, Role.MUSEUM, Role.OPERATOR)
        return await self._store.holders_of(None if principal.is_operator else principal.museum_id)

    # --- assets -----------------------------------------------------------------

    async def asset(self, principal: Principal, asset_id: str) -> AssetRecord:
        # ownership splits are the rights holders' business: no tourist reads them
        require_role(principal, Role.MUSEUM, Role.LICENSEE, Role.OPERATOR)
        asset = await self._store.asset(asset_id)
        if asset is None or (
            principal.role is Role.MUSEUM and asset.museum_id != principal.museum_id
        ):
            raise UnknownThing("asset", asset_id)
        return asset

    async def assets(self, principal: Principal) -> list[AssetRecord]:
        """Museums see their own assets; licensees and operators the marketplace."""
        require_role(principal, Role.MUSEUM, Role.LICENSEE, Role.OPERATOR)
        museum = principal.museum_id if principal.role is Role.MUSEUM else None
        return await self._store.assets_of(museum)

    async def create_design_asset(
        self, principal: Principal, *, title: str, museum_id: str | None, now: datetime
    ) -> AssetRecord:
        require_role(principal, Role.MUSEUM, Role.OPERATOR)
        owner = principal.museum_id if principal.role is Role.MUSEUM else museum_id
        if not owner:
            raise BadInput("a design asset belongs to a museum: give museum_id")
        shares = (Share(owner, "museum", 10_000),)
        asset = AssetRecord(
            asset_id=f"design-{uuid.uuid4().hex[:12]}",
            museum_id=owner,
            relic_id=None,
            title=title,
            ownership=(OwnershipEntry(SINCE_ALWAYS, shares),),
            opened_at=now,
            kind="design",
        )
        opened = AssetOpened(
            asset_id=asset.asset_id, relic_id=None, museum_id=owner, shares=_shares_out(shares)
        )
        await self._store.insert_asset(asset, [outbox_entry(opened, source="ip")])
        return asset

    async def change_ownership(
        self,
        principal: Principal,
        asset_id: str,
        *,
        shares: list[Share],
        effective_at: datetime,
    ) -> AssetRecord:
        asset = await self.asset(principal, asset_id)
        if not may_see_museum(principal, asset.museum_id):
            raise Forbidden("only the owning museum or an operator changes ownership")
        try:
            validate_shares(shares)
        except RuleViolation as exc:
            raise BadInput(str(exc)) from exc
        for share in shares:
            holder = await self._store.holder(share.holder_id)
            if holder is None:
                raise BadInput(f"holder {share.holder_id} does not exist")
            if holder.kind != share.holder_kind:
                raise BadInput(f"holder {share.holder_id} is a {holder.kind}")
        entry = OwnershipEntry(effective_at, tuple(shares))
        changed = OwnershipChanged(
            asset_id=asset_id, shares=_shares_out(shares), effective_at=effective_at
        )
        changed_now = await self._store.add_ownership(
            asset, entry, [outbox_entry(changed, source="ip")]
        )
        if not changed_now:
            raise StateConflict(f"asset {asset_id} changed meanwhile; retry")
        return await self.asset(principal, asset_id)

    # --- registrations ------------------------------------------------------------

    async def register(
        self, principal: Principal, asset_id: str, new: NewRegistration
    ) -> RegistrationRecord:
        asset = await self.asset(principal, asset_id)
        if not may_see_museum(principal, asset.museum_id):
            raise Forbidden("only the owning museum or an operator registers rights")
        if new.kind not in ("copyright", "trademark", "design_patent"):
            raise BadInput("a registration is a copyright, trademark or design_patent")
        if new.expires_at <= new.registered_at:
            raise BadInput("a registration must expire after it was registered")
        if new.kind == "trademark" and not (new.nice_class and 1 <= new.nice_class <= 45):
            raise BadInput("a trademark needs its Nice class (1..45)")
        registration = RegistrationRecord(
            registration_id=f"reg-{uuid.uuid4().hex[:12]}",
            asset_id=asset_id,
            museum_id=asset.museum_id,
            kind=new.kind,
            number=new.number,
            jurisdiction=new.jurisdiction,
            title=new.title,
            nice_class=new.nice_class,
            registered_at=new.registered_at,
            expires_at=new.expires_at,
        )
        await self._store.insert_registration(registration)
        return registration

    async def expiring(
        self, principal: Principal, *, within_days: int, now: datetime
    ) -> list[RegistrationRecord]:
        require_role(principal, Role.MUSEUM, Role.OPERATOR)
        museum = principal.museum_id if principal.role is Role.MUSEUM else None
        return await self._store.registrations_expiring(
            now, now + timedelta(days=within_days), museum
        )
