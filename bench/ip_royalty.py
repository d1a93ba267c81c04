"""Throughput of the ip service's pure money rules (no I/O).

    .venv/bin/python bench/ip_royalty.py

Operations per second for a 2-holder split, a 12-holder split and a tiered
line royalty crossing a tier, next to the baseline of the same loop doing one
integer multiply-divide (the floor any money rule pays). Never asserted in tests.
"""

import time
from collections.abc import Callable

from ip.royalty import Cumulative, Tier, allocate, compute_line_royalty


def _rate(fn: Callable[[], object], n: int = 100_000) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - started)


def main() -> list[str]:
    baseline = _rate(lambda: 123_457 * 7000 // 10_000)
    lines = [
        "| operation | ops/s | vs baseline |",
        "|---|---:|---:|",
        f"| baseline: one integer multiply-divide | {baseline:,.0f} | 1.00 |",
    ]

    def row(label: str, fn: Callable[[], object]) -> None:
        rate = _rate(fn)
        lines.append(f"| {label} | {rate:,.0f} | {rate / baseline:.3f} |")

    seed = {"museum": 7000, "donor": 3000}
    many = {f"h{i}": 10_000 // 12 + (1 if i < 10_000 % 12 else 0) for i in range(12)}
    tiers = (Tier(100, 1200), Tier(1000, 1500))
    row("allocate 70/30", lambda: allocate(123_457, seed))
    row("allocate 12 holders", lambda: allocate(987_654_321, many))
    row(
        "tiered line royalty (crossing)",
        lambda: compute_line_royalty(
            base_rate_bps=1000,
            tiers=tiers,
            tier_basis="units",
            minimum_per_unit_fen=50,
            before=Cumulative(units=95),
            quantity=10,
            net_sales_fen=12_990,
        ),
    )
    return lines


if __name__ == "__main__":
    print("\n".join(main()))
