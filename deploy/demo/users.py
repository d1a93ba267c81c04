"""`make seed`'s people in Keycloak, so the platform can be signed into: one
staff user per demo museum (realm roles `museum` and `museum-admin`, attribute
`museum_id` = the museum's platform id), a licensee (`licensee`, attribute
`licensee_id`) and an operator (`operator`). `make demo` prints how to sign in.

Through Keycloak's admin REST API (deploy/local/keycloak.py's client). Every
user is found by username first, so a second run creates nothing; a user found
gets its attributes and roles brought up to date (a museum's id changes when
the store is wiped and seeded again). The local Keycloak keeps its users in
memory: after it restarts, `make seed` makes them again.
"""

from __future__ import annotations

import asyncio
import os
import sys
import urllib.error
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "local"))  # keycloak.py
from keycloak_client import (  # noqa: E402
    ADMIN_PASSWORD,
    ADMIN_USER,
    KeycloakClient,
    KeycloakError,
)

if not __package__:  # run as a script, or imported as one by bench/: `deploy.demo` from the root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.demo.dataset import MUSEUMS

__all__ = [
    "DEMO_PASSWORD",
    "LICENSEE",
    "OPERATOR",
    "DemoUser",
    "KeycloakClient",
    "UsersError",
    "UsersResult",
    "admin_client",
    "demo_users",
    "ensure_demo_users",
    "ensure_users",
    "licensee_username",
    "print_sign_in",
    "staff_username",
]

# development only: every demo user's password, in a local Keycloak
DEMO_PASSWORD = "dev-only-demo-password"
LICENSEE = "lic-yangtze-goods"  # a seeded licensee, with licenses on Three Gorges relics
OPERATOR = "operator"
STAFF_ROLES = ("museum", "museum-admin")


class UsersError(RuntimeError):
    """Keycloak did not answer, or refused a change (the message says which)."""


@dataclass(frozen=True)
class DemoUser:
    username: str
    roles: tuple[str, ...]
    first_name: str
    last_name: str
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass
class UsersResult:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


def staff_username(museum_key: str) -> str:
    return f"staff-{museum_key}"


def licensee_username(licensee_id: str) -> str:
    return f"licensee-{licensee_id.removeprefix('lic-')}"


def demo_users(museum_ids: Mapping[str, str], licensee_id: str = LICENSEE) -> list[DemoUser]:
    """The demo's users, given the seeded museums' ids (dataset key -> id)."""
    staff = [
        DemoUser(
            staff_username(m.key),
            STAFF_ROLES,
            "Staff",
            m.name_en,
            (("museum_id", museum_ids[m.key]),),
        )
        for m in MUSEUMS
        if m.key in museum_ids
    ]
    licensee = DemoUser(
        licensee_username(licensee_id),
        ("licensee",),
        "Licensee",
        licensee_id,
        (("licensee_id", licensee_id),),
    )
    return [*staff, licensee, DemoUser(OPERATOR, ("operator",), "Platform", "Operator")]


def admin_client(url: str) -> KeycloakClient:
    """Keycloak at `url` as its bootstrap admin: KEYCLOAK_ADMIN_PASSWORD (as
    docker-compose reads it), else the local instance's dev-only one."""
    return KeycloakClient(url, os.environ.get("KEYCLOAK_ADMIN_PASSWORD") or ADMIN_PASSWORD)


async def ensure_demo_users(keycloak: KeycloakClient, museum_ids: Mapping[str, str]) -> UsersResult:
    """`ensure_users` of `demo_users`, off the event loop (the client blocks)."""
    try:
        return await asyncio.to_thread(ensure_users, keycloak, demo_users(museum_ids))
    except (KeycloakError, urllib.error.URLError) as exc:
        raise UsersError(f"users in Keycloak at {keycloak.url}: {exc}") from exc


def ensure_users(keycloak: KeycloakClient, users: list[DemoUser]) -> UsersResult:
    result = UsersResult()
    for user in users:
        made = _ensure(keycloak, user)
        (result.created if made else result.existing).append(user.username)
    return result


def _ok(keycloak: KeycloakClient, method: str, path: str, body: object = None) -> Any:
    status, answer = keycloak.admin(method, path, body)
    if status >= 300:
        raise KeycloakError(f"{method} {path}: {status} {answer}")
    return answer


def _find(keycloak: KeycloakClient, username: str) -> dict[str, Any] | None:
    query = urllib.parse.urlencode(
        {"exact": "true", "briefRepresentation": "false", "username": username}
    )
    found = _ok(keycloak, "GET", f"/users?{query}")
    return found[0] if found else None


def _ensure(keycloak: KeycloakClient, user: DemoUser) -> bool:
    """`user` with its attributes and realm roles; True when it was made now."""
    attributes = {name: [value] for name, value in user.attributes}
    current = _find(keycloak, user.username)
    if current is None:
        _ok(
            keycloak,
            "POST",
            "/users",
            {
                "username": user.username,
                "enabled": True,
                # the realm's user profile wants an email: none to verify at sign-in
                "email": f"{user.username}@demo.relic-rebirth.test",
                "emailVerified": True,
                "firstName": user.first_name,
                "lastName": user.last_name,
                "attributes": attributes,
                "credentials": [{"type": "password", "value": DEMO_PASSWORD, "temporary": False}],
            },
        )
        current = _find(keycloak, user.username)
        if current is None:
            raise KeycloakError(f"user {user.username} was not made")
        made = True
    else:
        held_attributes = current.get("attributes") or {}
        if any(held_attributes.get(name) != value for name, value in attributes.items()):
            # the whole representation: an update without an attribute drops it
            updated = {**current, "attributes": {**held_attributes, **attributes}}
            _ok(keycloak, "PUT", f"/users/{current['id']}", updated)
        made = False
    mappings = f"/users/{current['id']}/role-mappings/realm"
    held = {role["name"] for role in _ok(keycloak, "GET", mappings)}
    missing = [_role(keycloak, name) for name in user.roles if name not in held]
    if missing:
        _ok(keycloak, "POST", mappings, missing)
    return made


def _role(keycloak: KeycloakClient, name: str) -> Any:
    status, role = keycloak.admin("GET", f"/roles/{name}")
    if status == 404:
        raise KeycloakError(
            f"the realm has no role {name}: Keycloak imports deploy/keycloak/realm.json "
            "when it starts (make down && make up)"
        )
    if status >= 300:
        raise KeycloakError(f"GET /roles/{name}: {status} {role}")
    return role


def print_sign_in(console: Console, dashboard_url: str, keycloak_url: str) -> None:
    """How to sign in as the demo users (`make demo`'s last lines)."""
    console.print(
        f"\n[bold]Sign in[/] (development users, password [bold]{DEMO_PASSWORD}[/]):",
        highlight=False,
    )
    console.print(f"  {'dashboard':22} {dashboard_url}/dashboard", highlight=False)
    for museum in MUSEUMS:
        console.print(
            f"  {staff_username(museum.key):22} {museum.name_en} (museum admin)", highlight=False
        )
    console.print(f"  {licensee_username(LICENSEE):22} licensee {LICENSEE}", highlight=False)
    console.print(f"  {OPERATOR:22} operator", highlight=False)
    console.print(
        f"  {'Keycloak admin':22} {KeycloakClient(keycloak_url).admin_console_url} "
        f"({ADMIN_USER} / {ADMIN_PASSWORD})",
        highlight=False,
        soft_wrap=True,
    )
