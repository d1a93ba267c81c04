"""Collection import, pure: decoding, header mapping, row validation."""

from pathlib import Path

import pytest

from catalog.domain import Donor, Image
from catalog.importer import (
    COLUMNS,
    RowProblem,
    UnreadableFile,
    column_of,
    decode_collection,
    grade_of,
    parse_collection,
    registered_donor,
)
from catalog.relic_import import museum_donor

# shared/ sits beside the repository; its files are read in place, never copied
DATA = Path(__file__).resolve().parents[5] / "shared" / "data"

HEADER = "Object Number,Title,Date,Medium,Classification,Credit Line,Image URL,Accession Year\n"


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("Object Number", "object_number"),
        ("object_number", "object_number"),
        ("  OBJECT  NO. ", "object_number"),
        ("Accession Number", "object_number"),
        ("编号", "object_number"),
        ("藏品编号", "object_number"),
        ("登录号", "object_number"),
        ("Title", "title"),
        ("名称", "title"),
        ("藏品名称", "title"),
        ("Date", "date"),
        ("Period", "date"),
        ("年代", "date"),
        ("时代", "date"),
        ("Medium", "medium"),
        ("Material", "medium"),
        ("质地", "medium"),
        ("材质", "medium"),
        ("Classification", "classification"),
        ("类别", "classification"),
        ("Credit Line", "credit_line"),
        ("creditLine", "credit_line"),
        ("来源", "credit_line"),
        ("捐赠", "credit_line"),
        ("Image URL", "image_url"),
        ("image-url", "image_url"),
        ("图片", "image_url"),
        ("ＴＩＴＬＥ", "title"),  # full-width, as Chinese input methods type it
        ("Weight", None),
    ],
)
def test_headers_map_ignoring_case_spaces_punctuation_and_width(
    header: str, column: str | None
) -> None:
    assert column_of(header) == column


def test_an_english_sheet_maps_every_documented_column() -> None:
    text = HEADER + (
        "2008.1,Ding with taotie mask,Shang dynasty,Bronze,Bronzes,"
        '"Gift of Jane Doe, 2008",https://example.org/a.jpg https://example.org/b.jpg,2008\n'
    )
    relics, problems = parse_collection(text)
    assert problems == []
    (relic,) = relics
    assert relic.row == 2
    assert (relic.name_zh, relic.name_en) == ("Ding with taotie mask", "Ding with taotie mask")
    assert relic.period == "Shang dynasty"
    assert relic.category == "bronze"
    assert relic.description == "Medium: Bronze"
    assert relic.images == [Image("https://example.org/a.jpg"), Image("https://example.org/b.jpg")]
    assert relic.provenance is not None
    assert relic.provenance.acquisition == "donation"
    assert relic.provenance.donor == Donor("donor-jane-doe", "Jane Doe")
    assert relic.provenance.acquired_year == 2008
    assert relic.provenance.notes == "object number 2008.1\nGift of Jane Doe, 2008"


def test_a_chinese_sheet_maps_its_synonyms_and_keeps_unknown_classifications() -> None:
    text = (
        "藏品编号,藏品名称,英文名称,时代,材质,类别,来源,图片\n"
        "CQ-001,青铜虎钮錞于,Bronze chunyu with tiger knob,战国,青铜,青铜器,张三先生捐赠,\n"
        "CQ-002,蜀锦残片,,唐,丝,丝织品,征集,\n"
    )
    relics, problems = parse_collection(text)
    assert problems == []
    first, second = relics
    assert (first.name_zh, first.name_en) == ("青铜虎钮錞于", "Bronze chunyu with tiger knob")
    assert (first.period, first.category, first.description) == ("战国", "bronze", "材质: 青铜")
    assert first.provenance is not None
    assert first.provenance.acquisition == "donation"
    assert first.provenance.donor is not None
    assert first.provenance.donor.name == "张三"
    # the file has an English title column: an empty one is no reason to put
    # Chinese into `name_en` (issue 19)
    assert (second.name_zh, second.name_en, second.category) == ("蜀锦残片", "", "丝织品")
    assert second.provenance is not None
    assert second.provenance.acquisition == "purchase"


def test_every_problem_of_every_bad_row_is_reported_and_good_rows_still_map() -> None:
    text = (
        HEADER
        + (
            "A-1,Good one,,,,,,\n"
            ",,,,,,ftp://example.org/x.jpg,late 1990s\n"  # no number, no title, bad URL, bad year
            "A-3,Also good,,,,,,\n"
            "A-4," + "x" * 201 + ",,,,,,\n"
            "A-5,Extra cells,,,,,,,unexpected\n"
            "A-1,The same object again,,,,,,\n"
        )
    )
    relics, problems = parse_collection(text)
    assert [r.name_en for r in relics] == ["Good one", "Also good"]
    assert [(p.row, p.field) for p in problems] == [
        (3, "Object Number"),
        (3, "Title"),
        (3, "Image URL"),
        (3, "Accession Year"),
        (5, "Title"),
        (6, "row"),
        (7, "Object Number"),
    ]
    assert problems[4].error == "longer than 200 characters"
    assert problems[6].error == "the same object as row 2"


def test_rows_are_numbered_as_a_spreadsheet_shows_them() -> None:
    # a quoted line break stays in its row; a blank line is a row of its own
    text = HEADER + 'A-1,"Two\nlines",,,,,,\n\nA-2,,,,,,,\n'
    relics, problems = parse_collection(text)
    assert relics[0].name_en == "Two\nlines"
    assert problems == [RowProblem(4, "Title", "missing")]


def test_one_object_number_keeps_one_id_and_different_numbers_never_share_one() -> None:
    def source_id(number: str) -> str:
        relics, _ = parse_collection(HEADER + f"{number},T,,,,,,\n")
        return relics[0].source_id

    assert source_id("2008.1") == source_id(" 2008.1 ")
    assert source_id("２００８.１") == source_id("2008.1")  # full-width digits
    assert source_id("A.1") != source_id("A-1")
    assert source_id("故瓷003416") != source_id("故铜003416")


def test_a_file_we_cannot_read_is_one_problem_of_the_whole_file() -> None:
    assert parse_collection("Weight,Height\n1,2\n") == (
        [],
        [RowProblem(1, "header", parse_collection("x\n")[1][0].error)],
    )
    assert parse_collection(HEADER) == ([], [RowProblem(0, "file", "no rows")])
    many = HEADER + "".join(f"A-{i},T,,,,,,\n" for i in range(4))
    assert parse_collection(many, max_rows=3) == ([], [RowProblem(5, "file", "more than 3 rows")])


def test_utf8_with_or_without_bom_and_gb18030_decode() -> None:
    text = "编号,名称\nCQ-1,䶮鼎\n"  # 䶮 is beyond GBK: only GB18030 has it
    assert decode_collection(text.encode()) == text
    assert decode_collection(b"\xef\xbb\xbf" + text.encode()) == text
    assert decode_collection(text.encode("gb18030")) == text
    assert decode_collection(text.encode("gb18030"), "GBK") == text  # GBK hints mean GB18030
    taipei = "編號,名稱\nNPM-1,玉璧\n"
    assert decode_collection(taipei.encode("big5"), "big5") == taipei  # a named charset first
    assert decode_collection(b"\xef\xbb\xbf" + text.encode(), "gb18030") == text  # BOM wins


def test_bytes_that_are_no_text_and_unknown_charsets_are_refused() -> None:
    with pytest.raises(UnreadableFile, match="gb18030"):
        decode_collection(b"a,b\n\x80\xff\n")
    with pytest.raises(UnreadableFile, match="unknown charset"):
        decode_collection(b"a,b\n", "no-such-charset")


def test_the_met_and_palace_museum_exports_still_map_whole() -> None:
    met, met_problems = parse_collection(
        decode_collection((DATA / "real_western_collection.csv").read_bytes())
    )
    npm, npm_problems = parse_collection(
        decode_collection((DATA / "real_chinese_relics.csv").read_bytes())
    )
    assert (len(met), met_problems, len(npm), npm_problems) == (500, [], 45, [])
    assert met[0].source_id == "met-73778"
    assert (npm[0].source_id, npm[0].name_zh) == ("npm-1752", "漢梵兩體準提咒鏡")


@pytest.mark.parametrize(
    ("credit", "acquisition", "donor"),
    [
        ("Gift of Jane Doe, 2008", "donation", "Jane Doe"),
        ("Bequest of John Roe", "bequest", "John Roe"),
        ("张三先生捐赠", "donation", "张三"),
        ("捐赠人：李四", "donation", "李四"),
        ("Purchase, Rogers Fund, 1923", "purchase", None),
        ("1977年考古发掘", "excavation", None),
        ("", None, None),
    ],
)
def test_a_credit_line_gives_the_acquisition_and_the_donor(
    credit: str, acquisition: str | None, donor: str | None
) -> None:
    relics, _ = parse_collection(HEADER.replace("Credit Line", "来源") + f'A-1,T,,,,"{credit}",,\n')
    provenance = relics[0].provenance
    assert provenance is not None
    assert provenance.acquisition == acquisition
    assert (provenance.donor.name if provenance.donor else None) == donor


def test_the_import_guide_lists_every_header_the_importer_reads() -> None:
    guide = (Path(__file__).resolve().parents[4] / "docs" / "import.md").read_text()
    missing = [h for names in COLUMNS.values() for h in names if f"`{h}`" not in guide]
    assert missing == []


# --- issue 19: grades, donors, the language of titles ------------------------------

CHONGQING = "藏品编号,文物名称,英文名称,年代,类别,级别,来源,捐赠人\n"


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("级别", "grade"),
        ("文物级别", "grade"),
        ("等级", "grade"),
        ("定级", "grade"),
        ("Grade", "grade"),
        ("Protection Grade", "grade"),
        ("protection_grade", "grade"),
        ("捐赠人", "donor"),
        ("捐赠者", "donor"),
        ("捐献人", "donor"),
        ("Donor", "donor"),
        ("donated by", "donor"),
    ],
)
def test_grade_and_donor_headers_map(header: str, column: str) -> None:
    assert column_of(header) == column


@pytest.mark.parametrize(
    ("value", "grade"),
    [
        ("一级", "grade_1"),
        ("一级文物", "grade_1"),
        ("1级", "grade_1"),
        ("１级", "grade_1"),  # full-width digit
        ("国家一级", "grade_1"),
        ("国家一级文物", "grade_1"),
        ("壹级", "grade_1"),
        ("Grade 1", "grade_1"),
        ("grade I", "grade_1"),
        ("first-class", "grade_1"),
        ("First Class", "grade_1"),
        ("1st class", "grade_1"),
        ("grade_1", "grade_1"),
        ("二级", "grade_2"),
        ("二级文物", "grade_2"),
        ("国家二级", "grade_2"),
        ("Grade II", "grade_2"),
        ("second-class", "grade_2"),
        ("三级", "grade_3"),
        ("3级", "grade_3"),
        ("third class", "grade_3"),
        ("一般", "general"),
        ("一般文物", "general"),
        ("未定级", "general"),
        ("General", "general"),
        ("特级", None),
        ("四级", None),
        ("A", None),
        ("grade 4", None),
    ],
)
def test_grade_spellings(value: str, grade: str | None) -> None:
    assert grade_of(value) == grade


def test_a_chongqing_ledger_reads_grades_and_donors_and_refuses_a_bad_grade() -> None:
    text = CHONGQING + (
        "CQ-1,青铜虎钮錞于,Bronze chunyu,战国,青铜器,一级,捐赠,李明远\n"
        "CQ-2,陶说唱俑,Storyteller figurine,汉,陶器,国家二级文物,由李明远先生捐赠,李明远先生\n"
        "CQ-3,蜀锦残片,,唐,织绣,特级,征集,\n"
        "CQ-4,白玉如意,White jade ruyi,清,玉器,,由王芳女士捐赠,\n"
        "CQ-5,山水图轴,Landscape scroll,明,书画,Grade 3,,张  伟\n"
    )
    relics, problems = parse_collection(text)
    assert [r.row for r in relics] == [2, 3, 5, 6]
    assert [(p.row, p.field) for p in problems] == [(4, "级别")]
    assert problems[0].error.startswith("not a protection grade: '特级'; accepted: 一级")
    assert "一般" in problems[0].error
    by_row = {r.row: r for r in relics}
    assert [r.protection_grade for r in relics] == ["grade_1", "grade_2", None, "grade_3"]
    donors = {r.row: (r.provenance.acquisition, r.provenance.donor) for r in relics if r.provenance}
    li = Donor(donors[2][1].donor_id, "李明远")  # type: ignore[union-attr]
    assert donors[2] == ("donation", li)  # 来源 only says 捐赠
    assert donors[3] == ("donation", li)  # column and credit line: one donor
    assert donors[5][0] == "donation"
    assert donors[5][1] is not None
    assert donors[5][1].name == "王芳"  # from the credit line alone
    assert donors[6] == ("donation", Donor(donors[6][1].donor_id, "张 伟"))  # type: ignore[union-attr]
    assert by_row[6].provenance.notes == "object number CQ-5"  # type: ignore[union-attr]


def test_a_donor_column_makes_a_donation_whatever_the_credit_line_says() -> None:
    text = "Object Number,Title,Credit Line,Donor\nA-1,Ding,Purchase 1990,Jane Doe\n"
    (relic,), problems = parse_collection(text)
    assert problems == []
    assert relic.provenance is not None
    assert relic.provenance.acquisition == "donation"
    assert relic.provenance.donor == Donor("donor-jane-doe", "Jane Doe")
    bequest = "Object Number,Title,Credit Line,Donor\nA-1,Ding,Bequest of Jane Doe,Jane Doe\n"
    (relic,), _ = parse_collection(bequest)
    assert relic.provenance is not None
    assert relic.provenance.acquisition == "bequest"


def test_an_empty_chinese_title_is_an_error_when_the_file_has_a_chinese_title_column() -> None:
    text = CHONGQING + (
        "CQ-1,,Bronze chunyu,战国,青铜器,一级,,\n"  # English filled, Chinese empty
        "CQ-2,,,汉,陶器,,,\n"  # both empty
        "CQ-3,陶楼,,汉,陶器,,,\n"  # no English: name_en stays empty, never Chinese
    )
    relics, problems = parse_collection(text)
    assert [(p.row, p.field, p.error) for p in problems] == [
        (2, "文物名称", "missing: the Chinese title is required (英文名称 is English)"),
        (3, "文物名称", "missing"),
    ]
    (relic,) = relics
    assert (relic.name_zh, relic.name_en) == ("陶楼", "")


def test_titles_follow_their_column_language() -> None:
    # a plain title headed in English is the English title; 中文名称 the Chinese one
    text = "Object Number,Title,中文名称\nA-1,Ding,鼎\nA-2,Gui,\n"
    relics, problems = parse_collection(text)
    assert [(r.name_zh, r.name_en) for r in relics] == [("鼎", "Ding")]
    assert [(p.row, p.field) for p in problems] == [(3, "中文名称")]
    # one language only: used for both names, as before
    (chinese,), _ = parse_collection("编号,名称\nA-1,鼎\n")
    (english,), _ = parse_collection("Object Number,Title\nA-1,Ding\n")
    assert (chinese.name_zh, chinese.name_en) == ("鼎", "鼎")
    assert (english.name_zh, english.name_en) == ("Ding", "Ding")
    # the dedicated column wins over a plain one of the same language
    (both,), _ = parse_collection("编号,名称,中文名称,英文名称\nA-1,鼎,青铜鼎,Bronze ding\n")
    assert (both.name_zh, both.name_en) == ("青铜鼎", "Bronze ding")


def test_a_file_without_a_grade_column_grades_nothing() -> None:
    (relic,), _ = parse_collection("编号,名称\nA-1,鼎\n")
    assert relic.protection_grade is None


def test_the_registered_donor_is_a_new_relics_or_a_changed_one() -> None:
    from datetime import UTC, datetime

    from catalog.domain import Provenance, Relic

    def relic(donor: Donor | None) -> Relic:
        moment = datetime(2025, 1, 1, tzinfo=UTC)
        return Relic(
            "rel-1", "mus-1", "鼎", "Ding", None, "bronze", None, "general", False, None, [],
            Provenance(donor=donor), [], moment, moment,
        )  # fmt: skip

    li, wang = Donor("donor-li", "李"), Donor("donor-wang", "王")
    assert registered_donor(None, relic(li)) == "donor-li"
    assert registered_donor(None, relic(None)) is None
    assert registered_donor(relic(li), relic(li)) is None
    assert registered_donor(relic(li), relic(wang)) == "donor-wang"
    assert registered_donor(relic(None), relic(wang)) == "donor-wang"


def test_a_donor_is_a_museums_donor_even_when_two_museums_share_a_name() -> None:
    wang = Donor("donor-wang-fang", "王芳")
    here, there = museum_donor(wang, "museum-a"), museum_donor(wang, "museum-b")
    assert here.donor_id != there.donor_id  # two holders, each museum's own
    assert here == museum_donor(wang, "museum-a")  # a re-import finds the same one
    assert here.name == "王芳"
    assert here.donor_id.startswith("donor-wang-fang-")
    assert len(museum_donor(Donor("donor-" + "x" * 94, "X"), "m" * 100).donor_id) <= 100
