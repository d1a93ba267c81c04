"""The ip service's records and their document mapping (no I/O): what
`ip.store` reads and writes, and what the rest of the service works with."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ip.domain import ApprovalReference, LicenseScope, OwnershipEntry, RoyaltyTerms, Share
from ip.ledger_records import (
    Entry,
    InsertResult,
    Posting,
    StatementRecord,
    cumulative_of,
    posting_doc,
    posting_of,
    statement_doc,
    statement_of,
)
from ip.royalty import Tier

__all__ = [
    "AssetRecord",
    "Entry",
    "HolderRecord",
    "InsertResult",
    "LicenseRecord",
    "Posting",
    "RegistrationRecord",
    "StatementRecord",
    "approval_doc",
    "asset_doc",
    "cumulative_of",
    "holder_doc",
    "holder_of",
    "asset_of",
    "registration_of",
    "license_doc",
    "license_of",
    "ownership_doc",
    "posting_doc",
    "posting_of",
    "statement_doc",
    "statement_of",
    "terms_doc",
]

Doc = dict[str, Any]


# --- records -------------------------------------------------------------------


@dataclass(frozen=True)
class HolderRecord:
    holder_id: str
    kind: str
    name: str
    museum_id: str | None  # the museum it belongs to (a museum: itself)
    payout_details: dict[str, str] | None = None


@dataclass(frozen=True)
class AssetRecord:
    asset_id: str
    museum_id: str
    relic_id: str | None
    title: str
    ownership: tuple[OwnershipEntry, ...]
    opened_at: datetime
    kind: str = "relic"  # relic | design
    version: int = 1
    protection_grade: str | None = None  # a relic's, as catalog last said
    title_en: str | None = None  # a relic's English name, as catalog last said


@dataclass(frozen=True)
class RegistrationRecord:
    registration_id: str
    asset_id: str
    museum_id: str
    kind: str  # copyright | trademark | design_patent
    number: str
    jurisdiction: str
    title: str
    nice_class: int | None
    registered_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class LicenseRecord:
    license_id: str
    status: str
    version: int
    museum_id: str
    scope: LicenseScope
    relic_ids: tuple[str, ...]
    terms: RoyaltyTerms
    counter_terms: RoyaltyTerms | None
    applied_at: datetime
    granted_at: datetime | None = None
    ended_at: datetime | None = None  # revoked or expired
    history: tuple[dict[str, str], ...] = ()
    approval: ApprovalReference | None = None  # the heritage administration's


# --- mapping -------------------------------------------------------------------


def _share_doc(s: Share) -> Doc:
    return {"holder_id": s.holder_id, "holder_kind": s.holder_kind, "share_bps": s.share_bps}


def ownership_doc(entry: OwnershipEntry) -> Doc:
    return {"effective_at": entry.effective_at, "shares": [_share_doc(s) for s in entry.shares]}


def _ownership(doc: Doc) -> OwnershipEntry:
    return OwnershipEntry(
        doc["effective_at"],
        tuple(Share(s["holder_id"], s["holder_kind"], s["share_bps"]) for s in doc["shares"]),
    )


def terms_doc(t: RoyaltyTerms) -> Doc:
    return {
        "rate_bps": t.rate_bps,
        "minimum_per_unit_fen": t.minimum_per_unit_fen,
        "tier_basis": t.tier_basis,
        "tiers": [{"threshold": x.threshold, "rate_bps": x.rate_bps} for x in t.tiers],
        "advance_fen": t.advance_fen,
        "minimum_guarantee_fen": t.minimum_guarantee_fen,
    }


def _terms(d: Doc) -> RoyaltyTerms:
    return RoyaltyTerms(
        rate_bps=d["rate_bps"],
        minimum_per_unit_fen=d["minimum_per_unit_fen"],
        tier_basis=d["tier_basis"],
        tiers=tuple(Tier(x["threshold"], x["rate_bps"]) for x in d["tiers"]),
        advance_fen=d["advance_fen"],
        minimum_guarantee_fen=d["minimum_guarantee_fen"],
    )


def _holder_doc(h: HolderRecord) -> Doc:
    return {"kind": h.kind, "name": h.name, "museum_id": h.museum_id, "payout": h.payout_details}


def _holder(d: Doc) -> HolderRecord:
    return HolderRecord(d["_id"], d["kind"], d["name"], d.get("museum_id"), d.get("payout"))


def _asset(d: Doc) -> AssetRecord:
    return AssetRecord(
        d["_id"],
        d["museum_id"],
        d.get("relic_id"),
        d.get("title", ""),
        tuple(_ownership(e) for e in d["ownership"]),
        d["opened_at"],
        d.get("kind", "relic"),
        d.get("version", 1),
        d.get("protection_grade"),
        d.get("title_en"),
    )


def asset_doc(a: AssetRecord) -> Doc:
    return {
        "_id": a.asset_id,
        "kind": a.kind,
        "relic_id": a.relic_id,
        "museum_id": a.museum_id,
        "title": a.title,
        "ownership": [ownership_doc(e) for e in a.ownership],
        "opened_at": a.opened_at,
        "version": a.version,
        "protection_grade": a.protection_grade,
        "title_en": a.title_en,
    }


def _registration(d: Doc) -> RegistrationRecord:
    return RegistrationRecord(
        registration_id=d["_id"],
        asset_id=d["asset_id"],
        museum_id=d["museum_id"],
        kind=d["kind"],
        number=d["number"],
        jurisdiction=d["jurisdiction"],
        title=d.get("title", ""),
        nice_class=d.get("nice_class"),
        registered_at=d["registered_at"],
        expires_at=d["expires_at"],
    )


def license_doc(lic: LicenseRecord) -> Doc:
    s = lic.scope
    return {
        "_id": lic.license_id,
        "status": lic.status,
        "version": lic.version,
        "museum_id": lic.museum_id,
        "licensee_id": s.licensee_id,
        "asset_ids": sorted(s.asset_ids),
        "relic_ids": list(lic.relic_ids),
        "categories": sorted(s.categories),
        "territory": s.territory,
        "channels": sorted(s.channels),
        "starts_at": s.starts_at,
        "ends_at": s.ends_at,
        "exclusivity": s.exclusivity,
        "terms": terms_doc(lic.terms),
        "counter_terms": terms_doc(lic.counter_terms) if lic.counter_terms else None,
        "applied_at": lic.applied_at,
        "granted_at": lic.granted_at,
        "ended_at": lic.ended_at,
        "history": list(lic.history),
        "approval": approval_doc(lic.approval),
    }


def approval_doc(a: ApprovalReference | None) -> Doc | None:
    # a date is stored as its ISO text (BSON has datetimes only)
    return {"number": a.number, "approved_on": a.approved_on.isoformat()} if a else None


def _approval(d: Doc | None) -> ApprovalReference | None:
    return ApprovalReference(d["number"], date.fromisoformat(d["approved_on"])) if d else None


def _license(d: Doc) -> LicenseRecord:
    return LicenseRecord(
        license_id=d["_id"],
        status=d["status"],
        version=d["version"],
        museum_id=d["museum_id"],
        scope=LicenseScope(
            licensee_id=d["licensee_id"],
            asset_ids=frozenset(d["asset_ids"]),
            categories=frozenset(d["categories"]),
            territory=d["territory"],
            channels=frozenset(d["channels"]),
            starts_at=d["starts_at"],
            ends_at=d["ends_at"],
            exclusivity=d["exclusivity"],
            license_id=d["_id"],
        ),
        relic_ids=tuple(d["relic_ids"]),
        terms=_terms(d["terms"]),
        counter_terms=_terms(d["counter_terms"]) if d.get("counter_terms") else None,
        applied_at=d["applied_at"],
        granted_at=d.get("granted_at"),
        ended_at=d.get("ended_at"),
        history=tuple(d.get("history", [])),
        approval=_approval(d.get("approval")),
    )


# public names for ip.store
holder_doc = _holder_doc
holder_of = _holder
asset_of = _asset
registration_of = _registration
license_of = _license
