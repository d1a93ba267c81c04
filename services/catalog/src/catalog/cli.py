"""`catalog import relics`: send a collection CSV to a running catalog service.

    catalog import relics FILE.csv --museum-id ID [--url URL] [--token T]
                                   [--report PATH] [--chunk-rows N]

The token (or $CATALOG_TOKEN) must be the museum's own or an operator's.
The file (UTF-8 with or without BOM, or GB18030; columns in docs/import.md)
is checked here first, then sent in chunks of N rows behind a progress bar;
the service validates and imports each chunk. Every row it did not import
is written to the report (FILE.import-report.csv unless --report) as row,
field, error. Each row lands whole or not at all, and running the same file
again updates by object number, so a stopped import is finished by running
it again.

Exit codes: 0 every row imported; 3 some rows rejected (in the report), the
rest imported; 1 nothing imported or the import stopped; 2 bad arguments.
"""

import argparse
import csv
import io
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from catalog.importer import (
    MAX_ROWS,
    Record,
    RowProblem,
    UnreadableFile,
    decode_collection,
    parse_collection,
    read_records,
)

__all__ = ["main"]

OK, FAILED, USAGE, PARTIAL = 0, 1, 2, 3
# under the service's default body limit (MAX_BODY_BYTES, 1 MiB) with room to spare
CHUNK_BYTES = 512 * 1024


class Refused(Exception):
    """The service refused a request as a whole (auth, unknown museum, down)."""


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    donor_ids: set[str] = field(default_factory=set)  # donors registered, over all chunks

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged


def _post(url: str, token: str, museum_id: str, text: str) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of one import request; 422 is an answer, not a refusal."""
    query = urllib.parse.urlencode({"museum_id": museum_id})
    request = urllib.request.Request(
        f"{url.rstrip('/')}/relics:import?{query}",
        data=text.encode("utf-8"),
        method="POST",
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Authorization": f"Bearer {token}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read() or b"{}")
        except ValueError:
            body = {}
        if exc.code == 422 and "errors" in body:
            return exc.code, body
        raise Refused(f"{exc.code}: {body.get('detail', exc.reason)}") from exc
    except (urllib.error.URLError, TimeoutError) as exc:
        raise Refused(f"cannot reach {url}: {exc}") from exc


def _chunk_text(header: list[str], records: list[Record]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(r.cells for r in records)
    return out.getvalue()


def _chunks(records: list[Record], header: list[str], rows: int) -> Iterator[list[Record]]:
    """Up to `rows` records a chunk, and no more than CHUNK_BYTES of CSV
    (a record larger than that goes alone)."""
    chunk: list[Record] = []
    size = len(_chunk_text(header, []).encode())
    for record in records:
        record_size = len(_chunk_text([], [record]).encode())
        if chunk and (len(chunk) == rows or size + record_size > CHUNK_BYTES):
            yield chunk
            chunk, size = [], len(_chunk_text(header, []).encode())
        chunk.append(record)
        size += record_size
    if chunk:
        yield chunk


def _send(chunk: list[Record], header: list[str], args: argparse.Namespace, tally: Tally) -> None:
    status, body = _post(args.url, args.token, args.museum_id, _chunk_text(header, chunk))
    for error in body.get("errors", []):
        # the service numbers the chunk's rows 2, 3, ...: map back to the file's
        index = int(error.get("row", 0)) - 2
        row = chunk[index].row if 0 <= index < len(chunk) else 0
        tally.problems.append(RowProblem(row, str(error.get("field")), str(error.get("error"))))
    if status != 422:
        tally.created += int(body["created"])
        tally.updated += int(body["updated"])
        tally.unchanged += int(body["unchanged"])
        tally.donor_ids.update(str(d) for d in body.get("donor_ids", []))


def _write_report(path: Path, problems: list[RowProblem]) -> None:
    # utf-8-sig so that spreadsheet programs show Chinese headers and values
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["row", "field", "error"])
        writer.writerows((p.row, p.field, p.error) for p in sorted(problems, key=lambda p: p.row))


def import_relics(args: argparse.Namespace, console: Console) -> int:
    report: Path = args.report or args.file.with_name(f"{args.file.stem}.import-report.csv")
    tally = Tally()
    stopped: str | None = None
    header: list[str] = []
    try:
        text = decode_collection(args.file.read_bytes())
        rows, tally.problems = parse_collection(text, max_rows=None)
        header, records = read_records(text)
        valid = {row.row for row in rows}
        to_send = [r for r in records if r.row in valid]
        total = len(valid) + len({p.row for p in tally.problems})
    except (OSError, UnreadableFile, csv.Error) as exc:
        tally.problems, to_send, total = [RowProblem(0, "file", str(exc))], [], 0
    with Progress(
        TextColumn(f"[bold]import {escape(args.file.name)}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("import", total=total, completed=total - len(to_send))
        for chunk in _chunks(to_send, header, args.chunk_rows):
            try:
                _send(chunk, header, args, tally)
            except Refused as exc:
                stopped = str(exc)
                tally.problems.append(RowProblem(0, "file", f"import stopped: {stopped}"))
                break
            bar.advance(task, len(chunk))
    _write_report(report, tally.problems)
    rejected = len({p.row for p in tally.problems if p.row})
    console.print(
        f"imported {tally.imported} rows into {args.museum_id} ({tally.created} new, "
        f"{tally.updated} updated, {tally.unchanged} unchanged; {len(tally.donor_ids)} donors "
        f"registered); {rejected} rows rejected; "
        f"report: {report}",
        markup=False,
    )
    if stopped:
        console.print(f"[red]stopped: {escape(stopped)}[/]; run it again to finish (no duplicates)")
    if stopped or tally.imported == 0:
        return FAILED
    return PARTIAL if tally.problems else OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="catalog", description="catalog service tools")
    commands = parser.add_subparsers(dest="command", required=True)
    what = commands.add_parser("import", help="import data into the catalog")
    kinds = what.add_subparsers(dest="kind", required=True)
    relics = kinds.add_parser("relics", help="a museum's collection CSV (docs/import.md)")
    relics.add_argument("file", type=Path)
    relics.add_argument("--museum-id", required=True)
    relics.add_argument("--url", default=os.environ.get("CATALOG_URL", "http://127.0.0.1:8001"))
    relics.add_argument("--token", default=os.environ.get("CATALOG_TOKEN"))
    relics.add_argument("--report", type=Path, help="default: FILE.import-report.csv")
    relics.add_argument("--chunk-rows", type=int, default=500, metavar="N", help="rows a request")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("a bearer token is needed (--token or CATALOG_TOKEN)")
    if not args.file.is_file():
        parser.error(f"no file {str(args.file)!r}")
    if not 1 <= args.chunk_rows <= MAX_ROWS:
        parser.error(f"--chunk-rows must be 1 to {MAX_ROWS}")
    return import_relics(args, Console(stderr=True))


if __name__ == "__main__":
    sys.exit(main())
