"""Museum staff managed through catalog's endpoints against the real Keycloak
(issue 24, item 3): a real catalog process configured with the realm as its
OpenID issuer and with the `rebirth-staff-admin` client's secret.

An operator (the `rebirth-ops` client) onboards a museum's first administrator;
the administrator signs in (the test-only direct-grant client of `sign_in`)
and adds, lists and removes its staff; a removed user gets no more tokens. A
museum administrator never reaches another museum's users, never grants
`operator`, never moves a user to another museum: each attempt is a problem
answer and the provider's users are the same afterwards. Unconfigured, or
with the provider unreachable, the endpoints answer 503 problem+json.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from keycloak import Keycloak

from tests.conftest import Infra
from tests.security.conftest import PASSWORD, PROBLEM, TEST_CLIENT, SignIn, oidc_env, segments
from tests.support import ServiceProcess, free_port, unique

pytestmark = [pytest.mark.infra, pytest.mark.keycloak, pytest.mark.asyncio]

STAFF_CLIENT = "rebirth-staff-admin"
MUSEUM = {"name_zh": "测试博物馆", "name_en": "Test Museum", "city": "重庆", "province": "重庆"}


@pytest.fixture(scope="module")
def catalog(infra: Infra, keycloak: Keycloak) -> Iterator[ServiceProcess]:
    env = {
        **oidc_env(infra, keycloak),
        "STAFF_PROVIDER_URL": keycloak.url,
        # what `make up` does: read the secret Keycloak generated at import
        "STAFF_PROVIDER_CLIENT_SECRET": keycloak.client_secret(STAFF_CLIENT),
    }
    process = ServiceProcess("catalog", env)
    yield process
    process.stop()


def operator_token(sign_in: SignIn) -> str:
    ops = sign_in.keycloak.client_credentials("rebirth-ops", sign_in.ops_secret)
    return str(ops["access_token"])


async def call(
    service: ServiceProcess, token: str | None, method: str, path: str, body: object = None
) -> httpx.Response:
    async with service.client(token) as client:
        return await client.request(method, path, json=body)


async def new_museum(service: ServiceProcess, token: str) -> str:
    created = await call(service, token, "POST", "/museums", MUSEUM)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def staff_body(prefix: str, *, admin: bool = False, **more: Any) -> dict[str, Any]:
    username = unique(prefix)
    return {"username": username, "email": f"{username}@example.test", "admin": admin, **more}


def sign_in_as(keycloak: Keycloak, user_id: str, username: str) -> dict[str, Any]:
    """Tokens of a new staff member. Its first sign-in must replace the
    temporary password (the login form's UPDATE_PASSWORD page); the test sets
    one through the admin API instead, which clears that required action."""
    status, answer = keycloak.admin(
        "PUT",
        f"/users/{user_id}/reset-password",
        {"type": "password", "value": PASSWORD, "temporary": False},
    )
    assert status == 204, answer
    return keycloak.password_grant(TEST_CLIENT, username, PASSWORD)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def user(keycloak: Keycloak, user_id: str) -> dict[str, Any]:
    status, found = keycloak.admin("GET", f"/users/{user_id}")
    assert status == 200, found
    assert isinstance(found, dict)
    return found


def realm_roles(keycloak: Keycloak, user_id: str) -> set[str]:
    status, roles = keycloak.admin("GET", f"/users/{user_id}/role-mappings/realm/composite")
    assert status == 200, roles
    assert isinstance(roles, list)
    return {str(role["name"]) for role in roles}


def provider_users(keycloak: Keycloak) -> dict[str, tuple[Any, ...]]:
    """Every user of the realm as far as staff management could change it."""
    status, users = keycloak.admin("GET", "/users?max=1000")
    assert status == 200, users
    assert isinstance(users, list)
    return {
        u["username"]: (
            u["enabled"],
            u.get("attributes"),
            u.get("email"),
            sorted(realm_roles(keycloak, u["id"])),
        )
        for u in users
    }


def grant_error(sign_in: SignIn, form: dict[str, str]) -> str:
    status, answer = sign_in.grant({"client_id": TEST_CLIENT, **form})
    assert status in (400, 401), answer
    assert isinstance(answer, dict)
    return str(answer.get("error_description"))


async def test_an_operator_onboards_the_first_admin_who_then_manages_its_staff(
    sign_in: SignIn, catalog: ServiceProcess
) -> None:
    keycloak, operator = sign_in.keycloak, operator_token(sign_in)
    museum = await new_museum(catalog, operator)
    first = staff_body("admin", admin=True, first_name="Li", last_name="Wei")
    onboarded = await call(catalog, operator, "POST", f"/museums/{museum}/staff", first)
    assert onboarded.status_code == 201, onboarded.text
    assert onboarded.headers["cache-control"] == "no-store"  # it carries a password
    admin = onboarded.json()
    assert (admin["museum_id"], admin["admin"], admin["enabled"]) == (museum, True, True)
    # in the provider: the museum's id, museum + museum-admin only, a password to replace
    held = user(keycloak, admin["id"])
    assert held["attributes"]["museum_id"] == [museum]
    assert held["requiredActions"] == ["UPDATE_PASSWORD"]
    assert realm_roles(keycloak, admin["id"]) & {"museum", "museum-admin", "operator"} == {
        "museum",
        "museum-admin",
    }
    # the temporary password is the user's (not "invalid credentials"), but it
    # signs in only after it is replaced
    temporary = {"grant_type": "password", "username": first["username"]}
    temporary["password"] = admin["temporary_password"]
    assert grant_error(sign_in, temporary) == "Account is not fully set up"
    admin_token = str(sign_in_as(keycloak, admin["id"], first["username"])["access_token"])

    # the admin adds a staff member, and a duplicate is a conflict
    second = staff_body("staff")
    added = await call(catalog, admin_token, "POST", f"/museums/{museum}/staff", second)
    assert added.status_code == 201, added.text
    member = added.json()
    assert (member["museum_id"], member["admin"]) == (museum, False)
    assert realm_roles(keycloak, member["id"]) & {"museum", "museum-admin"} == {"museum"}
    for duplicate, field in (
        ({**second, "email": "x@example.test"}, "username"),
        ({**second, "username": unique("staff")}, "email"),
    ):
        again = await call(catalog, admin_token, "POST", f"/museums/{museum}/staff", duplicate)
        assert f"same {field}" in assert_problem(again, 409)["detail"]
    listed = await call(catalog, admin_token, "GET", f"/museums/{museum}/staff")
    assert listed.status_code == 200, listed.text
    assert {(m["username"], m["admin"], m["enabled"]) for m in listed.json()["items"]} == {
        (first["username"], True, True),
        (second["username"], False, True),
    }

    # plain staff manage nobody and do not list
    staff_tokens = sign_in_as(keycloak, member["id"], second["username"])
    staff_token = str(staff_tokens["access_token"])
    assert_problem(await call(catalog, staff_token, "GET", f"/museums/{museum}/staff"), 403)
    plain_add = await call(
        catalog, staff_token, "POST", f"/museums/{museum}/staff", staff_body("x")
    )
    assert_problem(plain_add, 403)

    # removal: disabled, sessions ended; the refresh token and the password are dead
    removed = await call(catalog, admin_token, "DELETE", f"/museums/{museum}/staff/{member['id']}")
    assert removed.status_code == 204, removed.text
    assert user(keycloak, member["id"])["enabled"] is False
    password = {"grant_type": "password", "username": second["username"], "password": PASSWORD}
    assert grant_error(sign_in, password) == "Account disabled"
    refresh = {"grant_type": "refresh_token", "refresh_token": str(staff_tokens["refresh_token"])}
    assert grant_error(sign_in, refresh) in {"Session not active", "Account disabled"}
    listed = await call(catalog, admin_token, "GET", f"/museums/{museum}/staff")
    assert {(m["username"], m["enabled"]) for m in listed.json()["items"]} == {
        (first["username"], True),
        (second["username"], False),
    }
    # an admin does not remove itself: another admin or an operator does
    itself = await call(catalog, admin_token, "DELETE", f"/museums/{museum}/staff/{admin['id']}")
    assert_problem(itself, 403)
    assert user(keycloak, admin["id"])["enabled"] is True


async def test_an_admin_never_touches_another_museum_nor_grants_operator(
    sign_in: SignIn, catalog: ServiceProcess
) -> None:
    keycloak, operator = sign_in.keycloak, operator_token(sign_in)
    museum_a, museum_b = await new_museum(catalog, operator), await new_museum(catalog, operator)
    admin_a = staff_body("admin-a", admin=True)
    answer = await call(catalog, operator, "POST", f"/museums/{museum_a}/staff", admin_a)
    admin_a_id = answer.json()["id"]
    token = str(sign_in_as(keycloak, admin_a_id, admin_a["username"])["access_token"])
    answer = await call(catalog, operator, "POST", f"/museums/{museum_b}/staff", staff_body("b"))
    staff_b = answer.json()["id"]
    # an operator who happens to carry museum A's id is not A's to remove
    _, operator_a = sign_in.add_user("ops-a", "operator", museum_id=museum_a)
    nobody = uuid.uuid4()
    before = provider_users(keycloak)

    refused = {
        "add to B": (403, "POST", f"/museums/{museum_b}/staff", staff_body("evil")),
        "list B": (403, "GET", f"/museums/{museum_b}/staff", None),
        "remove B's user at B": (403, "DELETE", f"/museums/{museum_b}/staff/{staff_b}", None),
        "remove B's user at A": (404, "DELETE", f"/museums/{museum_a}/staff/{staff_b}", None),
        "remove an unknown user": (404, "DELETE", f"/museums/{museum_a}/staff/{nobody}", None),
        "remove an operator": (403, "DELETE", f"/museums/{museum_a}/staff/{operator_a}", None),
        "grant operator (roles)": (
            422, "POST", f"/museums/{museum_a}/staff", staff_body("o", roles=["operator"]),
        ),
        "grant operator (role)": (
            422, "POST", f"/museums/{museum_a}/staff", staff_body("o", role="operator"),
        ),
        "grant licensee": (
            422, "POST", f"/museums/{museum_a}/staff", staff_body("l", licensee_id="lic-1"),
        ),
        "set another museum": (
            422, "POST", f"/museums/{museum_a}/staff", staff_body("m", museum_id=museum_b),
        ),
        "set attributes": (
            422, "POST", f"/museums/{museum_a}/staff",
            staff_body("t", attributes={"museum_id": [museum_b]}),
        ),
    }  # fmt: skip
    answers = {
        what: await call(catalog, token, method, path, body)
        for what, (_, method, path, body) in refused.items()
    }
    wrong = {
        what: (r.status_code, r.headers.get("content-type"), r.text)
        for what, r in answers.items()
        if r.status_code != refused[what][0] or r.headers.get("content-type") != PROBLEM
    }
    assert wrong == {}
    # "not yours" and "no such user" read alike: B's user ids are not confirmed
    assert (
        answers["remove B's user at A"].json()["title"]
        == (answers["remove an unknown user"].json()["title"])
    )
    # nor through the provider's own account API: museum_id is admin-only
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    async with httpx.AsyncClient(base_url=keycloak.issuer, headers=headers) as account:
        profile = (await account.get("/account/")).json()
        profile["attributes"] = {"museum_id": [museum_b], "licensee_id": ["lic-1"]}
        changed = await account.post("/account/", json=profile)
    assert changed.status_code == 400, changed.text
    assert "error-user-attribute-read-only" in changed.text
    assert provider_users(keycloak) == before


async def test_unknown_museum_unconfigured_or_unreachable_are_problems(
    infra: Infra, sign_in: SignIn, catalog: ServiceProcess
) -> None:
    operator = operator_token(sign_in)
    missing = await call(catalog, operator, "GET", "/museums/mus_nowhere/staff")
    assert_problem(missing, 404)
    env = oidc_env(infra, sign_in.keycloak)
    unconfigured = ServiceProcess("catalog", env)
    try:
        answer = await call(unconfigured, operator, "GET", "/museums/mus_any/staff")
        assert assert_problem(answer, 503)["detail"] == "staff management is not configured"
        # who may not is told so, configured or not
        staff = sign_in.access_token()
        assert_problem(await call(unconfigured, staff, "GET", "/museums/mus_any/staff"), 403)
    finally:
        unconfigured.stop()
    nothing_there = {
        **env,
        "STAFF_PROVIDER_URL": f"http://127.0.0.1:{free_port()}",
        "STAFF_PROVIDER_CLIENT_SECRET": sign_in.keycloak.client_secret(STAFF_CLIENT),
    }
    unreachable = ServiceProcess("catalog", nothing_there)
    try:
        museum = await new_museum(unreachable, operator)
        body = staff_body("nobody", admin=True)
        for method, path, json in (
            ("GET", f"/museums/{museum}/staff", None),
            ("POST", f"/museums/{museum}/staff", body),
            ("DELETE", f"/museums/{museum}/staff/{uuid.uuid4()}", None),
        ):
            answer = await call(unreachable, operator, method, path, json)
            assert "unreachable" in assert_problem(answer, 503)["detail"], method
    finally:
        unreachable.stop()


async def test_the_staff_client_manages_users_and_nothing_else(sign_in: SignIn) -> None:
    keycloak = sign_in.keycloak
    service = keycloak.client_credentials(STAFF_CLIENT, keycloak.client_secret(STAFF_CLIENT))
    token = str(service["access_token"])
    admin_api = f"{keycloak.url}/admin/realms/relic-rebirth"
    assert keycloak.request("GET", f"{admin_api}/users?max=1", token=token)[0] == 200
    # not the realm's clients (their secrets), roles or keys
    for path in ("/clients", "/roles", "/keys"):
        assert keycloak.request("GET", f"{admin_api}{path}", token=token)[0] == 403, path
    # and its token is no platform token: no role, not for the platform's audience
    _, claims = segments(token)
    assert "relic-rebirth" not in str(claims.get("aud"))
    assert not set(claims.get("realm_access", {}).get("roles", [])) & {"operator", "museum"}
