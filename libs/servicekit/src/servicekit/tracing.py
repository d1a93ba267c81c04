"""W3C trace context: one `traceparent` follows a request from HTTP into Kafka
headers and on into every consumer that handles the resulting events."""

import re
import secrets
from contextvars import ContextVar

__all__ = ["child_of", "current_traceparent", "new_traceparent", "traceparent_var"]

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")

traceparent_var: ContextVar[str | None] = ContextVar("traceparent", default=None)


def new_traceparent() -> str:
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def child_of(parent: str | None) -> str:
    """Same trace, new span; a new trace when the parent is absent or malformed."""
    match = _TRACEPARENT.match(parent or "")
    if not match:
        return new_traceparent()
    trace_id, _, flags = match.groups()
    return f"00-{trace_id}-{secrets.token_hex(8)}-{flags}"


def current_traceparent() -> str | None:
    return traceparent_var.get()
