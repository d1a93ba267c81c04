"""Bytes to text to records: the encodings museums save CSV in, and rows
numbered as a spreadsheet shows them."""

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Record", "UnreadableFile", "decode_collection", "read_records"]


class UnreadableFile(ValueError):
    """The bytes are not text in any encoding we read."""


@dataclass(frozen=True)
class Record:
    row: int
    cells: list[str]


# GBK and GB2312 files are GB18030 files: GB18030 is their superset
_SUPERSETS = {"gbk": "gb18030", "gb2312": "gb18030", "utf-8": "utf-8-sig"}


def decode_collection(data: bytes, charset: str | None = None) -> str:
    """UTF-8 (with or without BOM) or GB18030, or the charset the sender
    named; a BOM always wins. Raises UnreadableFile."""
    tried: list[str] = []
    candidates = ["utf-8-sig", "gb18030"]
    if charset and not data.startswith(codecs.BOM_UTF8):
        try:
            name = codecs.lookup(charset).name
        except LookupError as exc:
            raise UnreadableFile(f"unknown charset {charset!r}") from exc
        candidates.insert(0, _SUPERSETS.get(name, name))
    for encoding in dict.fromkeys(candidates):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            tried.append(f"{encoding} (bad byte at offset {exc.start})")
        except LookupError:  # a codec that is no text encoding (rot13 ...)
            tried.append(f"{encoding} (not a text encoding)")
    raise UnreadableFile(f"not text in {', '.join(tried)}")


def read_records(text: str) -> tuple[list[str], Iterator[Record]]:
    """The header and the records after it, numbered as a spreadsheet shows
    them (blank lines count, as they do there). csv.Error propagates."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])

    def records() -> Iterator[Record]:
        for number, cells in enumerate(reader, start=2):
            yield Record(number, cells)

    return header, records()
