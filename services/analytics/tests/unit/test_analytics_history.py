"""The history fold and the seen log's bucket walk, without a store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from analytics.changes import MUSEUM_BLOCKS, MUSEUM_DAYS, PLATFORM_TOTALS
from analytics.domain import changes_for, merge
from analytics.history import fold
from analytics.seen import bucket_chunks, bucket_of
from contracts.orders import OrderLine, OrderPaid
from servicekit.envelope import Envelope

AT = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def paid(order_id: str, quantity: int) -> OrderPaid:
    line = OrderLine(
        line_id=f"{order_id}-1",
        product_id="p1",
        sku="S",
        quantity=quantity,
        unit_price_fen=100,
        line_total_fen=100 * quantity,
        license_id="lic1",
        licensee_id="lee1",
        relic_ids=["r1"],
        museum_id="m1",
    )
    return OrderPaid(
        order_id=order_id,
        payment_id=f"pay-{order_id}",
        customer_id="c1",
        lines=[line],
        total_fen=100 * quantity,
        paid_at=AT,
    )


def envelope(event_id: str, event: OrderPaid) -> Envelope:
    return Envelope(
        id=event_id,
        type=event.TYPE,
        source="orders",
        subject=event.order_id,
        time=AT,
        data=json.loads(event.model_dump_json()),
    )


def test_history_folds_like_the_projector_and_counts_an_id_once() -> None:
    events = [paid("o1", 2), paid("o2", 3)]
    envelopes = [envelope("e1", events[0]), envelope("e2", events[1])]
    copy = envelope("e1", events[0])  # the same event twice
    probe = Envelope("e9", "rebirth.probe.v1", "x", "x", AT, {})
    folded = {(c.collection, c.doc_id): c for c in fold([*envelopes, copy, probe])}
    live = {
        (c.collection, c.doc_id): c for c in merge(c for e in events for c in changes_for(e, AT))
    }
    assert folded == live
    assert folded[(MUSEUM_DAYS, "m1|2026-11-20")].inc["units"] == 5
    assert folded[(MUSEUM_BLOCKS, "m1|2026-11-11|32")].inc["products.p1.units"] == 5
    assert folded[(PLATFORM_TOTALS, "all")].inc == {"gross_fen": 500, "orders": 2, "units": 5}


def test_pruning_walks_computed_seconds_in_bounded_chunks() -> None:
    first = bucket_of(AT)
    chunks = list(bucket_chunks(first, AT + timedelta(seconds=2_500)))
    assert [len(c) for c in chunks] == [1_000, 1_000, 500]
    assert chunks[0][0] == "2026-11-20T02:00:00"
    assert chunks[-1][-1] == bucket_of(AT + timedelta(seconds=2_499))
    assert list(bucket_chunks(first, AT)) == []
    assert list(bucket_chunks(first, AT - timedelta(hours=1))) == []
