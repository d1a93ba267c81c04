"""Collection import from the real museum exports in ../shared/data
(read in place, never copied into the repository)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from catalog.cli import main as import_cli
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


@pytest.fixture
def shared_data() -> None:
    assert MET.exists(), f"{MET} is missing: the import tests read ../shared/data"
    assert NPM.exists(), f"{NPM} is missing: the import tests read ../shared/data"


@needs_data
async def test_the_cli_imports_the_palace_museum_export_and_relics_are_announced(
    infra: Infra, catalog: ServiceProcess, client
) -> None:
    museum_id = await make_museum(
        client, name_zh="台北故宫博物院", name_en="National Palace Museum"
    )
    museum_token = token(Role.MUSEUM, museum_id=museum_id)
    args = [str(NPM), "--museum-id", museum_id, "--url", catalog.url, "--token", museum_token]
    assert await asyncio.to_thread(import_cli, args) == 0
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
    # a tourist may not import
    other = [
        str(NPM),
        "--museum-id",
        museum_id,
        "--url",
        catalog.url,
        "--token",
        token(Role.TOURIST),
    ]
    assert await asyncio.to_thread(import_cli, other) == 1


@needs_data
async def test_the_met_export_imports_whole_and_a_second_run_adds_nothing(client, db) -> None:
    museum_id = await make_museum(client, name_en="The Met (test)", name_zh="大都会")
    museum = auth(token(Role.MUSEUM, museum_id=museum_id))
    response = await client.post(
        "/relics:import",
        params={"museum_id": museum_id},
        content=MET.read_bytes(),
        headers={**museum, "Content-Type": "text/csv"},
        timeout=120,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["rows"], body["created"]) == (500, 500)
    relic = (await client.get(f"/relics/{body['relic_ids'][0]}")).json()
    assert relic["name_en"] == "Mynah on a Branch"
    assert relic["provenance"]["donor"]["name"] == "Mary M. Anderberg"
    assert relic["provenance"]["acquired_year"] == 2008
    assert await db["relics"].count_documents({"museum_id": museum_id}) == 500

    again = await client.post(
        "/relics:import",
        params={"museum_id": museum_id},
        content=MET.read_bytes(),
        headers={**museum, "Content-Type": "text/csv"},
        timeout=120,
    )
    assert again.status_code == 201
    assert again.json()["created"] == 0
    assert await db["relics"].count_documents({"museum_id": museum_id}) == 500


@needs_data
async def test_one_bad_row_rejects_the_whole_file_with_every_problem(client, db) -> None:
    museum_id = await make_museum(client)
    lines = NPM.read_text(encoding="utf-8").split("\n")
    header = lines[0].split(",")
    assert header[0] == "relic_id"
    lines[3] = "NOT AN ID" + lines[3][lines[3].index(",") :]
    lines[7] = lines[7].replace('"[{""url"":""https://', '"[{""url"":""ftp://', 1)
    response = await client.post(
        "/relics:import",
        params={"museum_id": museum_id},
        content="\n".join(lines).encode(),
        headers={**auth(OPERATOR), "Content-Type": "text/csv"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert [(e["row"], e["field"]) for e in errors] == [(3, "relic_id"), (7, "images")]
    assert await db["relics"].count_documents({"museum_id": museum_id}) == 0
