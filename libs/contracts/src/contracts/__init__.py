"""Event contracts: the only coupling between relic-rebirth services.

Every event type is a frozen Pydantic model with a versioned CloudEvents
`type` (``rebirth.<service>.<aggregate>.<what happened>.v<N>``) and the topic
it travels on. Importing this package registers every contract.
"""

from contracts import catalog, ip, orders  # noqa: F401  (registers the contracts)
from contracts.base import EVENT_TYPES, Event, contract_for
from contracts.topics import ALL_TOPICS, TOPICS, dlq_topic

__all__ = ["ALL_TOPICS", "EVENT_TYPES", "TOPICS", "Event", "contract_for", "dlq_topic"]
