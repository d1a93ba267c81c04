"""Read use cases: a museum's dashboard, the operator overview, CSV tables."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel

from analytics import reports
from analytics.changes import (
    LICENSE_INDEX,
    LICENSEES,
    PRODUCTS_OF_BLOCK,
    RELICS_OF_BLOCK,
    TZ,
    field_id,
    last_minutes,
)
from analytics.overview import KafkaSnapshot
from analytics.reports import Granularity, Totals
from analytics.schemas import (
    DashboardRead,
    FiguresRead,
    GuaranteeRead,
    LagRead,
    MinuteRead,
    OverviewRead,
    PeriodRead,
    RankedRead,
    TopicRead,
)
from analytics.store import ProjectionStore, Row

__all__ = ["Table", "csv_table", "museum_dashboard", "overview"]


def _figures(t: Totals) -> FiguresRead:
    return FiguresRead(**t.as_dict())


def _ranked(
    ranked: Sequence[tuple[str, Totals]], names: Mapping[str, Row], zh: str, en: str
) -> list[RankedRead]:
    out = []
    for key, t in ranked:
        named = names.get(key, {})
        out.append(
            RankedRead(
                id=key,
                name_zh=named.get(zh),
                name_en=named.get(en),
                gross_fen=t.gross_fen,
                refunds_fen=t.refunds_fen,
                net_fen=t.net_fen,
                units=t.units,
                net_units=t.net_units,
                refund_rate_bps=t.refund_rate_bps,
                royalty_accrued_fen=t.royalty_accrued_fen,
                royalty_reversed_fen=t.royalty_reversed_fen,
                royalty_net_fen=t.royalty_net_fen,
            )
        )
    return out


def _guarantee(row: Row) -> GuaranteeRead:
    accrued = int(row.get("royalty_accrued_fen", 0))
    reversed_ = int(row.get("royalty_reversed_fen", 0))
    progress = reports.guarantee_progress(
        accrued_fen=accrued,
        reversed_fen=reversed_,
        minimum_guarantee_fen=int(row.get("minimum_guarantee_fen", 0)),
    )
    gross = int(row.get("gross_fen", 0))
    return GuaranteeRead(
        license_id=str(row["_id"]),
        licensee_id=row.get("licensee_id"),
        status=row.get("status"),
        rate_bps=row.get("rate_bps"),
        starts_at=row.get("starts_at"),
        ends_at=row.get("ends_at"),
        gross_fen=gross,
        net_fen=gross - int(row.get("refunds_fen", 0)),
        royalty_accrued_fen=accrued,
        royalty_reversed_fen=reversed_,
        earned_fen=progress.earned_fen,
        minimum_guarantee_fen=progress.minimum_guarantee_fen,
        progress_bps=progress.progress_bps,
        shortfall_fen=progress.shortfall_fen,
        advance_fen=int(row.get("advance_fen", 0)),
        recouped_fen=int(row.get("royalty_recouped_fen", 0)),
        shortfall_charged_fen=int(row.get("shortfall_charged_fen", 0)),
    )


async def _museum_and_licenses(store: ProjectionStore, museum_id: str) -> tuple[Row, list[Row]]:
    """The museum document, then the licenses it lists, by `_id`."""
    museum = await store.museum(museum_id) or {}
    license_ids = sorted(field_id(key) for key in museum.get(LICENSE_INDEX) or {})
    found = await store.licenses(license_ids)
    # listed under this museum once; shown while the license still names it
    return museum, [
        found[i] for i in license_ids if i in found and found[i].get("museum_id") == museum_id
    ]


async def museum_dashboard(
    *,
    store: ProjectionStore,
    museum_id: str,
    start: date,
    end: date,
    granularity: Granularity,
    top: int,
) -> DashboardRead:
    """Reads the museum document, one small bucket per day shown and the few
    aligned blocks covering the days (by `_id`), then the named products,
    relics and licenses by `$in`: bounded by the days and the museum's
    catalog, never by its orders."""
    (museum, licenses), days, blocks = await asyncio.gather(
        _museum_and_licenses(store, museum_id),
        store.museum_days(museum_id, start=start, end=end),
        store.museum_blocks(museum_id, start=start, end=end),
    )
    # day documents written before the blocks existed carry their own
    # breakdown (nested the same way); an event counts in one or the other
    breakdown = [*blocks, *days]
    products = reports.rank_nested(breakdown, PRODUCTS_OF_BLOCK, limit=top)
    relics = reports.rank_nested(breakdown, RELICS_OF_BLOCK, limit=top)
    licensees = reports.rank_nested(breakdown, LICENSEES, limit=top)
    product_names, relic_names = await asyncio.gather(
        store.products([k for k, _ in products]), store.relics([k for k, _ in relics])
    )
    return DashboardRead(
        museum_id=museum_id,
        museum_name_zh=museum.get("name_zh"),
        museum_name_en=museum.get("name_en"),
        start=start,
        end=end,
        granularity=granularity.value,
        timezone=str(TZ),
        projection_version=store.version,
        totals=_figures(reports.totals(days)),
        series=[
            PeriodRead(period=p.key, start=p.start, end=p.end, **t.as_dict())
            for p, t in reports.series(days, start, end, granularity)
        ],
        top_products=_ranked(products, product_names, "title_zh", "title_en"),
        top_relics=_ranked(relics, relic_names, "name_zh", "name_en"),
        top_licensees=_ranked(licensees, {}, "name_zh", "name_en"),
        guarantees=[_guarantee(row) for row in licenses],
    )


async def overview(*, store: ProjectionStore, kafka: KafkaSnapshot, now: datetime) -> OverviewRead:
    """Reads the all-time document, today's bucket and the last hour's minute
    buckets, each by `_id`."""
    today = reports.today(now).isoformat()
    minute_ids = last_minutes(now)
    all_time_row, today_row, minutes = await asyncio.gather(
        store.platform_totals(), store.platform_day(today), store.platform_minutes(minute_ids)
    )
    all_time = reports.totals([all_time_row])
    last_hour = [
        MinuteRead(
            minute=key,
            orders=int(minutes.get(key, {}).get("orders", 0)),
            gross_fen=int(minutes.get(key, {}).get("gross_fen", 0)),
        )
        for key in minute_ids
    ]
    last_15 = sum(m.orders for m in last_hour[-15:])
    dlq = kafka.dead_letters
    return OverviewRead(
        projection_version=store.version,
        gmv_fen=all_time.gross_fen,
        refunds_fen=all_time.refunds_fen,
        net_fen=all_time.net_fen,
        orders=all_time.orders,
        today=_figures(reports.totals([today_row])),
        orders_per_minute=round(last_15 / 15, 3),
        minutes=last_hour,
        topics=[
            TopicRead(
                topic=t.topic,
                end_offset=t.end_offset,
                events_per_second=t.events_per_second,
                dead_letters=dlq.get(t.topic, 0),
            )
            for t in kafka.topics
        ],
        lags=[
            LagRead(
                group=g.group, service=g.service, topic=g.topic, committed=g.committed, lag=g.lag
            )
            for g in kafka.lags
        ],
        dead_letters_total=sum(dlq.values()),
    )


# --- CSV -------------------------------------------------------------------------


class Table(StrEnum):
    REVENUE = "revenue"
    PRODUCTS = "top-products"
    RELICS = "top-relics"
    LICENSEES = "top-licensees"
    GUARANTEES = "guarantees"


def csv_table(dashboard: DashboardRead, table: Table) -> str:
    rows: Sequence[BaseModel] = {  # type: ignore[assignment]
        Table.REVENUE: dashboard.series,
        Table.PRODUCTS: dashboard.top_products,
        Table.RELICS: dashboard.top_relics,
        Table.LICENSEES: dashboard.top_licensees,
        Table.GUARANTEES: dashboard.guarantees,
    }[table]
    model: type[BaseModel] = {  # type: ignore[assignment]
        Table.REVENUE: PeriodRead,
        Table.PRODUCTS: RankedRead,
        Table.RELICS: RankedRead,
        Table.LICENSEES: RankedRead,
        Table.GUARANTEES: GuaranteeRead,
    }[table]
    columns = list(model.model_fields)
    if table is Table.REVENUE:  # the period first
        columns = [
            "period",
            "start",
            "end",
            *[c for c in columns if c not in {"period", "start", "end"}],
        ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        data = row.model_dump(mode="json")
        writer.writerow(["" if data[c] is None else data[c] for c in columns])
    return buffer.getvalue()
