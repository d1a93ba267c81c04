"""A spreadsheet's headers to the documented columns (docs/import.md), and
which title columns are Chinese and which English.

A header matches ignoring case, width, spaces and punctuation ("Object No.",
"object_number" and "OBJECT NUMBER" are one)."""

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["COLUMNS", "Layout", "column_of", "layout_of"]

# column -> header synonyms
COLUMNS: dict[str, tuple[str, ...]] = {
    "object_number": (
        "object number", "object no", "accession number", "accession no", "inventory number",
        "inventory no", "catalogue number", "catalog number", "registration number",
        "编号", "藏品编号", "登录号", "文物编号", "藏品号", "总登记号", "登记号", "馆藏编号",
    ),
    "title": ("title", "name", "object title", "名称", "藏品名称", "文物名称", "题名", "品名"),
    "title_zh": ("title zh", "chinese title", "name zh", "chinese name", "中文名称", "中文名"),
    "title_en": ("title en", "english title", "name en", "english name", "英文名称", "英文名"),
    "date": ("date", "period", "dynasty", "object date", "era", "年代", "时代", "朝代", "时期"),
    "medium": ("medium", "material", "materials", "medium material", "质地", "材质", "材料"),
    "classification": (
        "classification", "category", "object type", "type", "类别", "分类", "类型", "门类",
    ),
    "grade": (
        "grade", "protection grade", "relic grade", "grading", "级别", "文物级别", "等级",
        "定级", "文物等级", "藏品级别", "藏品等级",
    ),
    "credit_line": ("credit line", "credit", "source", "provenance", "来源", "捐赠", "入藏来源"),
    "donor": (
        "donor", "donors", "donor name", "donated by", "捐赠人", "捐赠者", "捐献人", "捐献者",
        "捐赠人姓名", "捐赠单位", "捐赠方",
    ),
    "image_url": (
        "image url", "image", "images", "primary image", "image link", "picture", "photo",
        "图片", "图片链接", "图片地址", "图像", "照片",
    ),
    "description": ("description", "summary", "简介", "描述", "说明", "介绍"),
    "acquired_year": (
        "accession year", "acquired year", "year acquired", "入藏年份", "入藏年代", "入藏时间",
    ),
}  # fmt: skip


def _header_key(header: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", header).casefold())


_BY_KEY = {_header_key(h): column for column, names in COLUMNS.items() for h in names}
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def column_of(header: str) -> str | None:
    """The documented column a spreadsheet header stands for, if any."""
    return _BY_KEY.get(_header_key(header))


@dataclass(frozen=True)
class Layout:
    """Where each documented column is in a sheet.

    Titles by language: `title_zh` columns and a `title` column headed in
    Chinese (名称, 文物名称 ...) hold the Chinese title; `title_en` columns and
    a `title` column headed otherwise (Title, Name ...) the English one."""

    columns: dict[str, list[int]]  # column -> its cells' indexes, in sheet order
    shown: dict[str, str]  # column -> the sheet's own header (the first)
    chinese_titles: list[int]  # by precedence: `title_zh` columns, then `title`
    english_titles: list[int]  # `title_en` columns, then `title`
    header: list[str]

    def values(self, cells: list[str]) -> dict[str, str]:
        """A row's cells by column; when several headers mean one column, the
        first non-empty cell wins."""
        return {
            column: next((cells[i] for i in indexes if cells[i].strip()), "")
            for column, indexes in self.columns.items()
        }

    def first(self, cells: list[str], indexes: list[int]) -> tuple[str, str]:
        """The first non-empty cell among `indexes` and its header (else the
        first header and "")."""
        for i in indexes:
            if cells[i].strip():
                return self.header[i], cells[i]
        return self.header[indexes[0]], ""


def layout_of(header: list[str]) -> Layout | None:
    """None when the sheet lacks an object number or any title column."""
    columns: dict[str, list[int]] = {}
    for index, name in enumerate(header):
        if (column := column_of(name)) is not None:
            columns.setdefault(column, []).append(index)
    if "object_number" not in columns or not {"title", "title_zh", "title_en"} & set(columns):
        return None
    # the dedicated columns first: they win over a plain title column
    chinese = [*columns.get("title_zh", [])]
    english = [*columns.get("title_en", [])]
    for index in columns.get("title", []):
        (chinese if _HAN.search(header[index]) else english).append(index)
    return Layout(
        columns=columns,
        # problems name the spreadsheet's own header (the first that maps to a column)
        shown={column: header[indexes[0]] for column, indexes in columns.items()},
        chinese_titles=chinese,
        english_titles=english,
        header=header,
    )
