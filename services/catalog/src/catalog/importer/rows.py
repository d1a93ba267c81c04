"""A row of any collection spreadsheet to a relic (columns in
docs/import.md). Every problem of a row is reported, naming the sheet's own
header; a row with any problem imports nothing."""

import hashlib
import re
import unicodedata

from catalog.domain import Image, Provenance
from catalog.importer.headers import Layout
from catalog.importer.records import ImportedRelic, Problem
from catalog.importer.values import (
    ACCEPTED_GRADES,
    CATEGORIES,
    URL,
    acquisition_of,
    donor_named,
    grade_of,
    slug,
    text,
)

__all__ = ["sheet_row"]

_NAME, _SHORT, _LONG, _URI = 200, 200, 10_000, 2_000


def _titles(cells: list[str], layout: Layout, bad: Problem) -> tuple[str, str]:
    """(name_zh, name_en) by the language rules of docs/import.md: a file
    with a Chinese title column takes `name_zh` only from it (empty is an
    error, the English title never stands in), and a file with an English
    title column takes `name_en` only from it (never Chinese text)."""
    for i in (*layout.chinese_titles, *layout.english_titles):
        if len(cells[i].strip()) > _NAME:
            bad(layout.header[i], f"longer than {_NAME} characters")
    zh_header, zh = (
        layout.first(cells, layout.chinese_titles) if layout.chinese_titles else ("", "")
    )
    en_header, en = (
        layout.first(cells, layout.english_titles) if layout.english_titles else ("", "")
    )
    zh, en = zh.replace("\r\n", "\n").strip(), en.replace("\r\n", "\n").strip()
    if layout.chinese_titles and not zh:
        if en:
            bad(zh_header, f"missing: the Chinese title is required ({en_header} is English)")
        else:
            bad(zh_header, "missing")
    elif not layout.chinese_titles and not en:
        bad(en_header, "missing")
    name_zh = zh if layout.chinese_titles else en
    name_en = en if layout.english_titles else zh
    return name_zh[:_NAME], name_en[:_NAME]


def _clean(value: str, header: str, limit: int, bad: Problem) -> str:
    """One stripped cell; a problem when it is too long."""
    cleaned = value.replace("\r\n", "\n").strip()
    if len(cleaned) > limit:
        bad(header, f"longer than {limit} characters")
    return cleaned


def sheet_row(
    number: int, cells: list[str], layout: Layout, problem: Problem
) -> ImportedRelic | None:
    values, shown = layout.values(cells), layout.shown
    if values.get("medium", "").strip():  # labelled as the sheet does: "质地: 青铜"
        values["medium"] = f"{shown['medium']}: {values['medium'].strip()}"
    errors: list[tuple[str, str]] = []

    def bad(header: str, message: str) -> None:
        errors.append((header, message))

    object_number = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", values["object_number"]))
    object_number = object_number.strip()
    if not object_number:
        bad(shown["object_number"], "missing")
    elif len(object_number) > 100:
        bad(shown["object_number"], "longer than 100 characters")
    name_zh, name_en = _titles(cells, layout, bad)
    period = _clean(values.get("date", ""), shown.get("date", ""), _SHORT, bad)
    classification = _clean(
        values.get("classification", ""), shown.get("classification", ""), _SHORT, bad
    )
    texts = (text(values.get("description")), text(values.get("medium")))
    description = "\n".join(t for t in texts if t)
    if len(description) > _LONG:
        bad(
            shown.get("description", "description"),
            f"with the medium, longer than {_LONG} characters",
        )
    images = []
    for uri in re.split(r"[\s;|]+", values.get("image_url", "").strip()):
        if uri and (not URL.match(uri) or len(uri) > _URI):
            bad(shown["image_url"], f"not an http(s) URL: {uri[:80]!r}")
        elif uri:
            images.append(Image(uri=uri))
    if len(images) > 50:
        bad(shown["image_url"], "more than 50 images")
    year: int | None = None
    year_text = unicodedata.normalize("NFKC", values.get("acquired_year", "")).strip()
    if year_text:
        match = re.match(r"^(\d{4})(?:\D|$)", year_text)
        if match is None or int(match.group(1)) > 2100:
            bad(shown["acquired_year"], f"not a year: {year_text[:40]!r}")
        else:
            year = int(match.group(1))
    grade_text = values.get("grade", "").strip()
    grade = grade_of(grade_text) if grade_text else None
    if grade_text and grade is None:
        bad(
            shown["grade"],
            f"not a protection grade: {grade_text[:40]!r}; accepted: {ACCEPTED_GRADES}",
        )
    donor_name = _clean(values.get("donor", ""), shown.get("donor", ""), _NAME, bad)
    for header, message in errors:
        problem(header, message)
    if errors:
        return None
    credit = text(values.get("credit_line"), 2_000) or ""
    acquisition, donor = acquisition_of(credit)
    if (named := donor_named(donor_name)) is not None:
        # the donor's own column is the record; a credit line naming the
        # same person (李明远 / 由李明远先生捐赠) is the same donor
        donor = named
        acquisition = "bequest" if acquisition == "bequest" else "donation"
    digest = hashlib.sha256(object_number.encode()).hexdigest()[:10]
    short = slug(object_number)[:40]
    return ImportedRelic(
        row=number,
        source_id=f"{short}-{digest}" if short else digest,
        name_zh=name_zh,
        name_en=name_en,
        period=period or None,
        category=CATEGORIES.get(classification.casefold(), classification or "other"),
        description=description or None,
        images=images,
        provenance=Provenance(
            acquisition=acquisition,
            acquired_year=year,
            donor=donor,
            notes="\n".join(t for t in (f"object number {object_number}", credit) if t),
        ),
        protection_grade=grade,
    )
