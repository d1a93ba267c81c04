"""A museum dashboard's tables as CSV (the same figures as the API's)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from analytics.schemas import (
    CoOwnerRelicRead,
    DashboardRead,
    GuaranteeRead,
    PeriodRead,
    RankedRead,
    RelicRankedRead,
    ShareRead,
)

__all__ = ["Table", "csv_table"]


class Table(StrEnum):
    REVENUE = "revenue"
    PRODUCTS = "top-products"
    RELICS = "top-relics"
    LICENSEES = "top-licensees"
    GUARANTEES = "guarantees"
    HOLDERS = "holders"  # the museum's own share, then each co-owner's
    CO_OWNER_RELICS = "co-owner-relics"  # each co-owner's share per relic


def _rows(dashboard: DashboardRead, table: Table) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns and the rows (JSON values) of one table."""
    if table is Table.HOLDERS:
        columns = [*ShareRead.model_fields, "relic_ids"]
        rows = [{**dashboard.museum_share.model_dump(mode="json"), "relic_ids": ""}]
        for owner in dashboard.co_owners:
            data = owner.model_dump(mode="json", exclude={"relics"})
            rows.append({**data, "relic_ids": " ".join(r.relic_id for r in owner.relics)})
        return columns, rows
    if table is Table.CO_OWNER_RELICS:
        columns = ["holder_id", "holder_kind", "holder_name", *CoOwnerRelicRead.model_fields]
        rows = [
            {
                "holder_id": owner.holder_id,
                "holder_kind": owner.holder_kind,
                "holder_name": owner.name,
                **relic.model_dump(mode="json"),
            }
            for owner in dashboard.co_owners
            for relic in owner.relics
        ]
        return columns, rows
    models: Sequence[BaseModel] = {  # type: ignore[assignment]
        Table.REVENUE: dashboard.series,
        Table.PRODUCTS: dashboard.top_products,
        Table.RELICS: dashboard.top_relics,
        Table.LICENSEES: dashboard.top_licensees,
        Table.GUARANTEES: dashboard.guarantees,
    }[table]
    model: type[BaseModel] = {  # type: ignore[assignment]
        Table.REVENUE: PeriodRead,
        Table.PRODUCTS: RankedRead,
        Table.RELICS: RelicRankedRead,
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
    return columns, [row.model_dump(mode="json") for row in models]


def csv_table(dashboard: DashboardRead, table: Table) -> str:
    columns, rows = _rows(dashboard, table)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for data in rows:
        writer.writerow(["" if data[c] is None else data[c] for c in columns])
    return buffer.getvalue()
