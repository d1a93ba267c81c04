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

__all__ = ["PROBLEM_JSON", "document_problems", "install_problem_handlers", "problem"]

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
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI answers a body that is not UTF-8 with a bare 400; it is
            # malformed JSON like any other, so 422 like any other
            return problem(
                422,
                "The request body is not UTF-8 JSON.",
                title="Validation failed",
                request=request,
                errors=[{"loc": ["body"], "msg": str(exc.__cause__), "type": "json_invalid"}],
            )
        return problem(exc.status_code, str(exc.detail), request=request)

    @app.exception_handler(OverflowError)
    async def number_too_large(request: Request, exc: OverflowError) -> JSONResponse:
        # Python ints are unbounded, BSON's are 8 bytes: a huge number in a
        # request reaches the driver, which refuses it
        log.warning("number out of range: %s", exc)
        return problem(422, "A number in the request is out of range.", request=request)

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

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; extension members may follow.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "additionalProperties": True,
}
_PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_FASTAPI_422 = ("HTTPValidationError", "ValidationError")
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Say in the OpenAPI what the handlers above do: every error response is
    problem+json, and every operation may answer what servicekit itself
    answers (bad token, unknown id, body too large, invalid input, store down);
    a write may also refer to an unknown thing or fight the current state."""
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            params = {p.get("in") for p in operation.get("parameters", [])}
            implied = {"503": "A dependency is down; retry after Retry-After seconds"}
            if operation.get("security"):
                implied |= {"401": "No valid bearer token", "403": "Not allowed for this token"}
            if "path" in params or method != "get":
                implied["404"] = "Unknown id, or not yours to see"
            if method != "get":
                implied["409"] = "Conflicts with the current state"
            if "requestBody" in operation:
                implied["413"] = "The request body is too large"
            if params or "requestBody" in operation:
                implied["422"] = "Invalid input"
            for status, description in implied.items():
                responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = _PROBLEM_CONTENT
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = _PROBLEM_SCHEMA
    for name in _FASTAPI_422:  # FastAPI's own 422 shape, replaced above
        components.pop(name, None)
    return schema
