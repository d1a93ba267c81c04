"""`rebirth-redrive`: read a dead-letter topic and re-publish chosen messages
to the topic they came from, once the cause is fixed.

    rebirth-redrive orders.orders.dlq --list          # what is there, with errors
    rebirth-redrive orders.orders.dlq                 # re-drive everything not yet re-driven
    rebirth-redrive orders.orders.dlq --id EVENT_ID   # only these events (repeatable)

Progress is the `redrive` consumer group's committed offset on the DLQ, so a
message is re-driven once; consumers are idempotent, so a re-driven event that
had in fact been applied changes nothing.
"""

import argparse
import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import (  # type: ignore[import-untyped]
    AIOKafkaConsumer,
    ConsumerRecord,
    TopicPartition,
)
from cloudevents.core.bindings.kafka import KafkaMessage

from servicekit.bus import KafkaPublisher

__all__ = ["DeadLetter", "main", "redrive"]

GROUP = "redrive"


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    event_id: str
    event_type: str
    origin: str
    error_type: str
    error: str


def _letter(record: ConsumerRecord) -> DeadLetter:
    headers = dict(record.headers or ())

    def header(name: str) -> str:
        return str(headers.get(name, b"").decode(errors="replace"))

    return DeadLetter(
        partition=record.partition,
        offset=record.offset,
        event_id=header("ce_id"),
        event_type=header("ce_type"),
        origin=header("dlq_topic"),
        error_type=header("dlq_error_type"),
        error=header("dlq_error"),
    )


async def redrive(
    bootstrap: str,
    dlq: str,
    *,
    event_ids: Sequence[str] = (),
    dry_run: bool = False,
) -> list[DeadLetter]:
    """Re-publish the DLQ's pending messages (or only `event_ids`) to their origin."""
    consumer = AIOKafkaConsumer(
        dlq,
        bootstrap_servers=bootstrap,
        group_id=GROUP,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    publisher = KafkaPublisher(bootstrap, "redrive")
    handled: list[DeadLetter] = []
    try:
        ends: dict[TopicPartition, int] | None = None
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            if ends is None:
                if not consumer.assignment():
                    continue  # still joining the group
                # everything up to now; what arrives while we work waits for the next run
                ends = await consumer.end_offsets(list(consumer.assignment()))
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= ends.get(tp, 0):
                        continue
                    letter = _letter(record)
                    if event_ids and letter.event_id not in event_ids:
                        continue
                    handled.append(letter)
                    if dry_run:
                        continue
                    headers = dict(record.headers or ())
                    original = {k: v for k, v in headers.items() if not k.startswith("dlq_")}
                    message = KafkaMessage(
                        headers=original, key=record.key, value=record.value or b""
                    )
                    await publisher.publish(letter.origin, [message])
                    await consumer.commit({tp: record.offset + 1})
            positions = {tp: await consumer.position(tp) for tp in ends}
            if all(positions[tp] >= end for tp, end in ends.items()):
                break
    finally:
        await publisher.stop()
        await consumer.stop()
    return handled


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="rebirth-redrive",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dlq", help="the dead-letter topic, e.g. orders.orders.dlq")
    parser.add_argument("--id", dest="ids", action="append", default=[], help="an event id")
    parser.add_argument("--list", action="store_true", help="only list, re-drive nothing")
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    args = parser.parse_args(argv)
    letters = asyncio.run(redrive(args.bootstrap, args.dlq, event_ids=args.ids, dry_run=args.list))
    verb = "pending" if args.list else "re-driven"
    for letter in letters:
        print(
            f"{letter.partition}@{letter.offset} {letter.event_type} {letter.event_id} "
            f"-> {letter.origin}: {letter.error_type}: {letter.error}"
        )
    print(f"{len(letters)} message(s) {verb}")
