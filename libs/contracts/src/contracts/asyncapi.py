"""Writes docs/asyncapi.yaml (AsyncAPI 3.0) from the registered contracts.

    rebirth-asyncapi [--check] [PATH]

`--check` exits 1 when the file on disk differs from what the contracts say.
"""

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from contracts import EVENT_TYPES, TOPICS, dlq_topic

__all__ = ["build", "main", "render"]

DEFAULT_PATH = Path(__file__).resolve().parents[4] / "docs" / "asyncapi.yaml"


def _message_name(event_type: str) -> str:
    # rebirth.orders.order.paid.v1 -> orders.order.paid.v1
    return event_type.removeprefix("rebirth.")


def build() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    contracts = sorted((c for c in EVENT_TYPES.values() if c.TOPIC in TOPICS), key=lambda c: c.TYPE)
    for topic, description in TOPICS.items():
        channel_messages = {
            _message_name(c.TYPE): {"$ref": f"#/components/messages/{_message_name(c.TYPE)}"}
            for c in contracts
            if c.TOPIC == topic
        }
        channels[topic] = {
            "address": topic,
            "description": f"{description}. Keyed by aggregate id. "
            f"Dead letters: {dlq_topic(topic)}.",
            "messages": channel_messages,
        }
        operations[f"publish.{topic}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic}"},
        }
    for contract in contracts:
        name = _message_name(contract.TYPE)
        schema = contract.model_json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in schema.pop("$defs", {}).items():
            schemas[def_name] = definition
        schemas[contract.__name__] = schema
        messages[name] = {
            "name": name,
            "title": contract.__name__,
            "summary": (contract.__doc__ or "").strip().splitlines()[0] if contract.__doc__ else "",
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "description": "CloudEvents 1.0 binary mode (Kafka headers)",
                "properties": {
                    "ce_type": {"type": "string", "const": contract.TYPE},
                    "ce_specversion": {"type": "string", "const": "1.0"},
                    "ce_id": {"type": "string"},
                    "ce_source": {"type": "string"},
                    "ce_subject": {"type": "string", "description": contract.KEY_FIELD},
                    "ce_time": {"type": "string", "format": "date-time"},
                    "traceparent": {"type": "string"},
                },
                "required": ["ce_type", "ce_specversion", "ce_id", "ce_source"],
            },
            "payload": {"$ref": f"#/components/schemas/{contract.__name__}"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "relic-rebirth events",
            "version": "1.0.0",
            "description": "Every event the relic-rebirth services exchange. Generated from "
            "libs/contracts by `rebirth-asyncapi`; do not edit by hand.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {"host": "127.0.0.1:9092", "protocol": "kafka"},
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render() -> str:
    return str(yaml.safe_dump(build(), sort_keys=False, allow_unicode=True, width=100))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rebirth-asyncapi", description=__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.path.read_text() if args.path.exists() else ""
        if current != text:
            print(f"{args.path} is stale: run `make asyncapi`", file=sys.stderr)
            sys.exit(1)
        return
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(text)
    print(f"wrote {args.path}")


if __name__ == "__main__":
    main()
