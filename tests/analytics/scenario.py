"""A scripted trading day for one museum, as contract events, and the figures
it must produce, computed here independently of the analytics code."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]

from analytics.kafka import partitions_of
from contracts import TOPICS, Event
from contracts.catalog import (
    DonorRef,
    MuseumRegistered,
    ProductPublished,
    ProductSnapshot,
    RelicRegistered,
)
from contracts.ip import (
    AssetOpened,
    LicenseGranted,
    OwnershipShare,
    PayoutRecorded,
    RoyaltyAccrued,
    RoyaltyReversed,
    RoyaltySplit,
)
from contracts.orders import OrderLine, OrderPaid, OrderPlaced, OrderRefunded, RefundLine
from servicekit.bus import KafkaPublisher
from servicekit.envelope import Envelope, encode
from tests.support import unique

CST = timezone(timedelta(hours=8))  # Asia/Shanghai has no DST
DAY = date(2026, 11, 20)  # the scripted day (Shanghai)
NEXT = DAY + timedelta(days=1)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A Shanghai wall-clock time, as an aware UTC instant."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CST).astimezone(UTC)


def envelope(event: Event, *, time: datetime | None = None) -> Envelope:
    return Envelope(
        id=str(uuid.uuid4()),
        type=event.TYPE,
        source="test-analytics",
        subject=event.aggregate_id,
        time=time or datetime.now(UTC),
        data=json.loads(event.model_dump_json()),
    )


async def publish(bootstrap: str, envelopes: list[Envelope]) -> None:
    """Publish in order, each on its contract's topic."""
    publisher = KafkaPublisher(bootstrap, "test-analytics")
    try:
        by_topic: dict[str, list[Envelope]] = defaultdict(list)
        from contracts import contract_for

        for env in envelopes:
            contract = contract_for(env.type)
            assert contract is not None
            by_topic[contract.TOPIC].append(env)
        for topic, batch in by_topic.items():
            await publisher.publish(topic, [encode(e) for e in batch])
    finally:
        await publisher.stop()


@dataclass(frozen=True)
class Product:
    product_id: str
    sku: str
    title_en: str
    price_fen: int
    relic_ids: tuple[str, ...]
    license_id: str
    licensee_id: str
    rate_bps: int


@dataclass
class Sale:
    order_id: str
    paid_at: datetime
    items: list[tuple[Product, int]]  # product, quantity


@dataclass
class Refund:
    order_id: str
    refunded_at: datetime
    items: list[tuple[Product, int]]


@dataclass
class Scenario:
    """One museum's scripted day: 3 paid orders (one just after midnight,
    Shanghai time), a partial refund, royalties accrued and reversed, a payout."""

    museum_id: str = field(default_factory=lambda: unique("museum"))
    sales: list[Sale] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    payouts: list[tuple[datetime, int]] = field(default_factory=list)
    guarantees: dict[str, int] = field(default_factory=dict)
    relics: dict[str, str] = field(default_factory=dict)
    products: list[Product] = field(default_factory=list)
    # co-ownership: relic -> donor id and the donor's bps (the museum holds the
    # rest); payouts to donors: (paid at, donor, amount)
    donors: dict[str, tuple[str, int]] = field(default_factory=dict)
    donor_payouts: list[tuple[datetime, str, int]] = field(default_factory=list)

    @classmethod
    def scripted_day(cls) -> Scenario:
        s = cls()
        r1, r2 = unique("relic"), unique("relic")
        s.relics = {r1: "Bronze Mask", r2: "Jade Cong"}
        la, lb = unique("licensee"), unique("licensee")
        l1, l2 = unique("license"), unique("license")
        s.guarantees = {l1: 5_000, l2: 0}
        p1 = Product(unique("product"), "MASK-01", "Mask scarf", 12_800, (r1,), l1, la, 1_000)
        p2 = Product(unique("product"), "CONG-02", "Cong lamp", 5_600, (r1, r2), l2, lb, 500)
        s.products = [p1, p2]
        s.sales = [
            Sale(unique("order"), at(DAY, 10, 5), [(p1, 2), (p2, 1)]),
            Sale(unique("order"), at(DAY, 23, 30), [(p2, 3)]),
            Sale(unique("order"), at(NEXT, 0, 30), [(p1, 1)]),  # next Shanghai day
        ]
        s.refunds = [Refund(s.sales[0].order_id, at(NEXT, 9, 0), [(p1, 1)])]
        s.payouts = [(at(NEXT, 12, 0), 3_000)]
        return s

    @classmethod
    def co_owned_day(cls) -> Scenario:
        """The scripted day with the Bronze Mask donated, co-owned 70/30 by the
        museum and its donor (a Cong lamp line is licensed from both relics:
        each relic weighs equally, so 85/15), and a payout to the donor too."""
        s = cls.scripted_day()
        mask = next(iter(s.relics))
        donor = unique("donor")
        s.donors = {mask: (donor, 3_000)}
        s.donor_payouts = [(at(NEXT, 12, 30), donor, 400)]
        return s

    # --- royalty splits, as ip makes them (independently of analytics) ---------

    def asset_opened(self, relic_id: str) -> AssetOpened:
        """ip's asset of a relic: the museum's, or co-owned with its donor."""
        donor = self.donors.get(relic_id)
        shares = [
            OwnershipShare(
                holder_id=self.museum_id,
                holder_kind="museum",
                share_bps=10_000 - (donor[1] if donor else 0),
            )
        ]
        if donor:
            shares.append(
                OwnershipShare(holder_id=donor[0], holder_kind="donor", share_bps=donor[1])
            )
        return AssetOpened(
            asset_id=f"relic-{relic_id}", relic_id=relic_id, museum_id=self.museum_id, shares=shares
        )

    def weights(self, product: Product) -> dict[str, int]:
        """Each relic of the product weighs equally, its holders by their bps."""
        out: dict[str, int] = defaultdict(int)
        for relic_id in product.relic_ids:
            donor = self.donors.get(relic_id)
            share = donor[1] if donor else 0
            out[self.museum_id] += 10_000 - share
            if donor:
                out[donor[0]] += share
        return dict(out)

    def split(self, product: Product, royalty_fen: int) -> dict[str, int]:
        """Largest remainder, ties to the smaller holder id (ip's `allocate`)."""
        weights = self.weights(product)
        whole = sum(weights.values())
        parts = {h: royalty_fen * w // whole for h, w in weights.items()}
        left = royalty_fen - sum(parts.values())
        ranked = sorted(weights, key=lambda h: (-(royalty_fen * weights[h] % whole), h))
        for holder in ranked[:left]:
            parts[holder] += 1
        return parts

    def splits(self, product: Product, royalty_fen: int) -> list[RoyaltySplit]:
        return [
            RoyaltySplit(
                holder_id=holder,
                holder_kind="museum" if holder == self.museum_id else "donor",
                amount_fen=amount,
            )
            for holder, amount in sorted(self.split(product, royalty_fen).items())
        ]

    def expected_holders(self) -> dict[str, dict[str, int]]:
        """Per holder (the museum and each donor): accrued, reversed, paid and
        outstanding over the script, and per relic (net) for the donors."""
        out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for sale in self.sales:
            for p, q in sale.items:
                royalty = p.price_fen * q * p.rate_bps // 10_000
                for holder, amount in self.split(p, royalty).items():
                    out[holder]["accrued_fen"] += amount
        for refund in self.refunds:
            for p, q in refund.items:
                royalty = p.price_fen * q * p.rate_bps // 10_000
                for holder, amount in self.split(p, royalty).items():
                    out[holder]["reversed_fen"] += amount
        for _, amount in self.payouts:
            out[self.museum_id]["paid_fen"] += amount
        for _, holder, amount in self.donor_payouts:
            out[holder]["paid_fen"] += amount
        for figures in out.values():
            figures["net_fen"] = figures["accrued_fen"] - figures["reversed_fen"]
            figures["outstanding_fen"] = figures["net_fen"] - figures["paid_fen"]
        return {k: dict(v) for k, v in out.items()}

    # --- the events ------------------------------------------------------------

    def line(self, order_id: str, i: int, product: Product, quantity: int) -> OrderLine:
        return OrderLine(
            line_id=f"{order_id}-{i}",
            product_id=product.product_id,
            sku=product.sku,
            quantity=quantity,
            unit_price_fen=product.price_fen,
            line_total_fen=product.price_fen * quantity,
            license_id=product.license_id,
            licensee_id=product.licensee_id,
            relic_ids=list(product.relic_ids),
            museum_id=self.museum_id,
        )

    def setup_events(self) -> list[Envelope]:
        out = [
            envelope(
                MuseumRegistered(
                    museum_id=self.museum_id,
                    name_zh="三星堆测试馆",
                    name_en="Sanxingdui Test Museum",
                    city="Guanghan",
                    province="Sichuan",
                    kind="museum",
                    state_owned=True,
                )
            )
        ]
        for relic_id, name in self.relics.items():
            out.append(
                envelope(
                    RelicRegistered(
                        relic_id=relic_id,
                        museum_id=self.museum_id,
                        name_zh=f"{name}（藏品）",
                        name_en=name,
                        category="bronze",
                        protection_grade="first",
                        donor=DonorRef(donor_id=self.donors[relic_id][0], name=f"Donor of {name}")
                        if relic_id in self.donors
                        else None,
                    )
                )
            )
            out.append(envelope(self.asset_opened(relic_id)))
        for product in self.products:
            out.append(
                envelope(
                    LicenseGranted(
                        license_id=product.license_id,
                        licensee_id=product.licensee_id,
                        museum_id=self.museum_id,
                        asset_ids=[],
                        relic_ids=list(product.relic_ids),
                        categories=["apparel"],
                        territory="CN",
                        channels=["online"],
                        exclusivity="non_exclusive",
                        starts_at=at(DAY - timedelta(days=30), 0),
                        ends_at=at(DAY + timedelta(days=335), 0),
                        rate_bps=product.rate_bps,
                        minimum_guarantee_fen=self.guarantees[product.license_id],
                    )
                )
            )
            out.append(
                envelope(
                    ProductPublished(
                        product_id=product.product_id,
                        product=ProductSnapshot(
                            product_id=product.product_id,
                            sku=product.sku,
                            title_zh=f"{product.title_en}（中文）",
                            title_en=product.title_en,
                            category="apparel",
                            price_fen=product.price_fen,
                            relic_ids=list(product.relic_ids),
                            museum_ids=[self.museum_id],
                            license_id=product.license_id,
                            licensee_id=product.licensee_id,
                            status="active",
                            sellable=True,
                            version=1,
                        ),
                    )
                )
            )
        return out

    def sale_events(self, sale: Sale) -> list[Envelope]:
        lines = [self.line(sale.order_id, i, p, q) for i, (p, q) in enumerate(sale.items)]
        total = sum(line.line_total_fen for line in lines)
        out = [
            envelope(
                OrderPlaced(
                    order_id=sale.order_id,
                    customer_id="tourist-1",
                    lines=lines,
                    total_fen=total,
                    placed_at=sale.paid_at - timedelta(minutes=2),
                )
            ),
            envelope(
                OrderPaid(
                    order_id=sale.order_id,
                    payment_id=unique("payment"),
                    customer_id="tourist-1",
                    lines=lines,
                    total_fen=total,
                    paid_at=sale.paid_at,
                )
            ),
        ]
        for line, (product, _) in zip(lines, sale.items, strict=True):
            out.append(
                envelope(
                    RoyaltyAccrued(
                        license_id=product.license_id,
                        posting_id=unique("posting"),
                        licensee_id=product.licensee_id,
                        museum_id=self.museum_id,
                        order_id=sale.order_id,
                        line_id=line.line_id,
                        product_id=product.product_id,
                        relic_ids=list(product.relic_ids),
                        quantity=line.quantity,
                        net_sales_fen=line.line_total_fen,
                        royalty_fen=line.line_total_fen * product.rate_bps // 10_000,
                        splits=self.splits(
                            product, line.line_total_fen * product.rate_bps // 10_000
                        ),
                        accrued_at=sale.paid_at,
                    )
                )
            )
        return out

    def refund_events(self, refund: Refund) -> list[Envelope]:
        lines = [
            RefundLine(
                line_id=f"{refund.order_id}-r{i}",
                product_id=p.product_id,
                sku=p.sku,
                quantity=q,
                amount_fen=p.price_fen * q,
                license_id=p.license_id,
                licensee_id=p.licensee_id,
                relic_ids=list(p.relic_ids),
                museum_id=self.museum_id,
            )
            for i, (p, q) in enumerate(refund.items)
        ]
        refund_id = unique("refund")
        out = [
            envelope(
                OrderRefunded(
                    order_id=refund.order_id,
                    refund_id=refund_id,
                    lines=lines,
                    amount_fen=sum(line.amount_fen for line in lines),
                    restock=True,
                    refunded_at=refund.refunded_at,
                )
            )
        ]
        for line, (product, _) in zip(lines, refund.items, strict=True):
            out.append(
                envelope(
                    RoyaltyReversed(
                        license_id=product.license_id,
                        posting_id=unique("posting"),
                        licensee_id=product.licensee_id,
                        museum_id=self.museum_id,
                        order_id=refund.order_id,
                        refund_id=refund_id,
                        line_id=line.line_id,
                        product_id=product.product_id,
                        relic_ids=list(product.relic_ids),
                        quantity=line.quantity,
                        net_sales_fen=line.amount_fen,
                        royalty_fen=line.amount_fen * product.rate_bps // 10_000,
                        splits=self.splits(product, line.amount_fen * product.rate_bps // 10_000),
                        reversed_at=refund.refunded_at,
                    )
                )
            )
        return out

    def payout_events(self) -> list[Envelope]:
        return [
            envelope(
                PayoutRecorded(
                    payout_id=unique("payout"),
                    reference="bank-ref",
                    holder_id=self.museum_id,
                    museum_id=self.museum_id,
                    amount_fen=amount,
                    paid_at=paid_at,
                )
            )
            for paid_at, amount in self.payouts
        ] + [
            envelope(
                PayoutRecorded(
                    payout_id=unique("payout"),
                    reference="bank-ref",
                    holder_id=holder,
                    museum_id=self.museum_id,  # a donor registered under the museum
                    amount_fen=amount,
                    paid_at=paid_at,
                )
            )
            for paid_at, holder, amount in self.donor_payouts
        ]

    def all_events(self) -> list[Envelope]:
        out = self.setup_events()
        for sale in self.sales:
            out += self.sale_events(sale)
        for refund in self.refunds:
            out += self.refund_events(refund)
        return out + self.payout_events()

    # --- the expected figures, from the script alone ---------------------------

    def expected_days(self) -> dict[str, dict[str, int]]:
        days: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

        def day_of(t: datetime) -> str:
            return t.astimezone(CST).date().isoformat()

        for sale in self.sales:
            d = days[day_of(sale.paid_at)]
            d["orders"] += 1
            for product, q in sale.items:
                d["gross_fen"] += product.price_fen * q
                d["units"] += q
                d["royalty_accrued_fen"] += product.price_fen * q * product.rate_bps // 10_000
        for refund in self.refunds:
            d = days[day_of(refund.refunded_at)]
            d["refunds"] += 1
            for product, q in refund.items:
                d["refunds_fen"] += product.price_fen * q
                d["refunded_units"] += q
                d["royalty_reversed_fen"] += product.price_fen * q * product.rate_bps // 10_000
        for paid_at, amount in self.payouts:
            days[day_of(paid_at)]["royalty_paid_fen"] += amount
        for paid_at, _, amount in self.donor_payouts:  # paid to the museum's holders
            days[day_of(paid_at)]["royalty_paid_fen"] += amount
        return {k: dict(v) for k, v in days.items()}

    def expected_totals(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for figures in self.expected_days().values():
            for name, value in figures.items():
                out[name] += value
        out["net_fen"] = out["gross_fen"] - out["refunds_fen"]
        out["royalty_outstanding_fen"] = (
            out["royalty_accrued_fen"] - out["royalty_reversed_fen"] - out["royalty_paid_fen"]
        )
        return dict(out)

    def expected_by(self, key: str) -> dict[str, dict[str, int]]:
        """Net sales and net royalty per product / relic / licensee / license."""
        out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

        def keys(p: Product) -> list[str]:
            return {
                "product": [p.product_id],
                "relic": list(p.relic_ids),
                "licensee": [p.licensee_id],
                "license": [p.license_id],
            }[key]

        for sale in self.sales:
            for p, q in sale.items:
                for k in keys(p):
                    out[k]["net_fen"] += p.price_fen * q
                    out[k]["units"] += q
                    out[k]["royalty_net_fen"] += p.price_fen * q * p.rate_bps // 10_000
        for refund in self.refunds:
            for p, q in refund.items:
                for k in keys(p):
                    out[k]["net_fen"] -= p.price_fen * q
                    out[k]["royalty_net_fen"] -= p.price_fen * q * p.rate_bps // 10_000
        return {k: dict(v) for k, v in out.items()}


# --- Kafka bookkeeping for tests ---------------------------------------------------


async def end_offsets(bootstrap: str) -> dict[TopicPartition, int]:
    partitions = await partitions_of(bootstrap, list(TOPICS))
    assert len(partitions) >= len(TOPICS)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    # a partition whose records were all deleted (tests/support.truncate_topics)
    # holds nothing to consume: it counts as empty
    return {tp: end if end > starts[tp] else 0 for tp, end in ends.items()}


async def caught_up(bootstrap: str, group: str) -> bool:
    """The group committed everything the topics hold now."""
    ends = await end_offsets(bootstrap)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return all(committed.get(tp) and committed[tp].offset >= end for tp, end in ends.items() if end)


async def rewind(bootstrap: str, group: str) -> None:
    """Commit offset 0 everywhere for a stopped group: everything is delivered again."""
    ends = await end_offsets(bootstrap)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(ends))
        await consumer.commit(dict.fromkeys(ends, 0))
    finally:
        await consumer.stop()
