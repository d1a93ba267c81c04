"""The sign-in tests' world on the session's real Keycloak (the `keycloak`
fixture of tests/conftest.py): the realm as the sign-in tests set it up
(`sign_in`), and real services configured with it as an OpenID issuer
(`oidc_env`, `analytics`).

The realm of deploy/keycloak/ has no client with direct (password) grants;
`sign_in` adds test-only ones through the admin API (`rebirth-test` with the
dashboard's mappers, `rebirth-test-storefront` with the storefront's), its
users, a second realm (another issuer) and an RSA key of the test's own.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from keycloak import AUDIENCE, REALM, REALM_FILE, Keycloak

from tests.conftest import Infra
from tests.support import ServiceProcess, unique

PROBLEM = "application/problem+json"
TEST_CLIENT = "rebirth-test"  # direct grants: added here, never in deploy/keycloak/
STOREFRONT_TEST_CLIENT = "rebirth-test-storefront"  # the storefront's mappers, direct grants
PASSWORD = "test-only-password-1"
OTHER_REALM = "elsewhere"
# what the test services allow: a small clock skew, and a key set cached briefly
# (so a dropped key's tokens end within the test; production keeps 300 s)
LEEWAY_SECONDS = 1.0
JWKS_CACHE_SECONDS = 2.0
KEY_PROVIDER = "org.keycloak.keys.KeyProvider"


# --- the realm as the sign-in tests set it up ------------------------------------------


@dataclass
class SignIn:
    """The realm as the tests set it up."""

    keycloak: Keycloak
    museum_user: str
    ops_secret: str
    own_key: rsa.RSAPrivateKey  # imported into the realm: its kid is `own_kid`
    own_kid: str

    def password_tokens(
        self, username: str | None = None, *, client_id: str = TEST_CLIENT
    ) -> dict[str, Any]:
        return self.keycloak.password_grant(client_id, username or self.museum_user, PASSWORD)

    def access_token(self, username: str | None = None, *, client_id: str = TEST_CLIENT) -> str:
        return str(self.password_tokens(username, client_id=client_id)["access_token"])

    def add_user(self, prefix: str, role: str, **attributes: str) -> tuple[str, str]:
        """A new user of the realm with one platform role: (username, user id)."""
        username = unique(prefix)
        return username, self.keycloak.add_user(username, PASSWORD, [role], **attributes)

    def add_direct_grant_client(self, client_id: str, **attributes: str) -> None:
        """Another test-only client with direct grants and the dashboard's
        mappers; `attributes` are Keycloak client attributes
        (e.g. `access.token.lifespan`)."""
        body = direct_grant_client(client_id, realm_mappers("rebirth-dashboard"))
        body["attributes"] = attributes
        status, answer = self.keycloak.admin("POST", "/clients", body)
        assert status == 201, answer

    def grant(self, form: dict[str, str]) -> tuple[int, object]:
        """A raw token request (refused ones included): (status, body)."""
        return self.keycloak.request("POST", self.keycloak.token_url, form=form)


def realm_mappers(client_id: str) -> list[dict[str, Any]]:
    """The protocol mappers a client of deploy/keycloak/realm.json has."""
    realm = json.loads(Path(REALM_FILE).read_text())
    return list(next(c for c in realm["clients"] if c["clientId"] == client_id)["protocolMappers"])


def direct_grant_client(client_id: str, mappers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "clientId": client_id,
        "name": "test only: direct grants",
        "enabled": True,
        "publicClient": True,
        "standardFlowEnabled": False,
        "directAccessGrantsEnabled": True,
        "protocolMappers": mappers,
    }


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def _certificate(key: rsa.RSAPrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, REALM)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def published_kids(keycloak: Keycloak) -> set[str]:
    """The kids the realm's JWKS lists now (what services fetch)."""
    status, jwks = keycloak.request("GET", keycloak.jwks_url)
    assert status == 200, jwks
    assert isinstance(jwks, dict)
    return {str(entry["kid"]) for entry in jwks["keys"]}


def _kid_of(keycloak: Keycloak, key: rsa.RSAPrivateKey) -> str:
    _, jwks = keycloak.request("GET", keycloak.jwks_url)
    assert isinstance(jwks, dict)
    modulus = key.public_key().public_numbers().n
    for entry in jwks["keys"]:
        if entry.get("kty") == "RSA" and entry.get("use") == "sig":
            n = int.from_bytes(base64.urlsafe_b64decode(entry["n"] + "=="), "big")
            if n == modulus:
                return str(entry["kid"])
    raise AssertionError("the imported key is not in the realm's JWKS")


def add_key_provider(keycloak: Keycloak, provider: str, **config: str) -> str:
    """A key provider (a realm component) added through the admin API: its id."""
    _, realm = keycloak.admin("GET", "")
    assert isinstance(realm, dict)
    name = unique(provider)
    body = {
        "name": name,
        "providerId": provider,
        "providerType": KEY_PROVIDER,
        "parentId": realm["id"],
        "config": {key: [value] for key, value in config.items()},
    }
    status, answer = keycloak.admin("POST", "/components", body)
    assert status == 201, answer
    status, found = keycloak.admin("GET", f"/components?type={KEY_PROVIDER}&name={name}")
    assert status == 200, found
    assert isinstance(found, list)
    assert len(found) == 1, found
    return str(found[0]["id"])


def add_signing_key(keycloak: Keycloak) -> str:
    """A new RS256 key generated by Keycloak, above every key the realm has,
    so Keycloak signs with it from now on: its provider's id."""
    status, keys = keycloak.admin("GET", "/keys")
    assert status == 200, keys
    assert isinstance(keys, dict)
    top = max(int(k.get("providerPriority", 0)) for k in keys["keys"])
    return add_key_provider(
        keycloak,
        "rsa-generated",
        priority=str(top + 100),
        active="true",
        enabled="true",
        algorithm="RS256",
        keySize="2048",
    )


@pytest.fixture(scope="session")
def sign_in(keycloak: Keycloak) -> SignIn:
    for client_id, mappers_of in (
        (TEST_CLIENT, "rebirth-dashboard"),
        (STOREFRONT_TEST_CLIENT, "rebirth-storefront"),
    ):
        body = direct_grant_client(client_id, realm_mappers(mappers_of))
        status, answer = keycloak.admin("POST", "/clients", body)
        assert status == 201, answer
    museum_user = unique("staff-a")
    keycloak.add_user(museum_user, PASSWORD, ["museum"], museum_id="museum-a")
    # another issuer: a second realm in the same Keycloak, with its own keys
    status, answer = keycloak.request(
        "POST",
        f"{keycloak.url}/admin/realms",
        body={
            "realm": OTHER_REALM,
            "enabled": True,
            "roles": {"realm": [{"name": "operator"}]},
            "clients": [direct_grant_client(TEST_CLIENT, realm_mappers("rebirth-dashboard"))],
        },
        token=keycloak.admin_token(),
    )
    assert status == 201, answer
    keycloak.add_user("intruder", PASSWORD, ["operator"], realm=OTHER_REALM)
    own_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    add_key_provider(
        keycloak,
        "rsa",
        privateKey=_pem(own_key),
        certificate=_certificate(own_key),
        priority="1",  # lowest: Keycloak keeps signing with its own key
        active="true",
        enabled="true",
        algorithm="RS256",
    )
    return SignIn(
        keycloak=keycloak,
        museum_user=museum_user,
        # read, not rotated: other modules read it too
        ops_secret=keycloak.client_secret("rebirth-ops"),
        own_key=own_key,
        own_kid=_kid_of(keycloak, own_key),
    )


# --- services configured with the Keycloak as an issuer --------------------------------


def oidc_env(infra: Infra, keycloak: Keycloak) -> dict[str, str]:
    """A test service's environment with the realm as its one OpenID issuer."""
    issuers = [
        {
            # no jwks_url: found through the issuer's discovery document
            "issuer": keycloak.issuer,
            "audience": AUDIENCE,
            "leeway_seconds": LEEWAY_SECONDS,
            "jwks_cache_seconds": JWKS_CACHE_SECONDS,
            # no cooldown: a rotated key is fetched at its first token
            "jwks_refresh_cooldown_seconds": 0,
        }
    ]
    return {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "MONGODB_URL": infra.mongodb_url,
        "ENVIRONMENT": "test",
        "OIDC_ISSUERS": json.dumps(issuers),
    }


@pytest.fixture(scope="module")
def analytics(infra: Infra, keycloak: Keycloak) -> Iterator[ServiceProcess]:
    process = ServiceProcess("analytics", oidc_env(infra, keycloak))
    yield process
    process.stop()


async def get(service: ServiceProcess, path: str, token: str) -> httpx.Response:
    async with service.client(token) as client:
        return await client.get(path)


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A JWT's header and claims, unverified."""
    head, body, _ = token.split(".")
    return _json_segment(head), _json_segment(body)


def _json_segment(part: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))
