"""Projection rules of ip's authenticity events, pure (registered in
analytics.domain): verifications and counterfeit reports, counted per
museum per day (its museum-day document, which the dashboard already reads
by `_id`) and per platform day.

- `cert_verifications`: public checks of the museum's serials (valid or
  revoked; an unknown serial names no museum: platform only);
- `cert_revoked_seen`: checks that answered revoked;
- `cert_unknown_seen`: reports naming the museum whose serial is unknown
  (a counterfeit label: the museum it claims is the reporter's);
- `counterfeit_reports`: reports of the museum's items, whatever the serial.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from analytics.changes import MUSEUM_DAYS, PLATFORM_DAYS, Changes, local_day, museum_day_id
from contracts.ip import CertificateVerified, CounterfeitReported

__all__ = [
    "AUTHENTICITY_FIELDS",
    "authenticity_totals",
    "certificate_verified",
    "counterfeit_reported",
]

AUTHENTICITY_FIELDS = (
    "cert_verifications",
    "cert_revoked_seen",
    "cert_unknown_seen",
    "counterfeit_reports",
)


def _museum_day(out: Changes, museum_id: str, day: str, inc: Mapping[str, int]) -> None:
    out.add(
        MUSEUM_DAYS,
        museum_day_id(museum_id, day),
        inc=inc,
        on_insert={"museum_id": museum_id, "day": day},
    )


def certificate_verified(event: CertificateVerified, out: Changes) -> None:
    day = local_day(event.verified_at)
    out.add(
        PLATFORM_DAYS,
        day,
        inc={"cert_verifications": 1, f"cert_{event.status}": 1},
        on_insert={"day": day},
    )
    if event.museum_id is not None:
        inc = {"cert_verifications": 1}
        if event.status == "revoked":
            inc["cert_revoked_seen"] = 1
        _museum_day(out, event.museum_id, day, inc)


def counterfeit_reported(event: CounterfeitReported, out: Changes) -> None:
    day = local_day(event.reported_at)
    out.add(PLATFORM_DAYS, day, inc={"counterfeit_reports": 1}, on_insert={"day": day})
    if event.museum_id is not None:
        inc = {"counterfeit_reports": 1}
        if event.serial_status == "unknown":
            inc["cert_unknown_seen"] = 1
        _museum_day(out, event.museum_id, day, inc)


def authenticity_totals(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """The four counters over a range's museum-day documents."""
    return {name: sum(int(r.get(name, 0) or 0) for r in rows) for name in AUTHENTICITY_FIELDS}
