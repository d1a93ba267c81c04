"""What the catalog's routes share: paging parameters, the error responses
they document, cached reads (ETag, Cache-Control, `If-None-Match` answered
with 304) and PATCH bodies as change sets."""

import hashlib
from typing import Annotated, Any

from fastapi import Query, Request, Response, status
from pydantic import BaseModel

from catalog.errors import InvalidChange

__all__ = [
    "ERRORS",
    "PUBLIC_ITEM",
    "PUBLIC_LIST",
    "CursorParam",
    "Limit",
    "cached",
    "changes_of",
]

Limit = Annotated[int, Query(ge=1, le=100)]
CursorParam = Annotated[str | None, Query(max_length=1000)]
PUBLIC_LIST = "public, max-age=15"
PUBLIC_ITEM = "public, max-age=30"
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid bearer token"},
    403: {"description": "Not allowed for this principal"},
    404: {"description": "Unknown id"},
    409: {"description": "Conflicts with the current state"},
    422: {"description": "Invalid input"},
}


def cached(request: Request, body: BaseModel, cache_control: str) -> Response:
    payload = body.model_dump_json().encode()
    etag = f'W/"{hashlib.sha256(payload).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": cache_control, "Vary": "Authorization"}
    wanted = request.headers.get("if-none-match")
    if wanted and (wanted.strip() == "*" or etag in (t.strip() for t in wanted.split(","))):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(payload, media_type="application/json", headers=headers)


def changes_of(body: BaseModel, nullable: frozenset[str]) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    cleared = [k for k, v in changes.items() if v is None and k not in nullable]
    if cleared:
        raise InvalidChange(f"these fields cannot be null: {', '.join(sorted(cleared))}")
    return changes
