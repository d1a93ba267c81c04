"""A collection ledger as Chinese museums export it (issue 19), through the
real service, Kafka and store: the demo's GB18030 file with CRLF line ends,
Chinese headers, protection grades in 级别 and donors in 捐赠人, one bad
grade and one row without a Chinese title."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest

from catalog.cli import main as catalog_cli
from deploy.demo.dataset import COLLECTION_SHEET
from servicekit.auth import Role
from tests.catalog.helpers import auth, collect, make_museum, token
from tests.conftest import Infra
from tests.support import ServiceProcess

pytestmark = [pytest.mark.infra, pytest.mark.asyncio]

BAD_GRADE = (
    "not a protection grade: '特级'; accepted: 一级 / 一级文物 / 1级 / 国家一级 / grade 1 / "
    "first-class (grade_1); 二级 ... (grade_2); 三级 ... (grade_3); "
    "一般 / 一般文物 / 未定级 / general (general)"
)
NO_CHINESE_TITLE = "missing: the Chinese title is required (英文名称 is English)"
GRADES = {
    "CQ-2025-001": "grade_1",  # 一级
    "CQ-2025-002": "grade_1",  # 国家一级文物
    "CQ-2025-003": "grade_2",  # 二级
    "CQ-2025-004": "grade_2",  # 2级
    "CQ-2025-005": "grade_3",  # 三级
    "CQ-2025-006": "general",  # 一般
    "CQ-2025-009": "general",  # 未定级
    "CQ-2025-010": "grade_1",  # 一级文物
}
DONORS = {  # object number -> donor's name (column, credit line, or both)
    "CQ-2025-002": "李明远",  # 来源 only says 捐赠
    "CQ-2025-003": "李明远",  # 李明远先生 in the column, 由李明远先生捐赠 in 来源: one donor
    "CQ-2025-004": "王芳",  # 来源 empty
    "CQ-2025-005": "陈建国",  # the credit line alone
    "CQ-2025-009": "王芳",
}


async def _import(client, museum_id: str, data: bytes):  # noqa: ANN001, ANN202
    return await client.post(
        "/relics:import",
        params={"museum_id": museum_id},
        content=data,
        headers={**auth(token(Role.MUSEUM, museum_id=museum_id)), "Content-Type": "text/csv"},
        timeout=120,
    )


async def _by_number(db, museum_id: str) -> dict[str, dict]:  # noqa: ANN001
    # a test's look into the store: every relic of the museum (not a hot path)
    docs = await db["relics"].find({"museum_id": museum_id}).to_list()
    return {d["provenance"]["notes"].split("\n")[0].removeprefix("object number "): d for d in docs}


async def test_the_ledger_imports_grades_and_donors_and_reports_its_two_bad_rows(
    infra: Infra, client, db
) -> None:
    data = COLLECTION_SHEET.read_bytes()
    assert b"\r\n" in data
    assert data != data.decode("gb18030").encode("utf-8")  # really GB18030
    museum_id = await make_museum(client, name_zh="重庆中国三峡博物馆")
    response = await _import(client, museum_id, data)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["rows"], body["created"], body["updated"], body["unchanged"]) == (8, 8, 0, 0)
    assert (body["rejected"], body["donors"]) == (2, 3)
    assert [(e["row"], e["field"], e["error"]) for e in body["errors"]] == [
        (8, "级别", BAD_GRADE),
        (9, "文物名称", NO_CHINESE_TITLE),
    ]

    stored = await _by_number(db, museum_id)
    assert {n: d["protection_grade"] for n, d in stored.items()} == GRADES
    donors = {n: d["provenance"]["donor"] for n, d in stored.items() if d["provenance"]["donor"]}
    assert {n: d["name"] for n, d in donors.items()} == DONORS
    assert len({d["donor_id"] for d in donors.values()}) == 3
    assert sorted(body["donor_ids"]) == sorted({d["donor_id"] for d in donors.values()})
    assert {stored[n]["provenance"]["acquisition"] for n in DONORS} == {"donation"}
    assert stored["CQ-2025-006"]["provenance"]["acquisition"] == "transfer"
    # an English title column exists: an empty English title stays empty
    assert (stored["CQ-2025-010"]["name_zh"], stored["CQ-2025-010"]["name_en"]) == (
        "青白瓷碗",
        "",
    )

    # the donor on the relic, and in its relic.registered event (ip opens the
    # museum/donor co-ownership from it)
    relic_id = stored["CQ-2025-002"]["_id"]
    relic = (await client.get(f"/relics/{relic_id}")).json()
    assert relic["protection_grade"] == "grade_1"
    assert relic["provenance"]["donor"] == donors["CQ-2025-002"]
    [(kind, event)] = await collect(
        infra.kafka_bootstrap, "catalog.relics", lambda k, _: k.decode() == relic_id, 1
    )
    assert kind == "rebirth.catalog.relic.registered.v1"
    assert (event["protection_grade"], event["donor"]) == ("grade_1", donors["CQ-2025-002"])
    assert event["name_zh"] == "陶说唱俑"


async def test_the_cli_writes_the_two_bad_rows_to_its_report(
    catalog: ServiceProcess, client, db, tmp_path: Path
) -> None:
    museum_id = await make_museum(client)
    report = tmp_path / "report.csv"
    args = ["import", "relics", str(COLLECTION_SHEET), "--museum-id", museum_id]
    args += ["--url", catalog.url, "--token", token(Role.MUSEUM, museum_id=museum_id)]
    args += ["--report", str(report), "--chunk-rows", "3"]
    assert await asyncio.to_thread(catalog_cli, args) == 3
    with report.open(encoding="utf-8-sig", newline="") as lines:
        assert list(csv.reader(lines)) == [
            ["row", "field", "error"],
            ["8", "级别", BAD_GRADE],
            ["9", "文物名称", NO_CHINESE_TITLE],
        ]
    stored = await _by_number(db, museum_id)
    assert {n: d["protection_grade"] for n, d in stored.items()} == GRADES


async def test_a_corrected_ledger_updates_grades_and_donors_in_place_and_announces_them(
    infra: Infra, client, db
) -> None:
    museum_id = await make_museum(client)
    first = await _import(client, museum_id, COLLECTION_SHEET.read_bytes())
    assert first.status_code == 201, first.text
    text = COLLECTION_SHEET.read_bytes().decode("gb18030")
    corrected = (
        text.replace(",青铜,一级,征集,", ",青铜,二级,征集,")  # CQ-2025-001 regraded
        .replace(",一般,调拨,,", ",一般,调拨,孙立,")  # CQ-2025-006 was given by 孙立
        .replace(",特级,", ",一级,")  # CQ-2025-007's grade fixed
        .replace("CQ-2025-008,,", "CQ-2025-008,剔红漆盒,")  # its Chinese title added
    )  # fmt: skip
    assert corrected.count("\r\n") == text.count("\r\n")
    again = await _import(client, museum_id, corrected.encode("gb18030"))
    assert again.status_code == 201, again.text
    body = again.json()
    assert (body["created"], body["updated"], body["unchanged"], body["rejected"]) == (2, 2, 6, 0)
    assert body["donors"] == 2  # 孙立 on CQ-2025-006, 赵敏 on the new CQ-2025-007
    assert body["relic_ids"][:6] == first.json()["relic_ids"][:6]  # same relics, in place

    stored = await _by_number(db, museum_id)
    assert len(stored) == 10
    assert stored["CQ-2025-001"]["protection_grade"] == "grade_2"
    assert stored["CQ-2025-007"]["protection_grade"] == "grade_1"
    sun = stored["CQ-2025-006"]["provenance"]
    assert (sun["acquisition"], sun["donor"]["name"]) == ("donation", "孙立")
    for number, expected in [
        ("CQ-2025-001", ("grade_2", None)),
        ("CQ-2025-006", ("general", sun["donor"])),
    ]:
        relic_id = stored[number]["_id"]
        events = await collect(
            infra.kafka_bootstrap, "catalog.relics", lambda k, _, r=relic_id: k.decode() == r, 2
        )
        assert [kind for kind, _ in events] == [
            "rebirth.catalog.relic.registered.v1",
            "rebirth.catalog.relic.updated.v1",
        ]
        assert (events[1][1]["protection_grade"], events[1][1]["donor"]) == expected
