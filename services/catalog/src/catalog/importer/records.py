"""What reading a collection file yields: a relic per valid row, and the
problems of the others (row, field, error)."""

from collections.abc import Callable
from dataclasses import dataclass, field

from catalog.domain import Image, ProtectionGrade, Provenance

__all__ = ["ImportedRelic", "Problem", "RowProblem"]

Problem = Callable[[str, str], None]  # (field, error) of the row being read


@dataclass(frozen=True)
class RowProblem:
    row: int
    field: str
    error: str


@dataclass(frozen=True)
class ImportedRelic:
    row: int
    source_id: str  # stable per object number: re-imports update, never duplicate
    name_zh: str
    name_en: str
    period: str | None
    category: str
    description: str | None
    images: list[Image] = field(default_factory=list)
    provenance: Provenance | None = None
    # None: the file does not grade this row (a new relic is `general`, an
    # existing one keeps the grade the museum gave it)
    protection_grade: ProtectionGrade | None = None
