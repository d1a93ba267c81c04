"""Per-caller rate limits on chosen routes: 429 problem+json with Retry-After.

A `RateLimit` is a FastAPI dependency. It counts each caller's requests in a
moving window (the `limits` library, in memory) and names the caller by its
token's subject, or by its client address when it has no token. The rate is a
setting of the service (e.g. ORDERS_CHECKOUT_RATE="600/minute"), read from
`request.app.state.runtime.settings`, so it can change without a release.

In memory means per process: N replicas together allow N times the rate. Behind
a proxy, run uvicorn with --proxy-headers so the client address is the caller's.
"""

import math
import time
from functools import lru_cache
from typing import Annotated

from fastapi import Request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import AfterValidator

from servicekit.auth import OptionalPrincipal
from servicekit.errors import RateLimited

__all__ = ["Rate", "RateLimit"]


@lru_cache(maxsize=64)
def _item(rate: str) -> RateLimitItem:
    return parse(rate)


def _valid_rate(rate: str) -> str:
    try:
        _item(rate)
    except ValueError as exc:  # a bad setting fails at start-up, not per request
        raise ValueError(f"not a rate like '20/second' or '600/minute': {rate!r}") from exc
    return rate


Rate = Annotated[str, AfterValidator(_valid_rate)]  # a settings field type


class RateLimit:
    """Depend on it (`dependencies=[Depends(RateLimit("checkout", "checkout_rate"))]`)
    to allow each caller at most the rate in the settings field `setting`."""

    def __init__(self, scope: str, setting: str) -> None:
        self.scope = scope
        self.setting = setting
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, request: Request, principal: OptionalPrincipal) -> None:
        item = _item(getattr(request.app.state.runtime.settings, self.setting))
        if principal is not None:
            caller = f"sub:{principal.subject}"
        else:
            caller = f"ip:{request.client.host if request.client else 'unknown'}"
        if self._limiter.hit(item, self.scope, caller):
            return
        reset_at = self._limiter.get_window_stats(item, self.scope, caller).reset_time
        raise RateLimited(
            f"Too many {self.scope} requests: at most {item}. Retry later.",
            retry_after=max(1, math.ceil(reset_at - time.time())),
        )
