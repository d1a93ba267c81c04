"""Which documents just got outbox events, learnt from the writes themselves.

A PyMongo command listener on the service's client: when an insert, update
or findAndModify that adds `_outbox` entries succeeds, it notes the
document's `_id` for the relay, which then publishes exactly that document
at once instead of waiting for its periodic sweep of the pending markers
(servicekit.outbox). A write whose filter does not name one `_id` asks for
that sweep at once instead.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pymongo import monitoring

from servicekit.outbox import OUTBOX

__all__ = ["DocumentKey", "OutboxHints"]

DocumentKey = tuple[str, str, Any]  # database, collection, _id
_WRITES = {"insert", "update", "findAndModify", "findandmodify"}


class OutboxHints(monitoring.CommandListener):
    def __init__(self) -> None:
        self._in_flight: dict[tuple[Any, int], tuple[list[DocumentKey], bool]] = {}
        self._pending: dict[DocumentKey, None] = {}  # in the order of the writes
        self._scan_requested = False
        self.on_hint: Callable[[], None] = lambda: None  # set by the relay

    def take(self) -> list[DocumentKey]:
        """The documents noted since the last call, in the order of their writes."""
        taken, self._pending = list(self._pending), {}
        return taken

    def take_scan_request(self) -> bool:
        """Whether a write since the last call named no single document."""
        requested, self._scan_requested = self._scan_requested, False
        return requested

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in _WRITES:
            return
        collection = str(event.command.get(event.command_name))
        keys: list[DocumentKey] = []
        unknown = False
        for target, update in _event_writes(event.command_name, event.command):
            if not _adds_events(update):
                continue
            if isinstance(target, Mapping) and _is_scalar(target.get("_id")):
                keys.append((event.database_name, collection, target["_id"]))
            else:
                unknown = True
        if keys or unknown:
            self._in_flight[(event.connection_id, event.request_id)] = (keys, unknown)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._settle(event)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._settle(event)  # a failed write may still have written (a timeout): look anyway

    def _settle(
        self, event: monitoring.CommandSucceededEvent | monitoring.CommandFailedEvent
    ) -> None:
        noted = self._in_flight.pop((event.connection_id, event.request_id), None)
        if noted is None:
            return
        keys, unknown = noted
        self._pending.update(dict.fromkeys(keys))
        self._scan_requested = self._scan_requested or unknown
        self.on_hint()


def _event_writes(name: str, command: Mapping[str, Any]) -> Iterable[tuple[Any, Any]]:
    """(the document or filter, the update) of each write in a command."""
    if name == "insert":
        return ((doc, doc) for doc in command.get("documents", ()))
    if name == "update":
        return ((u.get("q"), u.get("u")) for u in command.get("updates", ()))
    return [(command.get("query"), command.get("update"))]


def _adds_events(update: Any) -> bool:
    if not isinstance(update, Mapping):
        return False  # an aggregation-pipeline update: none of ours
    if OUTBOX in update:  # an inserted or replacing document
        return bool(update[OUTBOX])
    return any(
        isinstance(update.get(op), Mapping) and OUTBOX in update[op] for op in ("$push", "$set")
    )


def _is_scalar(value: Any) -> bool:
    return value is not None and not isinstance(value, Mapping | list)
