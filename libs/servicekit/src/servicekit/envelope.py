"""CloudEvents 1.0 envelopes in Kafka binary content mode (`ce_` headers).

The payload (Kafka value) is the contract model's JSON; the key is the
aggregate id, so one aggregate's events land on one partition, in order.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

__all__ = ["Envelope", "MalformedEvent", "decode", "encode"]

TRACEPARENT_HEADER = "traceparent"
_FORMAT = JSONFormat()


class MalformedEvent(Exception):
    """A Kafka record that is not a valid CloudEvent of ours; never retried."""


@dataclass(frozen=True)
class Envelope:
    id: str
    type: str
    source: str
    subject: str
    time: datetime
    data: dict[str, Any]
    traceparent: str | None = None


def encode(envelope: Envelope) -> KafkaMessage:
    event = CloudEvent(
        attributes={
            "id": envelope.id,
            "type": envelope.type,
            "source": envelope.source,
            "subject": envelope.subject,
            "time": envelope.time,
            "specversion": "1.0",
            "datacontenttype": "application/json",
        },
        data=envelope.data,
    )
    message = to_binary(event, _FORMAT, key_mapper=lambda _: envelope.subject.encode())
    headers = dict(message.headers)
    if envelope.traceparent:
        headers[TRACEPARENT_HEADER] = envelope.traceparent.encode()
    return KafkaMessage(headers=headers, key=message.key, value=message.value)


def decode(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> Envelope:
    header_map = dict(headers)
    try:
        event = from_binary(KafkaMessage(headers=header_map, key=key, value=value or b""), _FORMAT)
        attributes = event.get_attributes()
        data = event.get_data()
        if isinstance(data, bytes | str):
            data = json.loads(data)
        if not isinstance(data, dict):
            raise MalformedEvent("event data is not a JSON object")
        time = attributes.get("time") or datetime.now(UTC)
        trace = header_map.get(TRACEPARENT_HEADER)
        return Envelope(
            id=str(attributes["id"]),
            type=str(attributes["type"]),
            source=str(attributes["source"]),
            subject=str(attributes.get("subject") or (key or b"").decode()),
            time=time,
            data=data,
            traceparent=trace.decode() if trace else None,
        )
    except MalformedEvent:
        raise
    except Exception as exc:  # the cloudevents SDK raises many types for bad input
        raise MalformedEvent(f"{type(exc).__name__}: {exc}") from exc
