"""Contracts are versioned, registered once, and the AsyncAPI file is current."""

import re

from contracts import EVENT_TYPES, TOPICS
from contracts.asyncapi import DEFAULT_PATH, render

TYPE_PATTERN = re.compile(r"^rebirth\.[a-z]+\.[a-z_]+\.[a-z_]+\.v\d+$")


def test_every_contract_has_a_versioned_type_and_a_registered_topic() -> None:
    for event_type, contract in EVENT_TYPES.items():
        if event_type.startswith("rebirth.test."):
            continue  # contracts that tests define for themselves
        assert TYPE_PATTERN.match(event_type), event_type
        assert contract.TOPIC in TOPICS, (event_type, contract.TOPIC)
        assert contract.KEY_FIELD in contract.model_fields, event_type


def test_checked_in_asyncapi_is_current() -> None:
    assert DEFAULT_PATH.read_text() == render(), "docs/asyncapi.yaml is stale: run make asyncapi"


def test_asyncapi_lists_every_topic_as_a_channel() -> None:
    import yaml

    document = yaml.safe_load(render())
    assert document["asyncapi"] == "3.0.0"
    assert set(document["channels"]) == set(TOPICS)
