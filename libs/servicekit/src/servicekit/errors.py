"""The error tree every service raises. Domain and handler code raise these;
only servicekit.problems knows their HTTP codes.

    ServiceError
     ├── NotFound        the thing does not exist (or is not yours to see)
     ├── Conflict        the request fights the current state
     ├── Invalid         well-formed, but breaks a business rule
     ├── Unauthorized    no valid credentials
     ├── Forbidden       valid credentials, not allowed
     ├── TooLarge        the request body is over the limit
     ├── RateLimited     too many requests; retry after `retry_after` seconds
     └── Unavailable     a dependency is down; try again later
"""

from typing import Any

__all__ = [
    "Conflict",
    "Forbidden",
    "Invalid",
    "NotFound",
    "RateLimited",
    "ServiceError",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
]


class ServiceError(Exception):
    title = "Service error"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class NotFound(ServiceError):
    title = "Not found"


class Conflict(ServiceError):
    title = "Conflict"


class Invalid(ServiceError):
    title = "Invalid request"


class Unauthorized(ServiceError):
    title = "Unauthorized"


class Forbidden(ServiceError):
    title = "Forbidden"


class Unavailable(ServiceError):
    title = "Service unavailable"


class TooLarge(ServiceError):
    title = "Request body too large"


class RateLimited(ServiceError):
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
