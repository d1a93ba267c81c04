"""`catalog import relics` splits a file into requests the service accepts."""

from catalog.cli import CHUNK_BYTES, _chunks
from catalog.importer import Record


def test_chunks_hold_at_most_the_asked_rows() -> None:
    records = [Record(row, [f"A-{row}", "title"]) for row in range(2, 12)]
    chunks = list(_chunks(records, ["Object Number", "Title"], 4))
    assert [[r.row for r in chunk] for chunk in chunks] == [
        [2, 3, 4, 5],
        [6, 7, 8, 9],
        [10, 11],
    ]


def test_chunks_stay_under_the_byte_budget_and_a_huge_row_goes_alone() -> None:
    wide = "字" * (CHUNK_BYTES // 9)  # a third of the budget in UTF-8
    huge = "x" * (CHUNK_BYTES + 1)
    records = [Record(row, [f"A-{row}", wide]) for row in range(2, 6)]
    records.insert(2, Record(99, ["A-99", huge]))
    chunks = list(_chunks(records, ["Object Number", "Title"], 500))
    assert [[r.row for r in chunk] for chunk in chunks] == [[2, 3], [99], [4, 5]]
