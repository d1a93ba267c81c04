"""CloudEvents binary mode round trip, and outbox entries built from contracts."""

from datetime import UTC, datetime
from typing import ClassVar

import pytest

from contracts import Event
from servicekit.envelope import Envelope, MalformedEvent, decode, encode
from servicekit.outbox import MARKS, OUTBOX, attach_events, envelope_of, outbox_entry, push_events
from servicekit.tracing import traceparent_var


class ThingHappened(Event):
    TYPE: ClassVar[str] = "rebirth.test.thing.happened.v1"
    TOPIC: ClassVar[str] = "unit.things"
    KEY_FIELD: ClassVar[str] = "thing_id"
    thing_id: str
    price_fen: int
    tags: list[list[str]]  # nested arrays: fine, the outbox stores JSON text
    labels: dict[str, str]


def test_binary_mode_puts_attributes_in_ce_headers_and_the_payload_in_the_value() -> None:
    envelope = Envelope(
        id="e-1",
        type="rebirth.test.thing.happened.v1",
        source="/unit",
        subject="t-1",
        time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        data={"price_fen": 1990},
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    message = encode(envelope)
    assert message.headers["ce_type"] == b"rebirth.test.thing.happened.v1"
    assert message.headers["ce_specversion"] == b"1.0"
    assert message.headers["ce_id"] == b"e-1"
    assert message.headers["content-type"] == b"application/json"
    assert message.key == b"t-1"
    assert decode(message.key, message.value, list(message.headers.items())) == envelope


@pytest.mark.parametrize(
    ("value", "headers"),
    [
        (
            b"{not json",
            [
                ("ce_type", b"x"),
                ("ce_id", b"1"),
                ("ce_source", b"s"),
                ("ce_specversion", b"1.0"),
                ("content-type", b"application/json"),
            ],
        ),
        (b"{}", [("content-type", b"application/json")]),  # no CloudEvents attributes
        (
            b"[1, 2]",
            [
                ("ce_type", b"x"),
                ("ce_id", b"1"),
                ("ce_source", b"s"),
                ("ce_specversion", b"1.0"),
                ("content-type", b"application/json"),
            ],
        ),
    ],
)
def test_records_that_are_not_our_cloudevents_are_malformed(
    value: bytes, headers: list[tuple[str, bytes]]
) -> None:
    with pytest.raises(MalformedEvent):
        decode(b"k", value, headers)


def test_outbox_entry_carries_the_contract_type_topic_key_and_current_trace() -> None:
    token = traceparent_var.set("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    try:
        event = ThingHappened(thing_id="t-9", price_fen=100, tags=[["a"]], labels={"a.b": "c"})
        entry = outbox_entry(event, source="/unit", event_id="fixed-id")
    finally:
        traceparent_var.reset(token)
    assert entry["id"] == "fixed-id"
    assert entry["topic"] == "unit.things"
    assert entry["subject"] == "t-9"
    assert entry["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c")
    envelope = envelope_of(entry)
    assert ThingHappened.model_validate(envelope.data) == event


def test_push_events_adds_the_events_and_counts_the_write_in_the_same_update() -> None:
    update = push_events({"$set": {"status": "PAID"}}, [{"id": "1"}, {"id": "2"}])
    assert update == {
        "$set": {"status": "PAID"},
        "$push": {OUTBOX: {"$each": [{"id": "1"}, {"id": "2"}]}},
        "$inc": {MARKS: 1},
    }
    assert push_events({"$set": {"a": 1}}, []) == {"$set": {"a": 1}}


def test_attach_events_gives_an_inserted_document_its_events_and_first_mark() -> None:
    assert attach_events({"_id": "a"}, [{"id": "1"}]) == {
        "_id": "a",
        OUTBOX: [{"id": "1"}],
        MARKS: 1,
    }
    assert attach_events({"_id": "a"}, []) == {"_id": "a"}
