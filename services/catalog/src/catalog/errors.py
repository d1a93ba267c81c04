"""The catalog's error tree. No HTTP codes here: servicekit renders them.

ServiceError (servicekit)
 ├── NotFound
 │    ├── MuseumNotFound, RelicNotFound, ProductNotFound
 ├── Conflict
 │    ├── DuplicateSku           another product already has this SKU
 │    ├── LicenseNotActive       activation needs an active license
 │    ├── OutsideLicenseScope    a product outside its license's scope (rule named)
 │    ├── ProductRetiredError    a retired product cannot change
 │    └── ConcurrentChange       the document kept changing under us
 └── Invalid
      ├── UnknownReference       an unknown museum, relic or license
      ├── InvalidCursor          a cursor we did not issue
      └── InvalidChange          a change that breaks a product rule
"""

from servicekit.errors import Conflict, Invalid, NotFound

__all__ = [
    "ConcurrentChange",
    "DuplicateSku",
    "InvalidChange",
    "ImportRejected",
    "InvalidCursor",
    "LicenseNotActive",
    "MuseumNotFound",
    "OutsideLicenseScope",
    "ProductNotFound",
    "ProductRetiredError",
    "RelicNotFound",
    "UnknownReference",
]


class MuseumNotFound(NotFound):
    title = "Museum not found"

    def __init__(self, museum_id: str) -> None:
        super().__init__(f"no museum {museum_id!r}", museum_id=museum_id)


class RelicNotFound(NotFound):
    title = "Relic not found"

    def __init__(self, relic_id: str) -> None:
        super().__init__(f"no relic {relic_id!r}", relic_id=relic_id)


class ProductNotFound(NotFound):
    title = "Product not found"

    def __init__(self, product_id: str) -> None:
        super().__init__(f"no product {product_id!r}", product_id=product_id)


class DuplicateSku(Conflict):
    title = "Duplicate SKU"

    def __init__(self, sku: str) -> None:
        super().__init__(f"SKU {sku!r} is already taken", sku=sku)


class LicenseNotActive(Conflict):
    title = "License not active"

    def __init__(self, license_id: str | None, status: str | None) -> None:
        super().__init__(
            f"license {license_id!r} is {status or 'unknown'}; products activate only "
            "under an active license",
            license_id=license_id,
            license_status=status,
        )


class OutsideLicenseScope(Conflict):
    """A product must fall inside its license: `rule` names what it breaks
    (relics, category, channel, territory, term)."""

    title = "Outside license scope"

    def __init__(self, license_id: str, rule: str, value: str, allowed: list[str]) -> None:
        super().__init__(
            f"license {license_id!r} does not allow {rule} {value!r} "
            f"(it allows: {', '.join(allowed) or 'nothing'})",
            license_id=license_id,
            rule=rule,
            value=value,
            allowed=allowed,
        )


class ProductRetiredError(Conflict):
    title = "Product retired"

    def __init__(self, product_id: str) -> None:
        super().__init__(f"product {product_id!r} is retired", product_id=product_id)


class ConcurrentChange(Conflict):
    title = "Concurrent change"

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} changed concurrently; retry")


class UnknownReference(Invalid):
    title = "Unknown reference"

    def __init__(self, kind: str, ids: list[str]) -> None:
        super().__init__(f"unknown {kind}: {', '.join(ids)}", kind=kind, ids=ids)


class InvalidCursor(Invalid):
    title = "Invalid cursor"

    def __init__(self, reason: str) -> None:
        super().__init__(f"malformed cursor: {reason}")


class InvalidChange(Invalid):
    title = "Invalid change"


class ImportRejected(Invalid):
    title = "Import rejected"

    def __init__(self, problems: list[dict[str, object]]) -> None:
        super().__init__(
            f"{len(problems)} problem(s) in the file; nothing was imported", errors=problems
        )
