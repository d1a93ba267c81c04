"""Collection CSV import, pure: decode the bytes, recognise the export, map
and validate every row. Valid rows come back as relics, invalid ones as
(row, field, error) problems; the caller imports the first and reports the
second. The columns are documented in docs/import.md.

    text        bytes to text (UTF-8, GB18030, a named charset) to records
    headers     a sheet's headers to the documented columns, titles by language
    values      cell values: protection grades, donors, credit lines, categories
    rows        a row of any collection spreadsheet to a relic
    exports     the Met and National Palace Museum exports, as they come
    collection  the whole file
    report      what an import did

Three layouts are understood, recognised by their headers:

- the Met Collection API (`objectID`, `title`, `classification`, ...):
  float-string ids, CRLF inside quoted fields, Python-style lists;
- the National Palace Museum open data, flattened (`relic_id`, `name`,
  `aliases`, `dynasty`, `category`, `images` as JSON, ...);
- any other collection spreadsheet whose headers name an object number and
  a title, in English or Chinese (`Object Number`/`藏品编号`, `Title`/`名称`,
  ...), matched ignoring case, spaces and punctuation.

Rows are numbered as a spreadsheet shows them: the header is row 1, the
first record row 2. Problems with the whole file have row 0 (or 1 for the
header).
"""

from catalog.importer.collection import MAX_ROWS, parse_collection
from catalog.importer.headers import COLUMNS, column_of
from catalog.importer.records import ImportedRelic, RowProblem
from catalog.importer.report import ImportReport, registered_donor
from catalog.importer.text import Record, UnreadableFile, decode_collection, read_records
from catalog.importer.values import grade_of

__all__ = [
    "COLUMNS",
    "MAX_ROWS",
    "ImportReport",
    "ImportedRelic",
    "Record",
    "RowProblem",
    "UnreadableFile",
    "column_of",
    "decode_collection",
    "grade_of",
    "parse_collection",
    "read_records",
    "registered_donor",
]
