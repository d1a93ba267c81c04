"""RFC 9457 problem details for every error: never a bare 500, never a trace."""

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import AutoReconnect, ConnectionFailure, ExecutionTimeout, NetworkTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from servicekit.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    ServiceError,
    TooLarge,
    Unauthorized,
    Unavailable,
)

__all__ = ["PROBLEM_JSON", "install_problem_handlers", "problem"]

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"

_STATUS: dict[type[ServiceError], int] = {
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    Unauthorized: 401,
    Forbidden: 403,
    TooLarge: 413,
    RateLimited: 429,
    Unavailable: 503,
}
_STANDARD_MEMBERS = {"type", "title", "status", "detail", "instance", "request", "retry_after"}
_STORE_DOWN = (AutoReconnect, ConnectionFailure, NetworkTimeout, ExecutionTimeout)


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    request: Request | None = None,
    retry_after: int | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A problem+json response; extension members never replace the standard ones."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
    body.update({k: v for k, v in extensions.items() if k not in body})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if status in (429, 503):
        headers["Retry-After"] = str(retry_after or 5)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _status_of(exc: ServiceError) -> int:
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 400


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
        # standard member names in a domain error's extensions must not collide
        extensions = {k: v for k, v in exc.extensions.items() if k not in _STANDARD_MEMBERS}
        return problem(
            _status_of(exc),
            exc.detail,
            title=exc.title,
            request=request,
            retry_after=retry_after,
            **extensions,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": [str(part) for part in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
            for err in exc.errors()
        ]
        return problem(
            422,
            "The request is not valid.",
            title="Validation failed",
            request=request,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), request=request)

    for store_error in _STORE_DOWN:

        @app.exception_handler(store_error)
        async def store_down(request: Request, exc: Exception) -> JSONResponse:
            log.warning("store unavailable: %s", exc)
            return problem(
                503,
                "The data store is unavailable. Retry shortly.",
                request=request,
            )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, _exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem(500, "An unexpected error occurred.", request=request)
