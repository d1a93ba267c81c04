"""The whole file: recognise the export, map every row, report the rest."""

import csv
from collections.abc import Callable

from catalog.importer.exports import met_row, npm_row
from catalog.importer.headers import layout_of
from catalog.importer.records import ImportedRelic, Problem, RowProblem
from catalog.importer.rows import sheet_row
from catalog.importer.text import read_records

__all__ = ["MAX_ROWS", "parse_collection"]

MAX_ROWS = 5_000

RowMapper = Callable[[int, list[str], Problem], ImportedRelic | None]
NamedRowMapper = Callable[[int, dict[str, str], Problem], ImportedRelic | None]
_KNOWN: list[tuple[set[str], str, NamedRowMapper]] = [
    ({"objectID", "title", "classification"}, "objectID", met_row),
    ({"relic_id", "name", "category", "images"}, "relic_id", npm_row),
]


def _mapper(header: list[str]) -> tuple[RowMapper, str] | None:
    """How a row's cells become a relic, and the header of the id column;
    None for a layout we do not know."""
    present = set(header)
    for needed, id_header, known in _KNOWN:
        if needed <= present:

            def by_name(
                number: int, cells: list[str], problem: Problem, known: NamedRowMapper = known
            ) -> ImportedRelic | None:
                return known(number, dict(zip(header, cells, strict=True)), problem)

            return by_name, id_header
    layout = layout_of(header)
    if layout is None:
        return None

    def generic(number: int, cells: list[str], problem: Problem) -> ImportedRelic | None:
        return sheet_row(number, cells, layout, problem)

    return generic, layout.shown["object_number"]


def parse_collection(
    text: str, max_rows: int | None = MAX_ROWS
) -> tuple[list[ImportedRelic], list[RowProblem]]:
    """The valid rows as relics and every problem found. A problem with the
    whole file (unknown header, too many rows, broken CSV) comes back alone
    with no relics."""
    problems: list[RowProblem] = []
    relics: list[ImportedRelic] = []
    try:
        header, records = read_records(text)
        found = _mapper(header)
        if found is None:
            needs = "a Met or NPM export, or a sheet with object number and title columns"
            return [], [RowProblem(1, "header", f"not a known collection layout: {needs}")]
        map_row, id_header = found
        seen: dict[str, int] = {}
        for record in records:
            if not any(cell.strip() for cell in record.cells):
                continue  # blank rows are spacing, not records
            if max_rows is not None and record.row - 1 > max_rows:
                return [], [RowProblem(record.row, "file", f"more than {max_rows} rows")]

            def problem(name: str, message: str, number: int = record.row) -> None:
                problems.append(RowProblem(number, name, message))

            extra = record.cells[len(header) :]
            if any(cell.strip() for cell in extra):
                problem("row", f"{len(record.cells)} cells under {len(header)} headers")
                continue
            cells = record.cells[: len(header)] + [""] * (len(header) - len(record.cells))
            relic = map_row(record.row, cells, problem)
            if relic is None:
                continue
            if relic.source_id in seen:
                problem(id_header, f"the same object as row {seen[relic.source_id]}")
                continue
            seen[relic.source_id] = record.row
            relics.append(relic)
    except csv.Error as exc:  # e.g. a field over csv's size limit
        return [], [RowProblem(0, "file", f"not readable as CSV: {exc}")]
    if not relics and not problems:
        problems.append(RowProblem(0, "file", "no rows"))
    return relics, problems
