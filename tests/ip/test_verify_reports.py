"""QR codes, counted verifications and counterfeit reports against real
Kafka and the real store, through a running ip process: the QR code is the
verify page's URL, every public check is counted per museum and product, a
report is validated, stored as plain text and published through the outbox,
and a museum reads its own reports and counts (a page at a time), no one
else's."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]

from contracts.ip import CounterfeitReported
from ip.qr import page_url, qr_png, qr_svg
from ip.serials import derive_serial
from servicekit.auth import Role
from tests.ip.conftest import Ip, token
from tests.ip.test_certificates import _certs, _public, _world
from tests.support import unique

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

PROBLEM = "application/problem+json"


async def _report(ip: Ip, body: dict[str, Any], tok: str | None = None) -> httpx.Response:
    """A report as a fresh tourist (each its own rate-limit bucket), or anonymous."""
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    async with httpx.AsyncClient(base_url=ip.process.url, timeout=10, headers=headers) as c:
        return await c.post("/reports", json=body)


def _tourist() -> str:
    return token(Role.TOURIST)


async def _published(bootstrap: str, report_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The reports' events on their topic, by report id (read until all came)."""
    consumer = AIOKafkaConsumer(
        CounterfeitReported.TOPIC,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 60
    try:
        while set(found) != report_ids and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    body = json.loads(record.value)
                    if body.get("report_id") in report_ids:
                        found[body["report_id"]] = {"ce_type": headers["ce_type"], **body}
        return found
    finally:
        await consumer.stop()


async def test_qr_codes_encode_the_verify_page(ip: Ip) -> None:
    museum, licensee, relic, license_id = await _world(ip)
    order_id, _ = await ip.pay(license_id, licensee, relic, museum, quantity=1, unit_price_fen=800)
    cert = (await _certs(ip, order_id, 1))[0]
    serial = cert["serial"]
    base = "http://127.0.0.1:8003"  # the process's IP_PUBLIC_BASE_URL (the default)
    assert cert["page_url"] == page_url(base, serial) == f"{base}/verify/{serial}"

    svg = await _public(ip, f"/certificates/{serial}/qr.svg")
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.content == qr_svg(cert["page_url"])  # exactly the code of the page's URL
    assert svg.content.startswith(b"<svg")
    png = await _public(ip, f"/certificates/{serial}/qr.png")
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert png.content == qr_png(cert["page_url"])
    assert cert["qr_svg_url"].endswith(f"/certificates/{serial}/qr.svg")

    unknown = await _public(ip, f"/certificates/{derive_serial(b'other', 'cert:x:y:1')}/qr.png")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith(PROBLEM)
    malformed = await _public(ip, "/certificates/NOT-A-SERIAL/qr.svg")
    assert malformed.status_code == 422
    assert malformed.headers["content-type"].startswith(PROBLEM)


async def test_reports_and_verification_counts_reach_the_museum(ip: Ip) -> None:
    museum, licensee, relic, license_id = await _world(ip)
    order_id, _ = await ip.pay(license_id, licensee, relic, museum, quantity=2, unit_price_fen=900)
    await _certs(ip, order_id, 2)
    await ip.refund(order_id, license_id, licensee, relic, museum, quantity=1, amount_fen=900)
    by_unit = {c["unit"]: c["serial"] for c in await _certs(ip, order_id, 2, revoked=1)}
    valid, revoked = by_unit[1], by_unit[2]
    unknown = derive_serial(b"a forger", unique("cert"))

    # public checks: two valid (API, page), one revoked, one unknown, one malformed
    assert (await _public(ip, f"/certificates/{valid}")).status_code == 200
    assert (await _public(ip, f"/verify/{valid}")).status_code == 200
    assert (await _public(ip, f"/certificates/{revoked}")).status_code == 200
    assert (await _public(ip, f"/certificates/{unknown}")).status_code == 404
    assert (await _public(ip, "/certificates/XYZ")).status_code == 422

    # reports: a genuine serial (anonymous), an unknown one naming the museum
    hostile = '<script>alert("x")</script> <b>fake</b> & "quoted"'
    first = await _report(
        ip,
        {
            "serial": valid.lower(),
            "where_seen": "Jiefangbei night market, stall 12",
            "photo_url": "https://example.org/photos/1.jpg",
            "text": hostile,
        },
    )
    assert first.status_code == 201, first.text
    first_body = first.json()
    assert (first_body["museum_id"], first_body["serial"], first_body["serial_status"]) == (
        museum,
        valid,
        "valid",
    )
    assert first_body["text"] == hostile  # plain text, kept as typed (the page escapes it)
    second = await _report(
        ip,
        {"serial": unknown, "museum_id": museum, "where_seen": "an online shop"},
        _tourist(),
    )
    assert second.status_code == 201, second.text
    assert (second.json()["museum_id"], second.json()["serial_status"]) == (museum, "unknown")

    # bad input: 422 problem+json, nothing stored
    bad_bodies = [
        {"where_seen": "x", "photo_url": "javascript:alert(1)"},
        {"where_seen": "x", "photo_url": "ftp://example.org/p.jpg"},
        {"where_seen": "x", "photo_url": "https://exa mple.org/p.jpg"},
        {"where_seen": "   "},
        {"text": "no place"},
        {"where_seen": "x", "text": "y" * 2001},
        {"where_seen": "x", "serial": "<b>1</b>"},
        {"where_seen": "x", "museum_id": unique("no-such-museum")},
        {"where_seen": "x", "museum_id": "../etc"},
        {"where_seen": "x", "owner": "me"},
    ]
    for body in bad_bodies:
        refused = await _report(ip, body, _tourist())
        assert refused.status_code == 422, (body, refused.text)
        assert refused.headers["content-type"].startswith(PROBLEM)

    # the museum's page: counts per product and its two reports, newest first
    own = token(Role.MUSEUM, museum_id=museum)
    page = await ip.get(f"/museums/{museum}/reports", own)
    assert page.status_code == 200, page.text
    got = page.json()
    assert (got["verifications_valid"], got["verifications_revoked"]) == (2, 1)
    assert got["verifications_unknown"] == 0  # an unknown serial names no museum
    assert (got["reports"], got["reports_unknown"]) == (2, 1)
    assert got["products"] == [{"product_id": "prod-1", "valid": 2, "revoked": 1}]
    ids = [r["report_id"] for r in got["items"]]
    assert ids == [second.json()["report_id"], first_body["report_id"]]
    assert got["items"][1]["text"] == hostile
    assert got["next_cursor"] is None

    # a page at a time
    path = f"/museums/{museum}/reports"
    one = (await ip.get(path, own, limit=1)).json()
    assert [r["report_id"] for r in one["items"]] == ids[:1]
    two = (await ip.get(path, own, limit=1, cursor=one["next_cursor"])).json()
    assert [r["report_id"] for r in two["items"]] == ids[1:]
    assert two["next_cursor"] is None
    bad_cursor = await ip.get(f"/museums/{museum}/reports", own, cursor="garbage")
    assert bad_cursor.status_code == 422

    # no one else's: another museum 404, a tourist 404, no token 401
    other = await ip.get(f"/museums/{museum}/reports", token(Role.MUSEUM, museum_id="other"))
    assert other.status_code == 404
    assert (await ip.get(f"/museums/{museum}/reports", _tourist())).status_code == 404
    async with httpx.AsyncClient(base_url=ip.process.url) as anonymous:
        assert (await anonymous.get(f"/museums/{museum}/reports")).status_code == 401

    # each report is an event through the outbox, its id the report's
    events = await _published(ip.feed.bootstrap, set(ids))
    assert set(events) == set(ids)
    assert events[first_body["report_id"]]["ce_type"] == CounterfeitReported.TYPE
    assert events[first_body["report_id"]]["text"] == hostile
    assert events[second.json()["report_id"]]["serial_status"] == "unknown"


async def test_reports_are_rate_limited_per_client(ip: Ip) -> None:
    one_client = _tourist()
    statuses = [
        (await _report(ip, {"where_seen": f"stall {n}"}, one_client)).status_code
        for n in range(11)  # IP_CERT_REPORT_RATE: 10/minute by default
    ]
    assert statuses[:10] == [201] * 10
    assert statuses[10] == 429
    limited = await _report(ip, {"where_seen": "again"}, one_client)
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith(PROBLEM)
    assert "retry-after" in limited.headers
    assert (await _report(ip, {"where_seen": "another client"}, _tourist())).status_code == 201
