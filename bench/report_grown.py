"""The grown-stores section of docs/benchmarks.md (bench/grown.py): the same
figures on fresh stores and on stores holding a year of past orders, side by
side, with issue 22's targets."""

from __future__ import annotations

from typing import Any

__all__ = ["lines", "targets"]

CONFIRM_RATIO = 1.5  # placed -> confirmed p99, grown ÷ fresh
STORE_REST_PCT = 5.0  # of one core
READ_P99_MS = 100.0
READS = (
    "museum dashboard",
    "a tourist's orders",
    "a holder's ledger page",
    "a holder's ledger, pages across the year",
)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


def _sizes(g: dict[str, Any]) -> list[str]:
    return [k for k in g if k.isdigit()]


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    g = r.get("grown")
    if not g:
        return []
    sizes = _sizes(g)
    fresh, largest = g[sizes[0]], g[sizes[-1]]
    n = f"{int(sizes[-1]):,} orders"
    rows: list[tuple[str, str, bool | None]] = []
    p99_fresh = fresh["checkout"]["placed_to_confirmed_ms"]["p99"]
    p99_grown = largest["checkout"]["placed_to_confirmed_ms"]["p99"]
    ratio = p99_grown / p99_fresh if p99_fresh and p99_grown else None
    rows.append(
        (
            f"placed → confirmed p99 at 10/s, {n} ÷ fresh ≤ {CONFIRM_RATIO:g}",
            f"{_fmt(p99_grown)} ÷ {_fmt(p99_fresh)} ms = {ratio:.2f}" if ratio else "—",
            None if ratio is None else ratio <= CONFIRM_RATIO,
        )
    )
    store = largest["at_rest_cpu_pct"]["ferretdb"]
    rows.append(
        (
            f"store CPU at rest with {n} ≤ {STORE_REST_PCT:g} % of a core",
            f"{_fmt(store)} %",
            store <= STORE_REST_PCT,
        )
    )
    for name in (n for n in READS if n in largest["reads"]):
        p99 = largest["reads"][name]["p99"]
        rows.append(
            (
                f"{name} p99 with {n} < {READ_P99_MS:g} ms",
                f"{_fmt(p99)} ms",
                None if p99 is None else p99 < READ_P99_MS,
            )
        )
    scans = {s: v for size in sizes for s, v in g[size]["scans_during_checkout"].items() if v}
    rows.append(
        (
            "store scans during the checkout runs (`store_scans_total`)",
            ", ".join(f"{s} {v:g}" for s, v in scans.items()) or "0",
            not scans,
        )
    )
    return rows


def lines(r: dict[str, Any]) -> list[str]:
    g = r.get("grown")
    if not g:
        return []
    sizes = _sizes(g)
    head = "| figure | " + " | ".join(f"{int(s):,} past orders" for s in sizes) + " |"
    rule = "|---|" + "---:|" * len(sizes)
    out = [
        "",
        "### 6. History must not slow the platform (fresh and grown stores)",
        "",
        "Past orders loaded in bulk by `bench/history.py` through each service's own "
        "domain and store code: "
        + ", ".join(f"{x['orders']:,} in {x['seconds']:.0f} s" for x in g.get("loads", []))
        + ".",
        "",
        head,
        rule,
    ]

    def row(label: str, value: Any) -> None:
        out.append(f"| {label} | " + " | ".join(_fmt(value(g[s])) for s in sizes) + " |")

    row("checkout offered /s", lambda x: x["checkout"]["offered_per_s"])
    row("confirmed /s", lambda x: x["checkout"]["confirmed_per_s"])
    row("placed → confirmed p50 ms", lambda x: x["checkout"]["placed_to_confirmed_ms"]["p50"])
    row("placed → confirmed p99 ms", lambda x: x["checkout"]["placed_to_confirmed_ms"]["p99"])
    row("paid → dashboard p99 ms", lambda x: x["checkout"]["paid_to_dashboard_ms"]["p99"])
    row("checkout errors", lambda x: sum(x["checkout"]["errors"].values()))
    row("store scans during checkout", lambda x: sum(x["scans_during_checkout"].values()))
    for key, label in (("store_commands_per_order", "commands"), ("store_ms_per_order", "ms")):
        for service in ("catalog", "orders", "ip", "analytics"):
            row(
                f"store {label} per order, {service}",
                lambda x, k=key, s=service: x.get(k, {}).get(s, {}).get("total"),
            )
    for process in ("ferretdb", "catalog", "orders", "ip", "analytics"):
        row(f"CPU at rest, {process} (% of a core)", lambda x, p=process: x["at_rest_cpu_pct"][p])
    for name in (*READS, "product search"):
        row(f"{name} p50 ms", lambda x, n=name: x["reads"].get(n, {}).get("p50"))
        row(f"{name} p99 ms", lambda x, n=name: x["reads"].get(n, {}).get("p99"))
        row(f"{name} errors", lambda x, n=name: x["reads"].get(n, {}).get("errors"))
    last = sizes[-1]
    lists = [("store_commands_per_order", last, "Busiest store commands per order")]
    lists += [("store_ms_per_order", n, "Store ms per order, busiest") for n in (sizes[0], last)]
    for key, size, what in lists:
        if busiest := g[size].get(key):
            out += ["", f"{what} during checkout, {int(size):,} past orders:"]
            out += [f"- {service}: {_kinds(row['busiest'])}" for service, row in busiest.items()]
    return out


def _kinds(busiest: dict[str, float]) -> str:
    return ", ".join(f"`{kind}` {n:g}" for kind, n in busiest.items())
