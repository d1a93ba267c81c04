"""Read use cases: a museum's dashboard, the operator overview (CSV: exports.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from analytics import holders, reports
from analytics.authenticity import authenticity_totals
from analytics.changes import (
    LICENSE_INDEX,
    LICENSEES,
    PRODUCTS_OF_BLOCK,
    RELICS_OF_BLOCK,
    TZ,
    field_id,
    last_minutes,
    relic_asset_id,
)
from analytics.holders import CoOwner, Shares
from analytics.overview import KafkaSnapshot
from analytics.reports import Granularity, Totals
from analytics.schemas import (
    AuthenticityRead,
    CoOwnerRead,
    CoOwnerRelicRead,
    DashboardFiguresRead,
    DashboardRead,
    FiguresRead,
    GuaranteeRead,
    LagRead,
    MinuteRead,
    OverviewRead,
    PeriodRead,
    RankedRead,
    RelicRankedRead,
    ShareRead,
    TopicRead,
)
from analytics.store import ProjectionStore, Row

__all__ = ["museum_dashboard", "overview"]


def _figures(t: Totals) -> FiguresRead:
    return FiguresRead(**t.as_dict())


def _dashboard_figures(rows: Sequence[Mapping[str, Any]]) -> DashboardFiguresRead:
    """The sales and licence royalty of museum-day rows, and beside them the
    museum's own share and its co-owners' (ip's splits and payouts)."""
    own, co = holders.shares(rows, "own"), holders.shares(rows, "co")
    return DashboardFiguresRead(
        **reports.totals(rows).as_dict(),
        museum_share_accrued_fen=own.accrued_fen,
        museum_share_reversed_fen=own.reversed_fen,
        museum_share_net_fen=own.net_fen,
        museum_share_paid_fen=own.paid_fen,
        museum_share_outstanding_fen=own.outstanding_fen,
        co_owner_share_accrued_fen=co.accrued_fen,
        co_owner_share_reversed_fen=co.reversed_fen,
        co_owner_share_net_fen=co.net_fen,
        co_owner_share_paid_fen=co.paid_fen,
        co_owner_share_outstanding_fen=co.outstanding_fen,
    )


def _share(holder_id: str, kind: str | None, s: Shares, name: str | None = None) -> dict[str, Any]:
    return {
        "holder_id": holder_id,
        "holder_kind": kind,
        "name": name,
        "accrued_fen": s.accrued_fen,
        "reversed_fen": s.reversed_fen,
        "net_fen": s.net_fen,
        "paid_fen": s.paid_fen,
        "outstanding_fen": s.outstanding_fen,
    }


def _donor_names(relics: Mapping[str, Row]) -> dict[str, str]:
    """A donor's name, as its donated relic carries it (catalog's DonorRef)."""
    out: dict[str, str] = {}
    for relic in relics.values():
        donor = relic.get("donor") or {}
        if donor.get("donor_id") and donor.get("name"):
            out[str(donor["donor_id"])] = str(donor["name"])
    return out


def _holders_of(assets: Mapping[str, Row]) -> dict[str, set[str]]:
    """Per relic, the holders its asset lists (its latest shares)."""
    return {
        str(a["relic_id"]): {str(s.get("holder_id")) for s in a.get("shares") or []}
        for a in assets.values()
        if a.get("relic_id") and a.get("shares")
    }


def _co_owner(owner: CoOwner, relics: Mapping[str, Row], names: Mapping[str, str]) -> CoOwnerRead:
    return CoOwnerRead(
        **_share(owner.holder_id, owner.kind, owner.shares, names.get(owner.holder_id)),
        relics=[
            CoOwnerRelicRead(
                relic_id=relic_id,
                name_zh=relics.get(relic_id, {}).get("name_zh"),
                name_en=relics.get(relic_id, {}).get("name_en"),
                accrued_fen=part.accrued_fen,
                reversed_fen=part.reversed_fen,
                net_fen=part.net_fen,
            )
            for relic_id, part in sorted(owner.relics.items())
        ],
    )


def _relic_rows(
    rows: list[RankedRead], breakdown: Sequence[Row], owners: Sequence[CoOwner]
) -> list[RelicRankedRead]:
    """The relic rows, each with the museum's and the co-owners' share."""
    own_of, co_of = holders.own_by_relic(breakdown), holders.co_by_relic(owners)
    out = []
    for row in rows:
        own, co = own_of.get(row.id, Shares()), co_of.get(row.id, Shares())
        out.append(
            RelicRankedRead(
                **row.model_dump(),
                museum_share_accrued_fen=own.accrued_fen,
                museum_share_reversed_fen=own.reversed_fen,
                museum_share_net_fen=own.net_fen,
                co_owner_share_accrued_fen=co.accrued_fen,
                co_owner_share_reversed_fen=co.reversed_fen,
                co_owner_share_net_fen=co.net_fen,
            )
        )
    return out


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
    aligned blocks covering the days (by `_id`; a block none of whose days
    moved since it was last read is kept in `store.blocks`), then the named
    products, relics and licenses by `$in`: bounded by the days and the
    museum's catalog, never by its orders."""
    (museum, licenses), (days, day_marks) = await asyncio.gather(
        _museum_and_licenses(store, museum_id),
        store.museum_days(museum_id, start=start, end=end),
    )
    blocks = await store.museum_blocks(museum_id, start=start, end=end, day_marks=day_marks)
    # day documents written before the blocks existed carry their own
    # breakdown (nested the same way); an event counts in one or the other
    breakdown = [*blocks, *days]
    products = reports.rank_nested(breakdown, PRODUCTS_OF_BLOCK, limit=top)
    relics = reports.rank_nested(breakdown, RELICS_OF_BLOCK, limit=top)
    licensees = reports.rank_nested(breakdown, LICENSEES, limit=top)
    owners = holders.co_owners(breakdown)
    # the named relics: the top ones and those the co-owners' shares came
    # from; and the assets of the latter (which holders each relic has)
    owned = list(dict.fromkeys(r for o in owners for r in o.relics))
    relic_ids = list(dict.fromkeys([*(k for k, _ in relics), *owned]))
    product_names, relic_names, assets = await asyncio.gather(
        store.products([k for k, _ in products]),
        store.relics(relic_ids),
        store.assets([relic_asset_id(r) for r in owned]),
    )
    owners = holders.owns(owners, _holders_of(assets))
    donors = _donor_names(relic_names)
    own = holders.shares(days, "own")
    return DashboardRead(
        museum_id=museum_id,
        museum_name_zh=museum.get("name_zh"),
        museum_name_en=museum.get("name_en"),
        start=start,
        end=end,
        granularity=granularity.value,
        timezone=str(TZ),
        projection_version=store.version,
        totals=_dashboard_figures(days),
        series=[
            PeriodRead(
                period=p.key,
                start=p.start,
                end=p.end,
                **_dashboard_figures(rows).model_dump(),
            )
            for p, rows in reports.by_period(days, start, end, granularity)
        ],
        museum_share=ShareRead(
            **_share(museum_id, "museum", own, museum.get("name_zh") or museum.get("name_en"))
        ),
        co_owners=[_co_owner(o, relic_names, donors) for o in owners],
        top_products=_ranked(products, product_names, "title_zh", "title_en"),
        top_relics=_relic_rows(
            _ranked(relics, relic_names, "name_zh", "name_en"), breakdown, owners
        ),
        top_licensees=_ranked(licensees, {}, "name_zh", "name_en"),
        guarantees=[_guarantee(row) for row in licenses],
        authenticity=AuthenticityRead(**authenticity_totals(days)),
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
