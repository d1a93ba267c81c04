"""Museum staff in Keycloak, through its admin REST API (catalog.staff's
StaffDirectory).

catalog signs in as the confidential client STAFF_PROVIDER_CLIENT_ID (client
credentials; its service account holds realm-management's manage-users,
view-users and query-users, nothing else) and caches the access token until
shortly before it expires. Those roles could grant any realm role: the rules
of catalog.staff are what keep a museum administrator to its own museum.

    add      POST /users (enabled, museum_id attribute, a temporary password:
             Keycloak adds the UPDATE_PASSWORD required action), then
             POST /users/{id}/role-mappings/realm with the role
             representations from .../realm/available (reading /roles needs
             view-realm, which the client does not hold); a user whose roles
             could not be mapped is deleted again
    members  GET /users?q=museum_id:<id> (Keycloak matches attribute values
             case-insensitively: the exact value is checked here), at most
             MAX_STAFF, each with GET .../role-mappings/realm/composite
    member   GET /users/{id} and its roles; 404: None
    disable  PUT /users/{id} {"enabled": false} (other fields stay), then
             POST /users/{id}/logout: every session ends, so no refresh token
             works; access tokens already issued run to their `exp`

Errors: the provider unreachable, failing (5xx) or refusing catalog's own
credentials is ProviderUnavailable (503); a taken username or email
UsernameTaken (409); a representation Keycloak refuses (say, an email its
user profile rejects) StaffRejected (422).
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import httpx
from pydantic import SecretStr

from catalog.config import Settings
from catalog.staff import MUSEUM_ROLE, PROTECTED_ROLES, NewStaff, StaffMember
from servicekit.errors import Conflict, Invalid, ServiceError, Unavailable
from servicekit.oidc import MUSEUM_ADMIN_ROLE

__all__ = [
    "MAX_STAFF",
    "KeycloakStaffDirectory",
    "ProviderUnavailable",
    "StaffRejected",
    "UsernameTaken",
    "directory_from_settings",
]

log = logging.getLogger(__name__)

MAX_STAFF = 200  # listed per museum: staff, not customers
_TIMEOUT_SECONDS = 5.0
_TOKEN_MARGIN_SECONDS = 30.0  # renew this long before the token expires
_PARALLEL_LOOKUPS = 8  # role look-ups of a listing in flight at once
# the only realm roles catalog reports or maps: the platform's
_PLATFORM_ROLES = frozenset({"tourist", MUSEUM_ROLE, MUSEUM_ADMIN_ROLE}) | PROTECTED_ROLES
_GRANTABLE = frozenset({MUSEUM_ROLE, MUSEUM_ADMIN_ROLE})

Json = Any  # Keycloak's JSON, checked where read


class ProviderUnavailable(Unavailable):
    title = "Sign-in provider unavailable"


class UsernameTaken(Conflict):
    title = "User exists"


class StaffRejected(Invalid):
    title = "Refused by the sign-in provider"


def directory_from_settings(settings: Settings) -> KeycloakStaffDirectory | None:
    """None when staff management is not configured (the routes answer 503)."""
    if not settings.staff_provider_url or settings.staff_provider_client_secret is None:
        return None
    return KeycloakStaffDirectory(
        url=settings.staff_provider_url,
        realm=settings.staff_provider_realm,
        client_id=settings.staff_provider_client_id,
        client_secret=settings.staff_provider_client_secret,
    )


def _first(attributes: Json, name: str) -> str | None:
    values = attributes.get(name) if isinstance(attributes, dict) else None
    return str(values[0]) if isinstance(values, list) and values else None


def _member(user: Json, roles: frozenset[str]) -> StaffMember:
    if not isinstance(user.get("id"), str) or not isinstance(user.get("username"), str):
        raise ProviderUnavailable("the sign-in provider answered a user without id or username")
    return StaffMember(
        id=user["id"],
        username=user["username"],
        email=user.get("email"),
        first_name=user.get("firstName"),
        last_name=user.get("lastName"),
        museum_id=_first(user.get("attributes"), "museum_id"),
        enabled=bool(user.get("enabled")),
        roles=roles,
    )


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("errorMessage") or body.get("error") or body)
    return str(body)[:200]


class KeycloakStaffDirectory:
    def __init__(
        self,
        *,
        url: str,
        realm: str,
        client_id: str,
        client_secret: SecretStr,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        base = url.rstrip("/")
        self._admin = f"{base}/admin/realms/{realm}"
        self._token_url = f"{base}/realms/{realm}/protocol/openid-connect/token"
        self._client_id = client_id
        self._client_secret = client_secret
        self._transport = transport
        self._clock = clock
        self._token: tuple[str, float] | None = None  # (access token, renew at)
        self._token_lock = asyncio.Lock()

    # --- the StaffDirectory protocol ----------------------------------------------

    async def add(
        self, *, museum_id: str, new: NewStaff, roles: tuple[str, ...], password: str
    ) -> StaffMember:
        if not roles or not set(roles) <= _GRANTABLE:  # a second guard behind catalog.staff
            raise ValueError(f"staff roles must be among {sorted(_GRANTABLE)}: {roles}")
        user = {
            "username": new.username,
            "email": new.email,
            "firstName": new.first_name,
            "lastName": new.last_name,
            "enabled": True,
            "attributes": {"museum_id": [museum_id]},
            "credentials": [{"type": "password", "value": password, "temporary": True}],
            "requiredActions": ["UPDATE_PASSWORD"],
        }
        async with self._client() as client:
            created = await self._call(client, "POST", "/users", json=user)
            if created.status_code == 409:
                raise UsernameTaken(_error_message(created), username=new.username)
            if created.status_code == 400:
                raise StaffRejected(_error_message(created))
            location = self._expect(created, 201, "POST /users").headers.get("location", "")
            user_id = location.rsplit("/", 1)[-1]
            if not user_id:
                raise ProviderUnavailable("the sign-in provider created a user without a location")
            try:
                await self._map_roles(client, user_id, roles)
            except Exception:
                # no half-made staff: a user without its roles goes again
                with suppress(httpx.HTTPError, ServiceError):
                    await self._call(client, "DELETE", f"/users/{_quoted(user_id)}")
                raise
        return StaffMember(
            id=user_id,
            username=new.username.lower(),  # as Keycloak stores it
            email=new.email,
            first_name=new.first_name,
            last_name=new.last_name,
            museum_id=museum_id,
            enabled=True,
            roles=frozenset(roles),
        )

    async def members(self, museum_id: str) -> list[StaffMember]:
        params = {"q": f"museum_id:{museum_id}", "max": str(MAX_STAFF)}
        async with self._client() as client:
            found = self._expect(await self._call(client, "GET", "/users", params=params), 200)
            users = [
                u
                for u in _json(found, list)
                if _first(u.get("attributes"), "museum_id") == museum_id  # exact, case too
            ]
            gate = asyncio.Semaphore(_PARALLEL_LOOKUPS)

            async def with_roles(user: Json) -> StaffMember:
                async with gate:
                    return _member(user, await self._roles(client, str(user.get("id"))))

            return list(await asyncio.gather(*(with_roles(u) for u in users)))

    async def member(self, user_id: str) -> StaffMember | None:
        async with self._client() as client:
            found = await self._call(client, "GET", f"/users/{_quoted(user_id)}")
            if found.status_code == 404:
                return None
            user = _json(self._expect(found, 200), dict)
            return _member(user, await self._roles(client, user_id))

    async def disable(self, user_id: str) -> None:
        path = f"/users/{_quoted(user_id)}"
        async with self._client() as client:
            updated = await self._call(client, "PUT", path, json={"enabled": False})
            if updated.status_code == 404:
                return  # gone meanwhile: nothing left to disable
            self._expect(updated, 204, "PUT /users/{id}")
            self._expect(await self._call(client, "POST", f"{path}/logout"), 204, "logout")

    # --- Keycloak ----------------------------------------------------------------

    async def _roles(self, client: httpx.AsyncClient, user_id: str) -> frozenset[str]:
        path = f"/users/{_quoted(user_id)}/role-mappings/realm/composite"
        found = await self._call(client, "GET", path, params={"briefRepresentation": "true"})
        names = {str(role.get("name")) for role in _json(self._expect(found, 200), list)}
        return frozenset(names & _PLATFORM_ROLES)

    async def _map_roles(
        self, client: httpx.AsyncClient, user_id: str, roles: tuple[str, ...]
    ) -> None:
        path = f"/users/{_quoted(user_id)}/role-mappings/realm"
        available = self._expect(await self._call(client, "GET", f"{path}/available"), 200)
        wanted = [role for role in _json(available, list) if role.get("name") in roles]
        if len(wanted) != len(roles):
            raise ProviderUnavailable(f"the realm lacks one of the roles {', '.join(roles)}")
        self._expect(await self._call(client, "POST", path, json=wanted), 204, "role mapping")

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[httpx.AsyncClient]:
        # one client per operation: staff changes are rare, and nothing to close at shutdown
        try:
            async with httpx.AsyncClient(
                timeout=_TIMEOUT_SECONDS, transport=self._transport
            ) as client:
                yield client
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"the sign-in provider is unreachable: {type(exc).__name__}"
            ) from exc

    async def _call(
        self, client: httpx.AsyncClient, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        response = await client.request(
            method, self._admin + path, headers=await self._auth(client), **kwargs
        )
        if response.status_code == 401:  # revoked or expired early: one fresh token
            self._token = None
            response = await client.request(
                method, self._admin + path, headers=await self._auth(client), **kwargs
            )
        if response.status_code in (401, 403) or response.status_code >= 500:
            log.error("staff directory: %s %s answered %s", method, path, response.status_code)
            raise ProviderUnavailable(
                f"the sign-in provider answered {response.status_code} to {method}"
                " (its service or catalog's client roles)"
            )
        return response

    async def _auth(self, client: httpx.AsyncClient) -> dict[str, str]:
        async with self._token_lock:
            if self._token is None or self._clock() >= self._token[1]:
                answer = await client.post(
                    self._token_url,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self._client_id,
                        "client_secret": self._client_secret.get_secret_value(),
                    },
                )
                if answer.status_code != 200:
                    log.error("staff directory: client credentials answered %s", answer.status_code)
                    raise ProviderUnavailable(
                        f"the sign-in provider refused catalog's client {self._client_id!r}"
                        f" ({answer.status_code}): check STAFF_PROVIDER_CLIENT_SECRET"
                    )
                body = _json(answer, dict)
                token, lifetime = body.get("access_token"), body.get("expires_in", 60)
                if not isinstance(token, str) or not isinstance(lifetime, int | float):
                    raise ProviderUnavailable("the sign-in provider's token answer is malformed")
                renew_at = self._clock() + max(lifetime - _TOKEN_MARGIN_SECONDS, 0)
                self._token = (token, renew_at)
            return {"Authorization": f"Bearer {self._token[0]}"}

    @staticmethod
    def _expect(response: httpx.Response, status: int, what: str = "") -> httpx.Response:
        if response.status_code != status:
            raise ProviderUnavailable(
                f"the sign-in provider answered {response.status_code} to {what or 'a request'}:"
                f" {_error_message(response)}"
            )
        return response


def _json(response: httpx.Response, kind: type[list[Any]] | type[dict[str, Any]]) -> Json:
    """The body, when it is JSON of the expected shape (else the provider is
    not answering as Keycloak does: 503, never a 500)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, kind) or (
        isinstance(body, list) and not all(isinstance(item, dict) for item in body)
    ):
        raise ProviderUnavailable("the sign-in provider answered something other than expected")
    return body


def _quoted(user_id: str) -> str:
    return urllib.parse.quote(user_id, safe="")
