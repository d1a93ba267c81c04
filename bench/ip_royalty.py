"""Throughput of the ip service's pure money rules (no I/O).

    .venv/bin/python bench/ip_royalty.py

Prints operations per second for a 2-holder split, a 12-holder split and a
tiered line royalty crossing a tier. Numbers are for comparison between
changes on one machine, never asserted in tests.
"""

import time
from collections.abc import Callable

from ip.royalty import Cumulative, Tier, allocate, compute_line_royalty


def _rate(label: str, fn: Callable[[], object], n: int = 100_000) -> None:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    elapsed = time.perf_counter() - started
    print(f"{label:<40} {n / elapsed:>12,.0f} ops/s")


def main() -> None:
    seed = {"museum": 7000, "donor": 3000}
    many = {f"h{i}": 10_000 // 12 + (1 if i < 10_000 % 12 else 0) for i in range(12)}
    tiers = (Tier(100, 1200), Tier(1000, 1500))
    _rate("allocate 70/30", lambda: allocate(123_457, seed))
    _rate("allocate 12 holders", lambda: allocate(987_654_321, many))
    _rate(
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


if __name__ == "__main__":
    main()
