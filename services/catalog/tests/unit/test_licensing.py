"""The license scope rule (issue 18): a product falls inside its license's
relics, categories, channel, territory and term. Pure, no I/O."""

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from catalog.domain import Product
from catalog.errors import OutsideLicenseScope
from catalog.licensing import (
    License,
    LicenseScope,
    ScopeBreach,
    Storefront,
    covers_territory,
    scope_breach,
)
from contracts.catalog import ProductPublished, ProductUnsellable

NOW = datetime(2026, 11, 25, tzinfo=UTC)
SCOPE = LicenseScope(
    categories=frozenset({"home", "stationery"}),
    territory="CN",
    channels=frozenset({"online", "museum_shop"}),
    starts_at=NOW - timedelta(days=30),
    ends_at=NOW + timedelta(days=300),
)
LICENSE = License("lic-1", "licensee-1", "mus-1", "active", ["rel-1"], SCOPE)


def narrowed(**changes: object) -> License:
    return dataclasses.replace(LICENSE, scope=dataclasses.replace(SCOPE, **changes))  # type: ignore[arg-type]


def breach(
    license: License = LICENSE,
    category: str = "home",
    relics: tuple[str, ...] = ("rel-1",),
    now: datetime = NOW,
    *,
    selling: bool = True,
) -> ScopeBreach | None:
    return scope_breach(license, category=category, relic_ids=relics, now=now, selling=selling)


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


def test_a_product_inside_every_rule_breaks_none() -> None:
    assert breach() is None
    assert breach(category="stationery") is None


def test_each_rule_is_named_with_what_the_license_allows() -> None:
    assert breach(category="toys") == ScopeBreach("category", "toys", ["home", "stationery"])
    assert breach(relics=("rel-1", "rel-9")) == ScopeBreach("relics", "rel-9", ["rel-1"])
    assert breach(narrowed(channels=frozenset({"museum_shop"}))) == ScopeBreach(
        "channel", "online", ["museum_shop"]
    )
    assert breach(narrowed(territory="CN-CQ")) == ScopeBreach("territory", "CN", ["CN-CQ"])
    ended = breach(now=SCOPE.ends_at)
    assert ended is not None
    assert ended.rule == "term"
    assert ended.allowed == [SCOPE.starts_at.isoformat(), SCOPE.ends_at.isoformat()]


def test_a_draft_may_be_prepared_before_the_term_begins_but_not_sold() -> None:
    early = SCOPE.starts_at - timedelta(days=1)
    assert breach(now=early, selling=False) is None
    assert breach(now=early, selling=True) == ScopeBreach(
        "term", early.isoformat(), [SCOPE.starts_at.isoformat(), SCOPE.ends_at.isoformat()]
    )
    assert breach(now=SCOPE.ends_at, selling=False) is not None  # never after it ended


def test_a_replica_without_scope_or_relics_checks_only_what_it_knows() -> None:
    unknown = License("lic-1", "licensee-1", "mus-1", "active", [], None)
    assert breach(unknown, category="anything", relics=("rel-9",)) is None


@pytest.mark.parametrize(
    ("licensed", "market", "covered"),
    [
        ("CN", "CN", True),
        ("CN", "CN-CQ", True),
        ("worldwide", "CN", True),
        ("CN-CQ", "CN", False),
        ("HK", "CN", False),
        ("CN", "CNX", False),
    ],
)
def test_territories(licensed: str, market: str, covered: bool) -> None:
    assert covers_territory(licensed, market) is covered


def test_the_storefront_can_be_another() -> None:
    abroad = Storefront(channel="wholesale", territory="HK")
    found = scope_breach(
        LICENSE, category="home", relic_ids=["rel-1"], now=NOW, selling=True, storefront=abroad
    )
    assert found == ScopeBreach("channel", "wholesale", ["museum_shop", "online"])


def test_activation_outside_the_scope_is_refused_naming_the_rule() -> None:
    p = product(category="toys")
    with pytest.raises(OutsideLicenseScope) as refused:
        p.activate(LICENSE, NOW)
    assert refused.value.extensions["rule"] == "category"
    assert refused.value.extensions["allowed"] == ["home", "stationery"]
    assert "toys" in refused.value.detail
    assert (p.status, p.sellable, p.events) == ("draft", False, [])


def test_a_changed_category_must_stay_inside_the_license() -> None:
    p = product()
    with pytest.raises(OutsideLicenseScope, match="category"):
        p.revise({"category": "toys"}, NOW, LICENSE)
    assert p.category == "home"
    assert p.revise({"category": "stationery"}, NOW, LICENSE)
    # other changes are not judged on the category rule alone
    assert p.revise({"title_en": "Notebook"}, SCOPE.ends_at, LICENSE)


def test_a_narrowed_scope_makes_a_product_unsellable_and_a_widened_one_sellable() -> None:
    p = product()
    p.activate(LICENSE, NOW)
    only_stationery = narrowed(categories=frozenset({"stationery"}))
    assert p.follow_license(only_stationery, NOW)
    assert (p.sellable, p.unsellable_reason) == (False, "license_scope_category")
    event = p.events[-1]
    assert isinstance(event, ProductUnsellable)
    assert event.reason == "license_scope_category"
    assert not p.follow_license(only_stationery, NOW)  # the same again: nothing
    assert p.follow_license(LICENSE, NOW)
    assert p.sellable
    assert isinstance(p.events[-1], ProductPublished)


def test_following_a_license_keeps_suspension_semantics() -> None:
    p = product()
    p.activate(LICENSE, NOW)
    suspended = dataclasses.replace(LICENSE, status="suspended")
    assert p.follow_license(suspended, NOW)
    assert p.unsellable_reason == "license_suspended"
    draft = product()
    assert not draft.follow_license(LICENSE, NOW)  # a draft stays a draft
    assert draft.events == []
