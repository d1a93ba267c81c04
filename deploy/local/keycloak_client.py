"""A Keycloak's HTTP and admin-API side, for an instance anywhere (this
machine's, docker-compose's): tokens by the grants the realm allows, users,
clients and their secrets. Standard library only: it runs before any venv."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

__all__ = [
    "ADMIN_PASSWORD",
    "ADMIN_USER",
    "AUDIENCE",
    "REALM",
    "KeycloakClient",
    "KeycloakError",
    "first_id",
]

REALM = "relic-rebirth"
AUDIENCE = "relic-rebirth"  # the realm's api-audience mapper puts it in every access token
# development only: the bootstrap admin of a local, loopback-only instance
ADMIN_USER = "admin"
ADMIN_PASSWORD = "dev-only-keycloak-admin"


class KeycloakError(RuntimeError):
    pass


@dataclass
class KeycloakClient:
    """An instance's endpoints and admin API at `url` (no trailing slash);
    `issuer` and `jwks_url` are what services configure."""

    url: str
    admin_password: str = field(default=ADMIN_PASSWORD, repr=False)
    _admin_token: tuple[str, float] | None = field(default=None, repr=False)

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/{REALM}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/certs"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    @property
    def admin_console_url(self) -> str:
        return f"{self.url}/admin/master/console/#/{REALM}"

    # --- small HTTP helpers (stdlib: this file runs before any venv exists) --

    def request(
        self,
        method: str,
        url: str,
        *,
        form: dict[str, str] | None = None,
        body: object = None,
        token: str | None = None,
    ) -> tuple[int, object]:
        headers: dict[str, str] = {}
        data: bytes | None = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw) if raw else None
            except ValueError:
                return exc.code, raw.decode(errors="replace")

    def password_grant(
        self, client_id: str, username: str, password: str, *, realm: str = REALM
    ) -> dict[str, object]:
        """Tokens by direct grant: only a test-only client allows it (the
        realm in deploy/keycloak/ has none; tests add theirs)."""
        status, body = self.request(
            "POST",
            f"{self.url}/realms/{realm}/protocol/openid-connect/token",
            form={
                "grant_type": "password",
                "client_id": client_id,
                "username": username,
                "password": password,
                "scope": "openid",
            },
        )
        if status != 200 or not isinstance(body, dict):
            raise KeycloakError(f"password grant for {username} failed: {status} {body}")
        return body

    def admin_token(self) -> str:
        """A master-realm admin token, reused until shortly before it expires."""
        if self._admin_token and self._admin_token[1] > time.monotonic() + 5:
            return self._admin_token[0]
        status, body = self.request(
            "POST",
            f"{self.url}/realms/master/protocol/openid-connect/token",
            form={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": ADMIN_USER,
                "password": self.admin_password,
            },
        )
        if status != 200 or not isinstance(body, dict):
            raise KeycloakError(f"admin sign-in failed: {status} {body}")
        token = str(body["access_token"])
        self._admin_token = (token, time.monotonic() + float(body.get("expires_in", 60)))
        return token

    def admin(
        self, method: str, path: str, body: object = None, *, realm: str = REALM
    ) -> tuple[int, object]:
        """Call the admin REST API of a realm (`path` below it)."""
        url = f"{self.url}/admin/realms/{realm}{path}"
        return self.request(method, url, body=body, token=self.admin_token())

    def _admin_ok(self, method: str, path: str, body: object = None, **kw: str) -> object:
        status, answer = self.admin(method, path, body, **kw)
        if status >= 300:
            raise KeycloakError(f"{method} {path}: {status} {answer}")
        return answer

    def add_user(
        self,
        username: str,
        password: str,
        roles: list[str],
        *,
        realm: str = REALM,
        **attributes: str,
    ) -> str:
        """A user with realm roles and attributes (museum_id, licensee_id); its id."""
        self._admin_ok(
            "POST",
            "/users",
            {
                "username": username,
                "enabled": True,
                "email": f"{username}@example.test",
                "emailVerified": True,
                "firstName": username,
                "lastName": "Test",
                "attributes": {name: [value] for name, value in attributes.items()},
                "credentials": [{"type": "password", "value": password, "temporary": False}],
            },
            realm=realm,
        )
        found = self._admin_ok("GET", f"/users?exact=true&username={username}", realm=realm)
        user_id = first_id(found, f"user {username}")
        wanted = []
        for role in roles:
            representation = self._admin_ok("GET", f"/roles/{role}", realm=realm)
            wanted.append(representation)
        self._admin_ok("POST", f"/users/{user_id}/role-mappings/realm", wanted, realm=realm)
        return user_id

    def client_uuid(self, client_id: str, *, realm: str = REALM) -> str:
        found = self._admin_ok("GET", f"/clients?clientId={client_id}", realm=realm)
        return first_id(found, f"client {client_id}")

    def client_secret(self, client_id: str) -> str:
        """A confidential client's current secret (Keycloak made it at import)."""
        answer = self._admin_ok("GET", f"/clients/{self.client_uuid(client_id)}/client-secret")
        if not isinstance(answer, dict) or not answer.get("value"):
            raise KeycloakError(f"no secret for {client_id}: {answer}")
        return str(answer["value"])

    def client_credentials(self, client_id: str, secret: str) -> dict[str, object]:
        status, body = self.request(
            "POST",
            self.token_url,
            form={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        if status != 200 or not isinstance(body, dict):
            raise KeycloakError(f"client credentials for {client_id} failed: {status} {body}")
        return body


def first_id(found: object, what: str) -> str:
    if not isinstance(found, list) or not found or not isinstance(found[0], dict):
        raise KeycloakError(f"{what} not found")
    return str(found[0]["id"])
