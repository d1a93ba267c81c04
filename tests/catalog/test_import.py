"""Collection import through the real service: the real museum exports in
../shared/data (read in place, never copied into the repository) and
generated spreadsheets in English and Chinese, UTF-8 and GB18030."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest

from catalog.cli import main as catalog_cli
from servicekit.auth import Role
from tests.catalog.helpers import OPERATOR, auth, collect, make_museum, token
from tests.conftest import Infra
from tests.support import ServiceProcess

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

# shared/ sits beside the repository (in CI too); the data is never copied in
DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
MET = DATA / "real_western_collection.csv"
NPM = DATA / "real_chinese_relics.csv"

needs_data = pytest.mark.usefixtures("shared_data")

ENGLISH = [
    "Object Number",
    "Title",
    "Date",
    "Medium",
    "Classification",
    "Image URL",
    "Accession Year",
]
CHINESE = ["藏品编号", "名称", "年代", "质地", "类别", "来源", "图片"]


@pytest.fixture
def shared_data() -> None:
    assert MET.exists(), f"{MET} is missing: the import tests read ../shared/data"
    assert NPM.exists(), f"{NPM} is missing: the import tests read ../shared/data"


def english_sheet(count: int, bad: dict[int, tuple[int, str]] | None = None) -> str:
    """`count` records; `bad` replaces record i's cell at a column index."""
    rows = [
        [f"CQ-{i:03d}", f"Bronze bell {i}", "Warring States", "bronze", "Bronzes", "", "1998"]
        for i in range(1, count + 1)
    ]
    for i, (column, value) in (bad or {}).items():
        rows[i - 1][column] = value
    return _csv(ENGLISH, rows)


def chinese_sheet(count: int, prefix: str = "渝") -> str:
    rows = [
        [
            f"{prefix}-{i:03d}",
            f"䶮青铜虎钮錞于{i}号",  # 䶮 is beyond GBK: only GB18030 carries it
            "战国",
            "青铜",
            "青铜器",
            "张三先生捐赠",
            f"https://example.org/{i}.jpg",
        ]
        for i in range(1, count + 1)
    ]
    return _csv(CHINESE, rows)


def _csv(header: list[str], rows: list[list[str]]) -> str:
    lines = [header, *rows]
    return "".join(",".join(cells) + "\r\n" for cells in lines)  # as spreadsheets save


async def _import(client, museum_id: str, data: bytes, content_type: str = "text/csv"):  # noqa: ANN001, ANN202
    return await client.post(
        "/relics:import",
        params={"museum_id": museum_id},
        content=data,
        headers={**auth(token(Role.MUSEUM, museum_id=museum_id)), "Content-Type": content_type},
        timeout=120,
    )


@needs_data
async def test_the_cli_imports_the_palace_museum_export_and_relics_are_announced(
    infra: Infra, catalog: ServiceProcess, client, tmp_path: Path
) -> None:
    museum_id = await make_museum(
        client, name_zh="台北故宫博物院", name_en="National Palace Museum"
    )
    museum_token = token(Role.MUSEUM, museum_id=museum_id)
    report = tmp_path / "npm-report.csv"
    args = ["import", "relics", str(NPM), "--museum-id", museum_id, "--url", catalog.url]
    args += ["--token", museum_token, "--report", str(report)]
    assert await asyncio.to_thread(catalog_cli, args) == 0
    assert report.read_text(encoding="utf-8-sig").splitlines() == ["row,field,error"]
    relic_id = f"rel_{museum_id}_npm-1752"
    relic = (await client.get(f"/relics/{relic_id}")).json()
    assert relic["name_zh"] == "漢梵兩體準提咒鏡"
    assert relic["name_en"] == "Bronze mirror with Chinese and Sanskrit inscriptions"
    assert relic["category"] == "bronze"
    assert relic["period"] == "元"
    events = await collect(
        infra.kafka_bootstrap, "catalog.relics", lambda k, _: k.decode() == relic_id, 1
    )
    assert events[0][0] == "rebirth.catalog.relic.registered.v1"
    # a tourist may not import: nothing lands, the report says why, exit 1
    other = [*args[:-1], str(tmp_path / "tourist-report.csv")]
    other[other.index(museum_token)] = token(Role.TOURIST)
    assert await asyncio.to_thread(catalog_cli, other) == 1
    assert "403" in (tmp_path / "tourist-report.csv").read_text(encoding="utf-8-sig")


@needs_data
async def test_the_met_export_imports_whole_and_a_second_run_adds_nothing(client, db) -> None:
    museum_id = await make_museum(client, name_en="The Met (test)", name_zh="大都会")
    response = await _import(client, museum_id, MET.read_bytes())
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["rows"], body["created"], body["rejected"], body["errors"]) == (500, 500, 0, [])
    relic = (await client.get(f"/relics/{body['relic_ids'][0]}")).json()
    assert relic["name_en"] == "Mynah on a Branch"
    assert relic["provenance"]["donor"]["name"] == "Mary M. Anderberg"
    assert relic["provenance"]["acquired_year"] == 2008
    assert await db["relics"].count_documents({"museum_id": museum_id}) == 500

    again = await _import(client, museum_id, MET.read_bytes())
    assert again.status_code == 201
    assert (again.json()["created"], again.json()["unchanged"]) == (0, 500)
    assert await db["relics"].count_documents({"museum_id": museum_id}) == 500


async def test_three_bad_rows_among_fifty_import_47_and_report_the_3(client, db) -> None:
    museum_id = await make_museum(client)
    # records 7, 23 and 41 are spreadsheet rows 8, 24 and 42 (the header is row 1)
    sheet = english_sheet(50, {7: (1, ""), 23: (5, "ftp://example.org/x.jpg"), 41: (6, "soon")})
    response = await _import(client, museum_id, sheet.encode())
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["rows"], body["created"], body["rejected"]) == (47, 47, 3)
    assert [(e["row"], e["field"]) for e in body["errors"]] == [
        (8, "Title"),
        (24, "Image URL"),
        (42, "Accession Year"),
    ]
    assert body["errors"][0]["error"] == "missing"
    assert "not an http(s) URL" in body["errors"][1]["error"]
    assert "not a year" in body["errors"][2]["error"]
    stored = await db["relics"].find({"museum_id": museum_id}).to_list()
    assert len(stored) == 47
    names = {doc["name_en"] for doc in stored}
    assert "Bronze bell 8" in names
    assert {"Bronze bell 23", "Bronze bell 41"}.isdisjoint(names)


@needs_data
async def test_bad_rows_of_the_palace_museum_export_are_reported_the_rest_imports(
    client, db
) -> None:
    museum_id = await make_museum(client)
    lines = NPM.read_text(encoding="utf-8").split("\n")
    assert lines[0].split(",")[0] == "relic_id"
    lines[3] = "NOT AN ID" + lines[3][lines[3].index(",") :]
    lines[7] = lines[7].replace('"[{""url"":""https://', '"[{""url"":""ftp://', 1)
    response = await _import(client, museum_id, "\n".join(lines).encode())
    assert response.status_code == 201, response.text
    assert [(e["row"], e["field"]) for e in response.json()["errors"]] == [
        (4, "relic_id"),
        (8, "images"),
    ]
    assert await db["relics"].count_documents({"museum_id": museum_id}) == 43


async def test_a_file_of_only_bad_rows_imports_nothing_and_answers_422(client, db) -> None:
    museum_id = await make_museum(client)
    sheet = english_sheet(3, {1: (0, ""), 2: (1, ""), 3: (6, "someday")})
    response = await _import(client, museum_id, sheet.encode())
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert [(e["row"], e["field"]) for e in problem["errors"]] == [
        (2, "Object Number"),
        (3, "Title"),
        (4, "Accession Year"),
    ]
    assert await db["relics"].count_documents({"museum_id": museum_id}) == 0


async def test_a_gb18030_file_imports_with_its_chinese_names_intact(client, db) -> None:
    museum_id = await make_museum(client, name_zh="重庆中国三峡博物馆")
    sheet = chinese_sheet(5)
    data = sheet.encode("gb18030")
    assert data != sheet.encode("utf-8")
    response = await _import(client, museum_id, data)  # no charset: detected
    assert response.status_code == 201, response.text
    assert (response.json()["created"], response.json()["errors"]) == (5, [])
    relic = (await client.get(f"/relics/{response.json()['relic_ids'][2]}")).json()
    assert (relic["name_zh"], relic["period"], relic["category"]) == (
        "䶮青铜虎钮錞于3号",
        "战国",
        "bronze",
    )
    assert relic["provenance"]["donor"]["name"] == "张三"
    assert relic["images"][0]["uri"] == "https://example.org/3.jpg"
    listed = (await client.get("/relics", params={"museum_id": museum_id})).json()["items"]
    assert sorted(r["name_zh"] for r in listed) == [f"䶮青铜虎钮錞于{i}号" for i in range(1, 6)]

    # a charset named by the sender is used, and a UTF-8 BOM file reads too
    hinted = await _import(
        client, museum_id, chinese_sheet(2, "蜀").encode("gb18030"), "text/csv; charset=GBK"
    )
    assert hinted.status_code == 201, hinted.text
    bom = await _import(client, museum_id, b"\xef\xbb\xbf" + chinese_sheet(2, "巴").encode())
    assert bom.status_code == 201, bom.text
    assert await db["relics"].count_documents({"museum_id": museum_id}) == 9

    # bytes that are no text are a 422 problem, not a crash
    broken = await _import(client, museum_id, CHINESE[0].encode() + b"\n\x80\xff\x80\n")
    assert broken.status_code == 422
    assert broken.headers["content-type"] == "application/problem+json"
    assert broken.json()["errors"][0]["field"] == "file"


async def test_a_reimport_updates_by_object_number_and_creates_no_duplicates(client, db) -> None:
    museum_id = await make_museum(client)
    first = await _import(client, museum_id, english_sheet(20).encode())
    assert first.status_code == 201
    assert first.json()["created"] == 20
    changed = english_sheet(20).replace("Bronze bell 5,", "Bronze bell five,")
    again = await _import(client, museum_id, changed.encode())
    assert again.status_code == 201, again.text
    assert (again.json()["created"], again.json()["updated"], again.json()["unchanged"]) == (
        0,
        1,
        19,
    )
    assert again.json()["relic_ids"] == first.json()["relic_ids"]
    stored = await db["relics"].find({"museum_id": museum_id}).to_list()
    notes = [doc["provenance"]["notes"].split("\n")[0] for doc in stored]
    assert sorted(notes) == [f"object number CQ-{i:03d}" for i in range(1, 21)]
    relic = (await client.get(f"/relics/{first.json()['relic_ids'][4]}")).json()
    assert (relic["name_en"], relic["version"]) == ("Bronze bell five", 2)


async def test_the_cli_reports_bad_rows_in_a_file_and_exits_3_then_0_once_fixed(
    catalog: ServiceProcess, client, db, tmp_path: Path
) -> None:
    museum_id = await make_museum(client)
    sheet = tmp_path / "藏品.csv"
    bad = {7: (1, ""), 23: (5, "ftp://example.org/x.jpg"), 41: (6, "soon")}
    sheet.write_bytes(english_sheet(50, bad).encode("gb18030"))
    args = ["import", "relics", str(sheet), "--museum-id", museum_id, "--url", catalog.url]
    args += ["--token", token(Role.MUSEUM, museum_id=museum_id), "--chunk-rows", "20"]
    assert await asyncio.to_thread(catalog_cli, args) == 3
    report = tmp_path / "藏品.import-report.csv"  # beside the file by default
    with report.open(encoding="utf-8-sig", newline="") as lines:
        rows = list(csv.DictReader(lines))
    assert [(r["row"], r["field"]) for r in rows] == [
        ("8", "Title"),
        ("24", "Image URL"),
        ("42", "Accession Year"),
    ]
    assert all(r["error"] for r in rows)
    assert await db["relics"].count_documents({"museum_id": museum_id}) == 47

    sheet.write_bytes(english_sheet(50).encode("gb18030"))
    assert await asyncio.to_thread(catalog_cli, args) == 0
    assert report.read_text(encoding="utf-8-sig").splitlines() == ["row,field,error"]
    assert await db["relics"].count_documents({"museum_id": museum_id}) == 50


async def test_only_the_museum_itself_or_an_operator_may_import(client) -> None:
    museum_id = await make_museum(client)
    other = await make_museum(client)
    sheet = english_sheet(1).encode()
    for bearer, expected in [
        (token(Role.MUSEUM, museum_id=other), 403),
        (token(Role.TOURIST), 403),
        (OPERATOR, 201),
    ]:
        response = await client.post(
            "/relics:import",
            params={"museum_id": museum_id},
            content=sheet,
            headers={**auth(bearer), "Content-Type": "text/csv"},
        )
        assert response.status_code == expected, response.text
