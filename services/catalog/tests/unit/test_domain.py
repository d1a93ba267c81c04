"""Product, license and reservation rules: pure, no I/O."""

from datetime import UTC, datetime

import pytest

from catalog.domain import (
    Asset,
    License,
    Line,
    Product,
    ProductState,
    Relic,
    SiteLocation,
    check_lines,
    merge_lines,
    next_license_status,
)
from catalog.errors import InvalidChange, LicenseNotActive, ProductRetiredError
from contracts.catalog import (
    ProductPriceChanged,
    ProductPublished,
    ProductRetired,
    ProductUnsellable,
    ProductUpdated,
    RelicRegistered,
    RelicUpdated,
)

NOW = datetime(2026, 11, 25, tzinfo=UTC)
ACTIVE = License("lic-1", "licensee-1", "mus-1", "active", ["rel-1"])
SUSPENDED = License("lic-1", "licensee-1", "mus-1", "suspended", ["rel-1"])


def product(**overrides: object) -> Product:
    values: dict[str, object] = {
        "id": "prd-1",
        "sku": "SKU-1",
        "title_zh": "青铜面具冰箱贴",
        "title_en": "Bronze mask magnet",
        "description_zh": None,
        "description_en": None,
        "category": "home",
        "price_fen": 3900,
        "images": [],
        "relic_ids": ["rel-1"],
        "museum_ids": ["mus-1"],
        "license_id": "lic-1",
        "licensee_id": "licensee-1",
        "created_at": NOW,
        "updated_at": NOW,
        **overrides,
    }
    return Product(**values)  # type: ignore[arg-type]


def test_a_product_activates_only_under_an_active_license() -> None:
    p = product()
    with pytest.raises(LicenseNotActive):
        p.activate(SUSPENDED, NOW)
    with pytest.raises(LicenseNotActive):
        p.activate(None, NOW)
    assert p.events == []
    assert p.activate(ACTIVE, NOW)
    assert (p.status, p.sellable, p.version) == ("active", True, 2)
    [event] = p.events
    assert isinstance(event, ProductPublished)
    assert event.product.version == 2
    assert not p.activate(ACTIVE, NOW)  # already active: nothing happens


def test_a_price_must_be_positive() -> None:
    with pytest.raises(InvalidChange):
        product(price_fen=0)
    p = product()
    with pytest.raises(InvalidChange):
        p.revise({"price_fen": -1}, NOW)


def test_draft_changes_are_silent_and_published_changes_are_events() -> None:
    p = product()
    assert p.revise({"title_en": "Mask magnet"}, NOW)
    assert p.events == []
    p.activate(ACTIVE, NOW)
    p.events.clear()
    p.revise({"price_fen": 4500}, NOW)
    p.revise({"category": "stationery"}, NOW)
    assert [type(e) for e in p.events] == [ProductPriceChanged, ProductUpdated]
    assert p.events[0].previous_price_fen == 3900  # type: ignore[attr-defined]
    assert [e.product.version for e in p.events] == [4, 5]  # type: ignore[attr-defined]
    assert not p.revise({"category": "stationery"}, NOW)  # no change, no event


def test_a_lapsed_license_makes_it_unsellable_once_and_reinstatement_restores_it() -> None:
    p = product()
    p.activate(ACTIVE, NOW)
    p.events.clear()
    assert p.license_lapsed("revoked", NOW)
    assert not p.license_lapsed("revoked", NOW)
    [event] = p.events
    assert isinstance(event, ProductUnsellable)
    assert event.reason == "license_revoked"
    assert event.product.sellable is False
    assert p.license_restored(NOW)
    assert isinstance(p.events[-1], ProductPublished)
    assert p.sellable


def test_a_draft_is_not_made_sellable_by_a_license() -> None:
    p = product()
    assert not p.license_restored(NOW)
    assert not p.license_lapsed("expired", NOW)


def test_retired_products_are_final() -> None:
    p = product()
    p.activate(ACTIVE, NOW)
    p.retire(NOW)
    assert isinstance(p.events[-1], ProductRetired)
    with pytest.raises(ProductRetiredError):
        p.activate(ACTIVE, NOW)
    with pytest.raises(ProductRetiredError):
        p.revise({"price_fen": 1}, NOW)


@pytest.mark.parametrize(
    ("current", "change", "expected"),
    [
        (None, "granted", "active"),
        ("active", "suspended", "suspended"),
        ("suspended", "reinstated", "active"),
        ("active", "revoked", "revoked"),
        ("suspended", "expired", "expired"),
        ("revoked", "reinstated", "revoked"),
        ("revoked", "granted", "revoked"),
        ("expired", "suspended", "expired"),
        (None, "revoked", "revoked"),
    ],
)
def test_license_status_moves(current: str | None, change: str, expected: str) -> None:
    assert next_license_status(current, change) == expected  # type: ignore[arg-type]


def test_order_lines_merge_per_product() -> None:
    assert merge_lines([("a", 1), ("b", 2), ("a", 3)]) == [Line("a", 4), Line("b", 2)]
    with pytest.raises(InvalidChange):
        merge_lines([("a", 0)])


def test_every_failing_line_has_its_reason() -> None:
    lines = [Line("ok", 2), Line("short", 3), Line("off", 1), Line("ghost", 1)]
    states = {
        "ok": ProductState(sellable=True, stock=2),
        "short": ProductState(sellable=True, stock=1),
        "off": ProductState(sellable=False, stock=9),
    }
    reasons = check_lines(lines, states)
    assert [(r.product_id, r.reason, r.available) for r in reasons] == [
        ("short", "insufficient", 1),
        ("off", "unsellable", 0),
        ("ghost", "unknown_product", 0),
    ]


def relic(**overrides: object) -> Relic:
    values: dict[str, object] = {
        "id": "rel-1",
        "museum_id": "mus-1",
        "name_zh": "青铜神树",
        "name_en": "Bronze sacred tree",
        "period": "商",
        "category": "bronze",
        "description": None,
        "protection_grade": "grade_1",
        "immovable": False,
        "site": None,
        "images": [],
        "provenance": None,
        "assets": [],
        "created_at": NOW,
        "updated_at": NOW,
        **overrides,
    }
    return Relic.register(**values)


def test_immovable_relics_need_a_site_and_only_they_have_one() -> None:
    with pytest.raises(InvalidChange):
        relic(immovable=True)
    with pytest.raises(InvalidChange):
        relic(site=SiteLocation("somewhere"))
    r = relic(immovable=True, site=SiteLocation("广汉"))
    assert isinstance(r.events[0], RelicRegistered)


def test_digital_twins_are_added_once_each() -> None:
    r = relic()
    asset = Asset("ast-1", "scan", "https://x/scan.tif", "tiff", "sha256:" + "0" * 64, 10, "CC0")
    r.add_asset(asset, NOW)
    assert isinstance(r.events[-1], RelicUpdated)
    with pytest.raises(InvalidChange):
        r.add_asset(asset, NOW)
