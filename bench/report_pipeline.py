"""Issue 23's targets (the batched pipeline, on stores grown by a year of
history): each read next to its baseline from the same run."""

from __future__ import annotations

from typing import Any

__all__ = ["targets"]

CEILING_SHARE = 0.25  # of the store's bulk-write ceiling, documents/s
COMMANDS_PER_EVENT = {"catalog": 2.0, "orders": 2.0, "analytics": 0.5}
RATE, CONFIRMED_SHARE = 100, 0.95
CONFIRM_P99_MS, DASHBOARD_P99_MS, MID_P99_MS = 150.0, 500.0, 1000.0
SCALING = 1.3

Row = tuple[str, str, bool | None]


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


def _consumers(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    ceiling = r.get("store_bulk", {}).get("per_s")
    consumers = list(r.get("consumers", {}).get("rows", []))
    for row in consumers:
        per_s = row["consumer"]["per_s"]
        share = per_s / ceiling if per_s and ceiling else None
        rows.append(
            (
                f"{row['service']} consumer ≥ {CEILING_SHARE:.0%} of the store's bulk-write "
                "ceiling",
                f"{_fmt(per_s)} events/s ÷ {_fmt(ceiling)} docs/s = "
                + (f"{share:.1%}" if share is not None else "—"),
                None if share is None else share >= CEILING_SHARE,
            )
        )
    for row in consumers:
        limit = COMMANDS_PER_EVENT.get(row["service"])
        per_event = (row.get("store") or {}).get("round_trips_per_event")
        if limit is not None:
            rows.append(
                (
                    f"{row['service']} store commands per event ≤ {limit:g}",
                    _fmt(per_event),
                    None if per_event is None else per_event <= limit,
                )
            )
    return rows


def _checkout(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    c = r.get("checkout")
    if c:
        at_rate = c["offered_per_s"] >= RATE
        note = "" if at_rate else f" (at {c['offered_per_s']:g}/s, not {RATE}/s)"
        confirmed = c["confirmed_per_s"]
        rows.append(
            (
                f"confirmed/s at {RATE} offered ≥ {CONFIRMED_SHARE * RATE:g}",
                f"{_fmt(confirmed)}{note}",
                confirmed >= CONFIRMED_SHARE * RATE if at_rate else None,
            )
        )
        for label, key, limit in [
            ("placed → confirmed p99", "placed_to_confirmed_ms", CONFIRM_P99_MS),
            ("paid → dashboard p99", "paid_to_dashboard_ms", DASHBOARD_P99_MS),
        ]:
            p99 = c[key]["p99"]
            rows.append(
                (
                    f"{label} < {limit:g} ms at {RATE}/s",
                    f"{_fmt(p99)} ms{note}",
                    None if p99 is None or not at_rate else p99 < limit,
                )
            )
    mid = r.get("checkout_mid")
    if mid:
        everything = mid["arrivals"] == mid["confirmed"] == mid["paid"]
        p99 = mid["placed_to_confirmed_ms"]["p99"]
        rows.append(
            (
                f"at {mid['offered_per_s']:g}/s: every order confirmed and paid, "
                f"p99 < {MID_P99_MS:g} ms",
                f"{mid['confirmed']}/{mid['arrivals']} confirmed, {mid['paid']} paid, "
                f"p99 {_fmt(p99)} ms",
                everything and p99 is not None and p99 < MID_P99_MS,
            )
        )
    return rows


def targets(r: dict[str, Any]) -> list[Row]:
    rows = _checkout(r) + _consumers(r)
    if "scaling" in r:
        speedup = r["scaling"].get("speedup_2_over_1")
        rows.append(
            (
                f"2 analytics instances ÷ 1 ≥ {SCALING:g}×",
                f"{_fmt(speedup)}×",
                None if speedup is None else speedup >= SCALING,
            )
        )
    return rows
