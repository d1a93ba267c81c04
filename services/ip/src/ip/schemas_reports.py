"""Request and response schemas of counterfeit reports and a museum's watch
page. Every text is plain text: control characters go, lengths are capped,
and nothing here is ever rendered as markup (the verify page escapes)."""

import re
from datetime import date, datetime
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ip.counterfeit import Report
from ip.watch import NewReport, ProductChecks, ReportsPage

__all__ = ["ProductChecksRead", "ReportCreate", "ReportRead", "ReportsPageRead"]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SERIAL = re.compile(r"^[0-9A-Za-z -]{1,40}$")
_MUSEUM = re.compile(r"^[0-9A-Za-z_.:-]{1,80}$")


def _plain(value: str) -> str:
    _encodable(value)
    return _CONTROL.sub("", value).strip()


def _encodable(value: str) -> str:
    """A lone surrogate (legal in JSON text) cannot be stored: refuse it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("the text is not valid Unicode") from exc
    return value


class ReportCreate(BaseModel):
    """A suspect item: where it was seen (a shop, a market, a web page), and
    optionally its serial, the museum it claims to be from, a photo URL
    (http or https) and a free text."""

    model_config = ConfigDict(extra="forbid")

    where_seen: str = Field(min_length=1, max_length=200)
    serial: str | None = Field(None, max_length=40)
    museum_id: str | None = Field(None, max_length=80)
    photo_url: str | None = Field(None, max_length=500)
    text: str = Field("", max_length=2000)

    @field_validator("where_seen", "text")
    @classmethod
    def _plain_text(cls, value: str) -> str:
        return _plain(value)

    @field_validator("where_seen")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value:
            raise ValueError("say where the item was seen")
        return value

    @field_validator("serial", "museum_id", "photo_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("serial")
    @classmethod
    def _serial_chars(cls, value: str | None) -> str | None:
        if value is not None and not _SERIAL.match(value.strip()):
            raise ValueError("a serial has only letters, digits, spaces and hyphens")
        return value.strip() if value else None

    @field_validator("museum_id")
    @classmethod
    def _museum_chars(cls, value: str | None) -> str | None:
        if value is not None and not _MUSEUM.match(value):
            raise ValueError("not a museum id")
        return value

    @field_validator("photo_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = _encodable(value.strip())
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("the photo URL must be an http or https URL")
        if _CONTROL.search(value) or any(c.isspace() for c in value):
            raise ValueError("the photo URL must not hold spaces or control characters")
        return value

    def to_domain(self) -> NewReport:
        return NewReport(
            where_seen=self.where_seen,
            serial=self.serial,
            museum_id=self.museum_id,
            photo_url=self.photo_url,
            text=self.text,
        )


class ReportRead(BaseModel):
    report_id: str
    reported_at: datetime
    serial: str | None
    serial_status: str  # valid | revoked | unknown | none
    museum_id: str | None
    product_id: str | None
    license_id: str | None
    where_seen: str
    photo_url: str | None
    text: str

    @classmethod
    def of(cls, r: Report) -> "ReportRead":
        return cls(
            report_id=r.report_id,
            reported_at=r.reported_at,
            serial=r.serial,
            serial_status=r.serial_status,
            museum_id=r.museum_id,
            product_id=r.product_id,
            license_id=r.license_id,
            where_seen=r.where_seen,
            photo_url=r.photo_url,
            text=r.text,
        )


class ProductChecksRead(BaseModel):
    product_id: str
    valid: int
    revoked: int

    @classmethod
    def of(cls, p: ProductChecks) -> "ProductChecksRead":
        return cls(product_id=p.product_id, valid=p.valid, revoked=p.revoked)


class ReportsPageRead(BaseModel):
    """A museum's watch over [from, to] (China days): verification counts
    (in total and per product), report counts, and a page of its reports,
    newest first; pass `next_cursor` as `cursor` for the next page."""

    museum_id: str
    start: date
    end: date
    verifications_valid: int
    verifications_revoked: int
    verifications_unknown: int
    reports: int
    reports_unknown: int
    reports_revoked: int
    products: list[ProductChecksRead]
    items: list[ReportRead]
    next_cursor: str | None

    @classmethod
    def of(cls, p: ReportsPage) -> "ReportsPageRead":
        return cls(
            museum_id=p.museum_id,
            start=p.start,
            end=p.end,
            verifications_valid=p.verifications_valid,
            verifications_revoked=p.verifications_revoked,
            verifications_unknown=p.verifications_unknown,
            reports=p.reports,
            reports_unknown=p.reports_unknown,
            reports_revoked=p.reports_revoked,
            products=[ProductChecksRead.of(x) for x in p.products],
            items=[ReportRead.of(x) for x in p.items],
            next_cursor=p.next_cursor,
        )
