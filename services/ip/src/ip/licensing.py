"""The license marketplace: apply, approve / reject / counter (the owning
museum), accept or reject a counter (the applicant), suspend, reinstate,
revoke (the museum), and scheduled expiry.

Grade-aware: a license on a first-grade relic (catalog's `grade_1`) becomes
active (approve, accept, reinstate) only once the owning museum has recorded
the state heritage administration's approval reference on it; until then
the action answers 409 with the reason (ip.domain.activation_blocker).

A license document is the application and, once granted, the license. Every
status change is one conditional single-document update (on `version`) that
also carries its event (the outbox). Exclusivity is checked when applying and
again when granting: an exclusive or sole license conflicting with a live
(active or suspended) one is refused with 409. Grants take a short lease on
each asset they cover (`locks`), so two grants racing on overlapping
applications cannot both pass the check; the loser gets 409 (retry).

A grant first notes the license in the scheduler's pending sets
(ip.schedule): its term's end, and its advance if any. Expiry and the
reconciling of advances read those, never the licenses collection.
"""

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from contracts.base import Event
from contracts.ip import (
    LicenseExpired,
    LicenseGranted,
    LicenseReinstated,
    LicenseRevoked,
    LicenseSuspended,
)
from ip.domain import (
    ApprovalReference,
    LicenseScope,
    RoyaltyTerms,
    RuleViolation,
    activation_blocker,
    check_transition,
    conflicts,
    needs_state_approval,
)
from ip.errors import ApprovalRequired, BadInput, ExclusiveConflict, StateConflict, UnknownThing
from ip.ledger import Ledger
from ip.rights import may_see_museum
from ip.schedule import Schedule
from ip.store import LicenseRecord, Store
from servicekit.auth import Principal, Role, require_role
from servicekit.errors import Forbidden
from servicekit.outbox import outbox_entry

__all__ = ["Licensing"]

log = logging.getLogger(__name__)
GRANT_LEASE = timedelta(seconds=30)
_MUSEUM_ACTIONS = {"approve", "reject", "counter", "suspend", "reinstate", "revoke"}


def _validated(scope: LicenseScope, terms: RoyaltyTerms) -> None:
    try:
        scope.validate()
        terms.validate()
    except RuleViolation as exc:
        raise BadInput(str(exc)) from exc


class Licensing:
    def __init__(self, store: Store, ledger: Ledger) -> None:
        self._store = store
        self._ledger = ledger
        self._schedule = Schedule(store.db)

    async def _check_exclusivity(self, scope: LicenseScope) -> None:
        live = await self._store.live_licenses_on(sorted(scope.asset_ids))
        found = conflicts(scope, [lic.scope for lic in live])
        if found:
            raise ExclusiveConflict(found)

    async def apply(
        self, principal: Principal, *, scope: LicenseScope, terms: RoyaltyTerms, now: datetime
    ) -> LicenseRecord:
        require_role(principal, Role.LICENSEE)
        licensee = principal.licensee_id or ""
        license_id = f"lic-{uuid.uuid4().hex[:12]}"
        scope = LicenseScope(
            licensee_id=licensee,
            asset_ids=scope.asset_ids,
            categories=scope.categories,
            territory=scope.territory,
            channels=scope.channels,
            starts_at=scope.starts_at,
            ends_at=scope.ends_at,
            exclusivity=scope.exclusivity,
            license_id=license_id,
        )
        _validated(scope, terms)
        assets = await self._store.assets_by_ids(sorted(scope.asset_ids))
        missing = scope.asset_ids - {a.asset_id for a in assets}
        if missing:
            raise BadInput(f"unknown assets: {sorted(missing)}")
        museums = {a.museum_id for a in assets}
        if len(museums) != 1:
            raise BadInput("one application covers the assets of one museum")
        await self._check_exclusivity(scope)
        lic = LicenseRecord(
            license_id=license_id,
            status="applied",
            version=1,
            museum_id=museums.pop(),
            scope=scope,
            relic_ids=tuple(sorted(a.relic_id for a in assets if a.relic_id)),
            terms=terms,
            counter_terms=None,
            applied_at=now,
            history=({"action": "apply", "by": principal.subject, "at": now.isoformat()},),
        )
        await self._store.insert_license(lic)
        return lic

    async def get(self, principal: Principal, license_id: str) -> LicenseRecord:
        lic = await self._store.license(license_id)
        if lic is None or not (
            may_see_museum(principal, lic.museum_id)
            or principal.can_act_for_licensee(lic.scope.licensee_id)
        ):
            raise UnknownThing("license", license_id)
        return lic

    async def list_for(self, principal: Principal, status: str | None) -> list[LicenseRecord]:
        if principal.role is Role.MUSEUM:
            return await self._store.licenses_for(museum_id=principal.museum_id, status=status)
        if principal.role is Role.LICENSEE:
            return await self._store.licenses_for(licensee_id=principal.licensee_id, status=status)
        require_role(principal, Role.OPERATOR)
        return await self._store.licenses_for(status=status)

    async def act(
        self,
        principal: Principal,
        license_id: str,
        action: str,
        *,
        now: datetime,
        reason: str = "",
        counter_terms: RoyaltyTerms | None = None,
    ) -> LicenseRecord:
        lic = await self.get(principal, license_id)
        applicant = (
            principal.role is Role.LICENSEE and principal.licensee_id == lic.scope.licensee_id
        )
        if action == "accept" and not applicant:
            raise Forbidden("only the applicant accepts a counter-offer")
        declines_counter = action == "reject" and lic.status == "countered" and applicant
        if (
            action in _MUSEUM_ACTIONS
            and not declines_counter
            and not may_see_museum(principal, lic.museum_id)
        ):
            raise Forbidden(f"only the owning museum may {action} this license")
        try:
            target = check_transition(action, lic.status)
        except RuleViolation as exc:
            raise StateConflict(str(exc)) from exc
        if target == "active":
            await self._check_approval(lic)
        terms = lic.terms
        changes: dict[str, Any] = {}
        if action == "counter":
            if counter_terms is None:
                raise BadInput("a counter-offer carries royalty terms")
            _validated(lic.scope, counter_terms)
            changes["counter_terms"] = counter_terms
        if action == "accept" and lic.counter_terms is not None:
            terms = lic.counter_terms
            changes["terms"] = terms
        events: list[Event] = []
        if target == "active" and action in ("approve", "accept"):
            changes["granted_at"] = now
            events.append(_granted(lic, terms))
        elif action == "suspend":
            events.append(LicenseSuspended(**_ids(lic), reason=reason or "suspended"))
        elif action == "reinstate":
            events.append(LicenseReinstated(**_ids(lic)))
        elif action == "revoke":
            changes["ended_at"] = now
            events.append(LicenseRevoked(**_ids(lic), reason=reason or "revoked"))
        history = {
            "action": action,
            "by": principal.subject,
            "at": now.isoformat(),
            "reason": reason,
        }
        if "granted_at" in changes:
            await self._grant(lic, target, history, events, now=now, **changes)
        else:
            await self._update(lic, target, history, events, **changes)
        updated = await self._store.license(license_id)
        assert updated is not None
        if updated.status == "active" and action in ("approve", "accept"):
            await self._ledger.post_advance(updated)
        return updated

    async def _check_approval(self, lic: LicenseRecord) -> None:
        """A license on a first-grade relic becomes active only with its
        approval reference (ip.domain.activation_blocker): 409 otherwise."""
        assets = await self._store.assets_by_ids(sorted(lic.scope.asset_ids))
        reason = activation_blocker((a.protection_grade for a in assets), lic.approval)
        if reason is not None:
            raise ApprovalRequired(lic.license_id, reason)

    async def record_approval(
        self, principal: Principal, license_id: str, approval: ApprovalReference, *, now: datetime
    ) -> LicenseRecord:
        """The owning museum records the heritage administration's approval
        (number and date) on a license that is not over yet."""
        lic = await self.get(principal, license_id)
        if not may_see_museum(principal, lic.museum_id):
            raise Forbidden("only the owning museum records an approval reference")
        if lic.status in ("rejected", "revoked", "expired"):
            raise StateConflict(f"license {license_id} is {lic.status}")
        try:
            approval.validate(now.date())
        except RuleViolation as exc:
            raise BadInput(str(exc)) from exc
        history = {
            "action": "record_approval",
            "by": principal.subject,
            "at": now.isoformat(),
            "reason": f"{approval.number} of {approval.approved_on.isoformat()}",
        }
        if not await self._store.set_approval(lic, approval, history):
            raise StateConflict(f"license {license_id} changed meanwhile; retry")
        updated = await self._store.license(license_id)
        assert updated is not None
        return updated

    async def needing_approval(self, licenses: Sequence[LicenseRecord]) -> set[str]:
        """Which of these licenses cover a first-grade relic (their assets by
        `$in`: the marketplace shows which applications wait for a reference)."""
        ids = sorted({a for lic in licenses for a in lic.scope.asset_ids})
        grades = {a.asset_id: a.protection_grade for a in await self._store.assets_by_ids(ids)}
        return {
            lic.license_id
            for lic in licenses
            if needs_state_approval(grades.get(a) for a in lic.scope.asset_ids)
        }

    async def _grant(
        self,
        lic: LicenseRecord,
        status: str,
        history: dict[str, str],
        events: Sequence[Event],
        *,
        now: datetime,
        **changes: Any,
    ) -> None:
        """Check exclusivity and grant under a lease on the license's assets, so
        two overlapping grants cannot both pass the check."""
        owner = uuid.uuid4().hex
        assets = sorted(lic.scope.asset_ids)
        if not await self._store.lock_assets(assets, owner=owner, now=now, until=now + GRANT_LEASE):
            raise StateConflict("another grant on these assets is in progress; retry")
        try:
            await self._check_exclusivity(lic.scope)
            # noted before the grant lands, so a crash cannot hide the license
            # from expiry or its advance from the reconciler
            await self._schedule.note_live(lic.license_id, lic.scope.ends_at)
            terms: RoyaltyTerms = changes.get("terms") or lic.terms
            if terms.advance_fen > 0:
                await self._schedule.note_advance(lic.license_id, now)
            await self._update(lic, status, history, events, **changes)
        finally:
            await self._store.unlock_assets(assets, owner=owner)

    async def _update(
        self,
        lic: LicenseRecord,
        status: str,
        history: dict[str, str],
        events: Sequence[Event],
        **changes: Any,
    ) -> None:
        outbox = [outbox_entry(e, source="ip") for e in events]
        moved = await self._store.update_license(
            lic, status=status, history=history, outbox=outbox, **changes
        )
        if not moved:
            raise StateConflict(f"license {lic.license_id} changed meanwhile; retry")

    async def expire_due(self, now: datetime) -> int:
        """Expire every live license whose term has ended; returns how many.
        Reads the pending set of live licenses, then each due one by `_id`."""
        expired = 0
        for license_id, ends_at in sorted((await self._schedule.live()).items()):
            if ends_at > now:
                continue
            lic = await self._store.license(license_id)
            if lic is None or lic.status not in ("active", "suspended"):
                await self._schedule.drop_live(license_id)
                continue
            if lic.scope.ends_at > now:
                continue
            history = {
                "action": "expire",
                "by": "scheduler",
                "at": now.isoformat(),
                "reason": "term ended",
            }
            try:
                await self._update(
                    lic, "expired", history, [LicenseExpired(**_ids(lic))], ended_at=now
                )
                expired += 1
            except StateConflict:
                log.info("license %s changed while expiring; next round", lic.license_id)
        return expired

    async def reconcile_advances(self, now: datetime) -> None:
        """Post the advance of any granted license whose grant did not get to
        it: the pending set of advances, each license by `_id`."""
        for license_id, noted_at in sorted((await self._schedule.advances()).items()):
            lic = await self._store.license(license_id)
            if lic is not None and lic.granted_at is None and noted_at > now - GRANT_LEASE:
                continue  # its grant may still be landing
            if lic is not None and lic.granted_at is not None:
                await self._ledger.post_advance(lic)
            await self._schedule.drop_advance(license_id)

    async def backfill_schedule(self) -> None:
        """Note every live license and every granted advance in the pending
        sets (idempotent). At startup only: it reads all licenses, so that
        licenses granted before the pending sets existed are not forgotten."""
        for lic in await self._store.licenses_where({"status": {"$in": ["active", "suspended"]}}):
            await self._schedule.note_live(lic.license_id, lic.scope.ends_at)
            if lic.terms.advance_fen > 0 and lic.granted_at is not None:
                if await self._store.posting(f"advance:{lic.license_id}") is None:
                    await self._schedule.note_advance(lic.license_id, lic.granted_at)


def _ids(lic: LicenseRecord) -> dict[str, str]:
    return {
        "license_id": lic.license_id,
        "licensee_id": lic.scope.licensee_id,
        "museum_id": lic.museum_id,
    }


def _granted(lic: LicenseRecord, terms: RoyaltyTerms) -> LicenseGranted:
    s = lic.scope
    return LicenseGranted(
        **_ids(lic),
        asset_ids=sorted(s.asset_ids),
        relic_ids=list(lic.relic_ids),
        categories=sorted(s.categories),
        territory=s.territory,
        channels=sorted(s.channels),
        exclusivity=s.exclusivity,
        starts_at=s.starts_at,
        ends_at=s.ends_at,
        rate_bps=terms.rate_bps,
        minimum_guarantee_fen=terms.minimum_guarantee_fen,
        advance_fen=terms.advance_fen,
        minimum_per_unit_fen=terms.minimum_per_unit_fen,
    )
