"""Routes: museum dashboards and CSV exports, the operator overview, replays,
and the /dashboard page."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from analytics import exports, queries
from analytics.deps import ActiveStore, AnalyticsSettings, Monitor, ReplayRunner, State
from analytics.exports import Table
from analytics.reports import Granularity, today
from analytics.schemas import DashboardRead, OverviewRead, PrincipalRead, ReplayRead
from servicekit.auth import CurrentPrincipal, Principal, Role, require_role
from servicekit.errors import Forbidden, Invalid, NotFound

__all__ = ["router"]

router = APIRouter()
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

MAX_RANGE_DAYS = 3 * 366

From = Annotated[
    date | None, Query(alias="from", description="first day (Asia/Shanghai), default 29 days ago")
]
To = Annotated[
    date | None, Query(alias="to", description="last day (Asia/Shanghai), default today")
]
Top = Annotated[int, Query(ge=1, le=1000, description="rows in each top table")]


def _museum_access(principal: Principal, museum_id: str) -> None:
    if not principal.can_act_for_museum(museum_id):
        raise Forbidden("this dashboard belongs to another museum")


def _range(start: date | None, end: date | None) -> tuple[date, date]:
    end = end or today(datetime.now(UTC))
    start = start or end - timedelta(days=29)
    if start > end:
        raise Invalid("`from` must not be after `to`")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise Invalid(f"a range covers at most {MAX_RANGE_DAYS} days")
    return start, end


@router.get("/me", response_model=PrincipalRead, tags=["dashboard"], summary="Who the token is")
async def me(principal: CurrentPrincipal) -> PrincipalRead:
    return PrincipalRead(
        subject=principal.subject, role=principal.role.value, museum_id=principal.museum_id
    )


@router.get(
    "/museums/{museum_id}/dashboard",
    response_model=DashboardRead,
    tags=["dashboard"],
    summary="A museum's sales and royalties over a date range",
    responses={403: {"description": "Another museum's dashboard"}},
)
async def museum_dashboard(
    museum_id: str,
    principal: CurrentPrincipal,
    store: ActiveStore,
    start: From = None,
    end: To = None,
    granularity: Granularity = Granularity.DAY,
    top: Top = 10,
) -> DashboardRead:
    _museum_access(principal, museum_id)
    first, last = _range(start, end)
    return await queries.museum_dashboard(
        store=store, museum_id=museum_id, start=first, end=last, granularity=granularity, top=top
    )


@router.get(
    "/museums/{museum_id}/export/{table}.csv",
    tags=["dashboard"],
    summary="One dashboard table as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, 403: {"description": "Another museum's"}},
)
async def export_table(
    museum_id: str,
    table: Table,
    principal: CurrentPrincipal,
    store: ActiveStore,
    start: From = None,
    end: To = None,
    granularity: Granularity = Granularity.DAY,
    top: Top = 1000,
) -> Response:
    _museum_access(principal, museum_id)
    first, last = _range(start, end)
    dashboard = await queries.museum_dashboard(
        store=store, museum_id=museum_id, start=first, end=last, granularity=granularity, top=top
    )
    filename = f"{museum_id}-{table.value}-{first}-{last}.csv"
    return Response(
        exports.csv_table(dashboard, table),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": _attachment(filename)},
    )


def _attachment(filename: str) -> str:
    """Headers are latin-1: a museum id in any other script goes RFC 5987-encoded."""
    quoted = quote(filename, safe="")
    if quoted == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename*=UTF-8''{quoted}"


@router.get(
    "/overview",
    response_model=OverviewRead,
    tags=["operator"],
    summary="Platform GMV, orders per minute, events/s, consumer lag and dead letters",
)
async def platform_overview(
    principal: CurrentPrincipal, store: ActiveStore, monitor: Monitor
) -> OverviewRead:
    require_role(principal, Role.OPERATOR)
    snapshot = await monitor.snapshot()
    return await queries.overview(store=store, kafka=snapshot, now=datetime.now(UTC))


@router.post(
    "/replays",
    response_model=ReplayRead,
    status_code=202,
    tags=["operator"],
    responses={409: {"description": "A replay is already running"}},
    summary="Rebuild every projection from the beginning of the topics, then swap it in",
    # an OpenAPI link, so clients and the stateful fuzzing follow the new version
    openapi_extra={
        "responses": {
            "202": {
                "links": {
                    "GetReplay": {
                        "operationId": "get_replay_replays__version__get",
                        "parameters": {"version": "$response.body#/version"},
                    }
                }
            }
        }
    },
)
async def start_replay(
    request: Request, principal: CurrentPrincipal, replays: ReplayRunner
) -> ReplayRead:
    require_role(principal, Role.OPERATOR)
    version = await replays.start(request.app.state.runtime)
    return ReplayRead(version=version, status="running")


@router.get("/replays/{version}", response_model=ReplayRead, tags=["operator"])
async def get_replay(version: int, principal: CurrentPrincipal, state: State) -> ReplayRead:
    require_role(principal, Role.OPERATOR)
    record = await state.replay(version)
    if record is None:
        raise NotFound(f"no replay {version}")
    return ReplayRead.model_validate({k: v for k, v in record.items() if k != "_id"})


def _dashboard_headers(provider: str | None = None) -> dict[str, str]:
    """The page loads only its own /static files and calls only this service
    and, when it signs in, its OpenID provider (`provider`, an origin): the
    discovery document and the token endpoint (sign-in, renewal) by fetch, and
    sign-out by a form posted to the end-session endpoint. No inline script at
    all, no frames (renewal uses the refresh token, never an iframe), no
    framing (clickjacking). Inline style *attributes* stay allowed because
    ECharts writes them into its tooltips; <style> does not."""
    also = f" {provider}" if provider else ""
    return {
        "Content-Security-Policy": "; ".join(
            [
                "default-src 'none'",
                "script-src 'self'",
                "style-src 'self'",
                "style-src-attr 'unsafe-inline'",
                "img-src 'self' data: blob:",
                f"connect-src 'self'{also}",
                "font-src 'self'",
                "base-uri 'none'",
                f"form-action 'self'{also}",
                "frame-ancestors 'none'",
            ]
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",  # the page has nothing to tell other sites
        "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    }


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@router.get("/dashboard", response_class=HTMLResponse, tags=["dashboard"], include_in_schema=False)
async def dashboard_page(request: Request, settings: AnalyticsSettings) -> HTMLResponse:
    authority = settings.dashboard_oidc_authority
    page = {
        # the page's sign-in; none: a development token, as before
        "oidc_authority": authority or "",
        "oidc_client_id": settings.dashboard_oidc_client_id,
        # the #token= link: development and tests only, ignored in production
        "dev_tokens": settings.environment != "production",
    }
    headers = _dashboard_headers(_origin(authority) if authority else None)
    return templates.TemplateResponse(request, "dashboard.html", page, headers=headers)
