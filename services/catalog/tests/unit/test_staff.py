"""Museum staff rules (catalog.staff) with a directory passed in, and the
Keycloak directory's answers to a provider that fails (catalog.staff_directory).
The real Keycloak: tests/security/test_staff_management.py."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from catalog.config import Settings
from catalog.domain import Museum
from catalog.errors import MuseumNotFound
from catalog.staff import (
    CannotRemoveSelf,
    NewStaff,
    NotMuseumStaff,
    NotStaffManager,
    StaffMember,
    StaffNotConfigured,
    StaffNotFound,
    list_staff,
    onboard_staff,
    remove_staff,
    staff_roles,
)
from catalog.staff_directory import (
    KeycloakStaffDirectory,
    ProviderUnavailable,
    directory_from_settings,
)
from servicekit.auth import Principal, Role

pytestmark = pytest.mark.asyncio

NOW = datetime(2026, 12, 1, tzinfo=UTC)
OPERATOR = Principal("ops", Role.OPERATOR)
ADMIN_A = Principal("admin-a", Role.MUSEUM, museum_id="mus-a", museum_admin=True)
STAFF_A = Principal("staff-a", Role.MUSEUM, museum_id="mus-a")
ADMIN_B = Principal("admin-b", Role.MUSEUM, museum_id="mus-b", museum_admin=True)


class Museums:
    def __init__(self, *ids: str) -> None:
        self.ids = set(ids)

    async def museum(self, museum_id: str) -> Museum | None:
        if museum_id not in self.ids:
            return None
        return Museum(museum_id, "博物馆", "Museum", "重庆", "重庆", "museum", True, None, NOW, NOW)


class Directory:
    """The provider's users in memory."""

    def __init__(self, *members: StaffMember) -> None:
        self.users = {m.id: m for m in members}
        self.added: list[tuple[str, NewStaff, tuple[str, ...]]] = []

    async def add(
        self, *, museum_id: str, new: NewStaff, roles: tuple[str, ...], password: str
    ) -> StaffMember:
        assert len(password) >= 20
        self.added.append((museum_id, new, roles))
        member = StaffMember(
            f"id-{new.username}", new.username, new.email, None, None, museum_id, True,
            frozenset(roles),
        )  # fmt: skip
        self.users[member.id] = member
        return member

    async def members(self, museum_id: str) -> list[StaffMember]:
        return [m for m in self.users.values() if m.museum_id == museum_id]

    async def member(self, user_id: str) -> StaffMember | None:
        return self.users.get(user_id)

    async def disable(self, user_id: str) -> None:
        self.users[user_id] = dataclasses.replace(self.users[user_id], enabled=False)


def member(user_id: str, museum_id: str | None, *roles: str) -> StaffMember:
    return StaffMember(user_id, user_id, None, None, None, museum_id, True, frozenset(roles))


NEW = NewStaff(username="li.wei", email="li.wei@example.test", admin=True)


async def test_an_operator_onboards_a_museums_first_admin() -> None:
    directory = Directory()
    added, password = await onboard_staff(
        directory=directory, museums=Museums("mus-a"), actor=OPERATOR, museum_id="mus-a", new=NEW
    )
    assert added.admin
    assert password
    assert directory.added == [("mus-a", NEW, ("museum", "museum-admin"))]


async def test_only_museum_and_museum_admin_are_ever_granted() -> None:
    assert staff_roles(admin=False) == ("museum",)
    assert staff_roles(admin=True) == ("museum", "museum-admin")


async def test_an_admin_adds_staff_of_its_own_museum_only() -> None:
    directory = Directory()
    museums = Museums("mus-a", "mus-b")
    plain = dataclasses.replace(NEW, admin=False)
    await onboard_staff(
        directory=directory, museums=museums, actor=ADMIN_A, museum_id="mus-a", new=plain
    )
    assert directory.added == [("mus-a", plain, ("museum",))]
    for actor in (ADMIN_B, STAFF_A, Principal("lic", Role.LICENSEE, licensee_id="l")):
        with pytest.raises(NotStaffManager):
            await onboard_staff(
                directory=directory, museums=museums, actor=actor, museum_id="mus-a", new=NEW
            )
    assert len(directory.added) == 1


async def test_refusal_comes_before_configuration_and_the_museum_before_the_provider() -> None:
    with pytest.raises(NotStaffManager):
        await list_staff(directory=None, museums=Museums(), actor=STAFF_A, museum_id="mus-a")
    with pytest.raises(StaffNotConfigured) as unconfigured:
        await list_staff(directory=None, museums=Museums(), actor=OPERATOR, museum_id="mus-a")
    assert unconfigured.value.detail == "staff management is not configured"
    directory = Directory()
    with pytest.raises(MuseumNotFound):
        await onboard_staff(
            directory=directory, museums=Museums(), actor=OPERATOR, museum_id="mus-x", new=NEW
        )
    assert directory.added == []


async def test_removal_stays_inside_the_museum() -> None:
    directory = Directory(
        member("staff-a", "mus-a", "museum"),
        member("staff-b", "mus-b", "museum"),
        member("admin-a", "mus-a", "museum", "museum-admin"),
        member("ops-with-id", "mus-a", "operator"),
        member("no-museum", None, "tourist"),
    )
    museums = Museums("mus-a", "mus-b")

    async def remove(actor: Principal, user_id: str, museum_id: str = "mus-a") -> None:
        await remove_staff(
            directory=directory, museums=museums, actor=actor, museum_id=museum_id, user_id=user_id
        )

    for user_id in ("staff-b", "no-museum", "unknown"):
        with pytest.raises(StaffNotFound):  # another museum's user is not confirmed
            await remove(ADMIN_A, user_id)
    with pytest.raises(NotStaffManager):
        await remove(ADMIN_A, "staff-b", museum_id="mus-b")
    with pytest.raises(CannotRemoveSelf):
        await remove(ADMIN_A, "admin-a")
    with pytest.raises(NotMuseumStaff):
        await remove(ADMIN_A, "ops-with-id")
    assert all(m.enabled for m in directory.users.values())
    await remove(ADMIN_A, "staff-a")
    await remove(OPERATOR, "admin-a")  # an operator may remove the last admin
    assert {u for u, m in directory.users.items() if not m.enabled} == {"staff-a", "admin-a"}


# --- the Keycloak directory when the provider fails -------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again: nothing listens there


def _directory(
    handler: httpx.MockTransport | None = None, url: str = "http://kc.test"
) -> KeycloakStaffDirectory:
    return KeycloakStaffDirectory(
        url=url, realm="relic-rebirth", client_id="rebirth-staff-admin",
        client_secret=SecretStr("s"), transport=handler,
    )  # fmt: skip


async def test_an_unreachable_provider_is_unavailable() -> None:
    directory = _directory(url=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(ProviderUnavailable, match="unreachable"):
        await directory.members("mus-a")


def _keycloak(users: httpx.Response, seen: list[str]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 300})
        return users

    return httpx.MockTransport(handle)


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, text="boom"),
        httpx.Response(403, json={"error": "unknown_error"}),  # the client lost its roles
        httpx.Response(200, text="<html>a proxy's page</html>"),
        httpx.Response(200, json={"not": "a list"}),
    ],
)
async def test_a_failing_provider_is_unavailable_never_an_error(answer: httpx.Response) -> None:
    with pytest.raises(ProviderUnavailable):
        await _directory(_keycloak(answer, [])).members("mus-a")


async def test_the_service_token_is_reused_and_a_refused_secret_is_unavailable() -> None:
    seen: list[str] = []
    directory = _directory(_keycloak(httpx.Response(200, json=[]), seen))
    assert await directory.members("mus-a") == []
    assert await directory.members("mus-b") == []
    assert sum(path.endswith("/token") for path in seen) == 1
    refused = httpx.MockTransport(lambda _: httpx.Response(401, json={"error": "unauthorized"}))
    with pytest.raises(ProviderUnavailable, match="STAFF_PROVIDER_CLIENT_SECRET"):
        await _directory(refused).members("mus-a")


async def test_the_directory_never_maps_a_role_beyond_museum_staff() -> None:
    seen: list[str] = []
    directory = _directory(_keycloak(httpx.Response(201), seen))
    with pytest.raises(ValueError, match="staff roles"):
        await directory.add(museum_id="mus-a", new=NEW, roles=("operator",), password="p" * 24)
    assert seen == []


async def test_unset_or_empty_settings_leave_staff_management_unconfigured() -> None:
    assert directory_from_settings(Settings()) is None
    blank = Settings(staff_provider_url="", staff_provider_client_secret="")
    assert directory_from_settings(blank) is None
    configured = Settings(
        staff_provider_url="https://id.example.test", staff_provider_client_secret="s"
    )
    assert isinstance(directory_from_settings(configured), KeycloakStaffDirectory)


async def test_concurrent_listings_share_one_token() -> None:
    seen: list[str] = []
    directory = _directory(_keycloak(httpx.Response(200, json=[]), seen))
    await asyncio.gather(directory.members("mus-a"), directory.members("mus-b"))
    assert sum(path.endswith("/token") for path in seen) == 1
