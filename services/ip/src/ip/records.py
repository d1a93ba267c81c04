"""The ip service's records and their document mapping (no I/O): what
`ip.store` reads and writes, and what the rest of the service works with."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ip.domain import LicenseScope, OwnershipEntry, RoyaltyTerms, Share, StatementSection
from ip.royalty import Cumulative, PostedAmounts, Tier

__all__ = [
    "AssetRecord",
    "Entry",
    "HolderRecord",
    "InsertResult",
    "LicenseRecord",
    "Posting",
    "RegistrationRecord",
    "StatementRecord",
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
    }


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
    )


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


# public names for ip.store
holder_doc = _holder_doc
holder_of = _holder
asset_of = _asset
registration_of = _registration
license_of = _license
posting_of = _posting
statement_of = _statement
cumulative_of = _cumulative
