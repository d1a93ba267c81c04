"""A museum's year of orders as a `Scenario` (32 products over 8 relics and 4
licensees), and the figures any range of it must show, computed here from the
script alone (independently of the analytics code).

Deterministic for a seed; orders are spread over the 365 Shanghai days that
end on `last`, each paid with its royalties, one in fifty partly refunded a
few days later, and a payout now and then.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, datetime, timedelta

from servicekit.envelope import Envelope
from tests.analytics.scenario import CST, Product, Refund, Sale, Scenario, at

__all__ = ["Truth", "year_of_orders", "year_events"]


def year_of_orders(
    *, orders: int, last: date, seed: int = 7, products: int = 32, relics: int = 8
) -> Scenario:
    rng = random.Random(seed)
    s = Scenario()
    relic_ids = [f"relic-{rng.getrandbits(64):016x}" for _ in range(relics)]
    s.relics = {r: f"Relic {n}" for n, r in enumerate(relic_ids)}
    licensees = [f"licensee-{rng.getrandbits(64):016x}" for _ in range(4)]
    licenses = [f"license-{rng.getrandbits(64):016x}" for _ in range(8)]
    s.guarantees = {lic: (n % 3) * 500_000 for n, lic in enumerate(licenses)}
    s.products = [
        Product(
            product_id=f"{rng.getrandbits(128):032x}",  # as long as a catalog id
            sku=f"YEAR-{n:03d}",
            title_en=f"Product {n}",
            price_fen=rng.choice((1_900, 5_600, 12_800, 39_900, 128_000)),
            relic_ids=tuple(dict.fromkeys((relic_ids[n % relics], relic_ids[(n * 3) % relics]))),
            license_id=licenses[n % len(licenses)],
            licensee_id=licensees[n % len(licensees)],
            rate_bps=(500, 800, 1_000, 1_200)[n % 4],
        )
        for n in range(products)
    ]
    first = last - timedelta(days=364)
    stamps = sorted(rng.randrange(365 * 86_400) for _ in range(orders))
    for n, second in enumerate(stamps):
        day = first + timedelta(days=second // 86_400)
        paid_at = at(day, (second % 86_400) // 3600, (second % 3600) // 60)
        picked = rng.sample(s.products, rng.randint(1, 3))
        items = [(p, rng.choice((1, 1, 1, 2, 3))) for p in picked]
        sale = Sale(f"year-{seed}-{n:07d}", paid_at, items)
        s.sales.append(sale)
        refunded_at = paid_at + timedelta(days=rng.randint(1, 14))
        if n % 50 == 49 and refunded_at.astimezone(CST).date() <= last:
            s.refunds.append(Refund(sale.order_id, refunded_at, [(items[0][0], 1)]))
    s.payouts = [(at(first + timedelta(days=d), 15), 10_000 + d) for d in range(5, 365, 30)]
    return s


def year_events(s: Scenario) -> list[Envelope]:
    """Every event of the script in time order (the history loader's input)."""
    timed = [(datetime.min.replace(tzinfo=CST), e) for e in s.setup_events()]
    for sale in s.sales:
        timed += [(sale.paid_at, e) for e in s.sale_events(sale)]
    for refund in s.refunds:
        timed += [(refund.refunded_at, e) for e in s.refund_events(refund)]
    for (paid_at, _), e in zip(s.payouts, s.payout_events(), strict=True):
        timed.append((paid_at, e))
    timed.sort(key=lambda te: te[0])
    return [e for _, e in timed]


class Truth:
    """What a dashboard of [start, end] must show, from the script."""

    def __init__(self, s: Scenario) -> None:
        self.s = s
        self._days = s.expected_days()

    @staticmethod
    def _day(t: datetime) -> date:
        return t.astimezone(CST).date()

    def days(self, start: date, end: date) -> dict[str, dict[str, int]]:
        return {d: f for d, f in self._days.items() if start <= date.fromisoformat(d) <= end}

    def by(self, key: str, start: date, end: date) -> dict[str, dict[str, int]]:
        """Gross, refunds, units and royalties per product / relic / licensee."""
        out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

        def keys(p: Product) -> list[str]:
            return {
                "product": [p.product_id],
                "relic": list(p.relic_ids),
                "licensee": [p.licensee_id],
            }[key]

        for sale in self.s.sales:
            if start <= self._day(sale.paid_at) <= end:
                for p, q in sale.items:
                    for k in keys(p):
                        out[k]["gross_fen"] += p.price_fen * q
                        out[k]["units"] += q
                        out[k]["royalty_accrued_fen"] += p.price_fen * q * p.rate_bps // 10_000
        for refund in self.s.refunds:
            if start <= self._day(refund.refunded_at) <= end:
                for p, q in refund.items:
                    for k in keys(p):
                        out[k]["refunds_fen"] += p.price_fen * q
                        out[k]["refunded_units"] += q
                        out[k]["royalty_reversed_fen"] += p.price_fen * q * p.rate_bps // 10_000
        return {k: dict(v) for k, v in out.items()}
