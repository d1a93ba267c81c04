"""What an import did, counted the same way for every caller (the API's
answer, the CLI's summary)."""

from dataclasses import dataclass

from catalog.domain import Relic
from catalog.importer.records import RowProblem

__all__ = ["ImportReport", "registered_donor"]


@dataclass(frozen=True)
class ImportReport:
    """The relic of every imported row, in file order, the rows it refused,
    and the donors it registered (sorted ids)."""

    relic_ids: list[str]
    created: int
    updated: int
    unchanged: int
    problems: list[RowProblem]
    donor_ids: list[str]


def registered_donor(before: Relic | None, after: Relic) -> str | None:
    """The donor an import registered on a relic: the donor of a new relic,
    or a donor that an existing relic did not have before; None otherwise."""
    donor = after.provenance.donor if after.provenance else None
    if donor is None:
        return None
    previous = before.provenance.donor if before and before.provenance else None
    return None if previous == donor else donor.donor_id
