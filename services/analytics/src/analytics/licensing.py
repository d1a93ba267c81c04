"""Projection rules of licenses, pure: a license's document (its terms, status,
money and statements) and its listing in its museum's document, which the
guarantees table reads by `_id`. The money rules (analytics.domain) add a
sale's or a royalty's money to the license through `license_change` too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analytics.changes import (
    LICENSE_INDEX,
    LICENSES,
    MUSEUMS,
    PLATFORM_DAYS,
    STATEMENTS,
    Changes,
    field_key,
    local_day,
)
from contracts.base import Event
from contracts.ip import (
    LicenseExpired,
    LicenseGranted,
    LicenseReinstated,
    LicenseRevoked,
    LicenseSuspended,
    StatementIssued,
)

__all__ = ["license_change", "license_granted", "license_status", "statement"]


def license_change(
    out: Changes,
    license_id: str,
    museum_id: str,
    *,
    licensee_id: str | None,
    inc: Mapping[str, int] | None = None,
    set: Mapping[str, Any] | None = None,  # noqa: A002
) -> None:
    """A change of one license's document, and the license listed in its
    museum's document (so the guarantees table reads licenses by `_id`)."""
    out.add(
        LICENSES,
        license_id,
        inc=inc,
        set=set,
        on_insert={"license_id": license_id, "museum_id": museum_id, "licensee_id": licensee_id},
    )
    out.add(MUSEUMS, museum_id, set={f"{LICENSE_INDEX}.{field_key(license_id)}": True})


def statement(event: StatementIssued, out: Changes) -> None:
    # one statement covers a holder's period and has a section per license
    out.add(
        STATEMENTS,
        f"{event.statement_id}|{event.license_id}",
        set=event.model_dump(mode="python"),
    )
    shortfall = event.shortfall_fen
    license_change(
        out,
        event.license_id,
        event.museum_id,
        licensee_id=event.licensee_id,
        inc={"statements": 1, "shortfall_charged_fen": shortfall}
        if shortfall
        else {"statements": 1},
        set={"last_statement_id": event.statement_id},
    )


def license_granted(event: LicenseGranted, out: Changes) -> None:
    license_change(
        out,
        event.license_id,
        event.museum_id,
        licensee_id=event.licensee_id,
        set={
            "license_id": event.license_id,
            "museum_id": event.museum_id,
            "licensee_id": event.licensee_id,
            "relic_ids": list(event.relic_ids),
            "rate_bps": event.rate_bps,
            "minimum_guarantee_fen": event.minimum_guarantee_fen,
            "advance_fen": event.advance_fen,
            "starts_at": event.starts_at,
            "ends_at": event.ends_at,
            "exclusivity": event.exclusivity,
            "status": "active",
        },
    )
    day = local_day(event.starts_at)
    out.add(PLATFORM_DAYS, day, inc={"licenses_granted": 1}, on_insert={"day": day})


_LICENSE_STATUS: dict[type[Event], str] = {
    LicenseSuspended: "suspended",
    LicenseReinstated: "active",
    LicenseRevoked: "revoked",
    LicenseExpired: "expired",
}


def license_status(
    event: LicenseSuspended | LicenseReinstated | LicenseRevoked | LicenseExpired, out: Changes
) -> None:
    license_change(
        out,
        event.license_id,
        event.museum_id,
        licensee_id=event.licensee_id,
        set={"status": _LICENSE_STATUS[type(event)]},
    )
