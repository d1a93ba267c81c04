"""Counterfeit report routes: anyone reports (no token, rate-limited per
client, validated plain text), a museum reads its reports and verification
counts (its own only: another museum's is a 404, as everywhere in ip)."""

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from ip.api_certs import LIMITED, WatchDep
from ip.certificates import CHINA
from ip.errors import BadInput
from ip.schemas_reports import ReportCreate, ReportRead, ReportsPageRead
from servicekit.auth import CurrentPrincipal
from servicekit.ratelimit import RateLimit

__all__ = ["report_limit", "router"]

router = APIRouter(tags=["counterfeit reports"])
report_limit = RateLimit("counterfeit report", "cert_report_rate")

From = Annotated[
    date | None, Query(alias="from", description="first day (China time), default 29 days ago")
]
To = Annotated[date | None, Query(alias="to", description="last day (China time), default today")]


@router.post(
    "/reports",
    status_code=201,
    response_model=ReportRead,
    dependencies=[Depends(report_limit)],
    responses=LIMITED,
)
async def report_counterfeit(body: ReportCreate, watch: WatchDep) -> ReportRead:
    """Report a suspect item. The serial's certificate (if any) names the
    museum; otherwise the `museum_id` given, if ip knows that museum.
    Stored and published (`rebirth.ip.counterfeit.reported.v1`) as plain text."""
    return ReportRead.of(await watch.report(body.to_domain()))


@router.get("/museums/{museum_id}/reports", response_model=ReportsPageRead)
async def museum_reports(
    museum_id: str,
    principal: CurrentPrincipal,
    watch: WatchDep,
    start: From = None,
    end: To = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> ReportsPageRead:
    """The museum's verification counts (per product) and reports over
    [from, to] (at most 92 days), newest first. Operators may read any
    museum, and `unattributed` (unknown serials, reports naming no museum)."""
    last = end or datetime.now(UTC).astimezone(CHINA).date()
    try:
        first = start or last - timedelta(days=29)
    except OverflowError as exc:  # `to` in the first days of year 1
        raise BadInput("`to` is too early for a default `from`: give `from`") from exc
    page = await watch.museum_reports(
        principal, museum_id, start=first, end=last, limit=limit, cursor=cursor
    )
    return ReportsPageRead.of(page)
