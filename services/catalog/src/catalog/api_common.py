"""What the catalog's routes share: paging parameters, the error responses
they document, cached reads (ETag, Cache-Control, `If-None-Match` answered
with 304) and PATCH bodies as change sets."""

import hashlib
from typing import Annotated, Any

from fastapi import Query, Request, Response, status
from pydantic import BaseModel

from catalog import product_search
from catalog.deps import Index, Store
from catalog.errors import InvalidChange
from catalog.schemas import ProductPage, ProductRead

__all__ = [
    "newest_products_page",
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


async def newest_products_page(
    request: Request,
    store: Store,
    index: Index,
    *,
    limit: int,
    cursor: str | None,
    cache_control: str,
    museum_id: str | None = None,
    relic_id: str | None = None,
) -> Response:
    """A museum's or a relic's page: its sellable products, newest first."""
    items, next_cursor = await product_search.search_products(
        store=store,
        index=index,
        q=None,
        sort="newest",
        limit=limit,
        cursor=cursor,
        museum_id=museum_id,
        relic_id=relic_id,
    )
    body = ProductPage(items=[ProductRead.of(p) for p in items], next_cursor=next_cursor)
    return cached(request, body, cache_control)
