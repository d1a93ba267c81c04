"""Sign-in through a real OpenID Connect provider: a Keycloak started for the
session (deploy/local/keycloak.py) with the repository's realm, and a real
analytics process configured with it as an issuer (OIDC_ISSUERS).

Tokens Keycloak issues are accepted and scoped; every attack is a 401
problem+json: another issuer, the wrong audience, expired, not yet valid, a
tampered signature, alg=none, HS256 keyed with the issuer's public key; and a
key rotated in Keycloak is accepted without restarting the service.

Expired and not-yet-valid tokens need the issuer's signature: the test imports
an RSA key of its own into the realm (published in its JWKS, never Keycloak's
choice for signing, as its priority is lowest) and signs those with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from keycloak import REALM, REALM_FILE, Keycloak

from servicekit.auth import Principal, Role, TokenService
from servicekit.settings import ServiceSettings
from tests.conftest import Infra
from tests.support import ServiceProcess, unique

pytestmark = [pytest.mark.infra, pytest.mark.keycloak, pytest.mark.asyncio]

PROBLEM = "application/problem+json"
AUDIENCE = "relic-rebirth"
TEST_CLIENT = "rebirth-test"  # direct grants: added here, never in deploy/keycloak/
PASSWORD = "test-only-password-1"
OTHER_REALM = "elsewhere"


@dataclass
class SignIn:
    """The realm as the tests set it up."""

    keycloak: Keycloak
    museum_user: str
    ops_secret: str
    own_key: rsa.RSAPrivateKey  # imported into the realm: its kid is `own_kid`
    own_kid: str

    def password_tokens(self, username: str | None = None) -> dict[str, Any]:
        return self.keycloak.password_grant(TEST_CLIENT, username or self.museum_user, PASSWORD)

    def access_token(self) -> str:
        return str(self.password_tokens()["access_token"])


def _test_client(mappers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "clientId": TEST_CLIENT,
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


def _add_key_provider(keycloak: Keycloak, provider: str, **config: str) -> None:
    _, realm = keycloak.admin("GET", "")
    assert isinstance(realm, dict)
    body = {
        "name": unique(provider),
        "providerId": provider,
        "providerType": "org.keycloak.keys.KeyProvider",
        "parentId": realm["id"],
        "config": {name: [value] for name, value in config.items()},
    }
    status, answer = keycloak.admin("POST", "/components", body)
    assert status == 201, answer


@pytest.fixture(scope="module")
def sign_in(keycloak: Keycloak) -> SignIn:
    realm = json.loads(Path(REALM_FILE).read_text())
    mappers = next(c for c in realm["clients"] if c["clientId"] == "rebirth-dashboard")[
        "protocolMappers"
    ]
    status, answer = keycloak.admin("POST", "/clients", _test_client(mappers))
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
            "clients": [_test_client(mappers)],
        },
        token=keycloak.admin_token(),
    )
    assert status == 201, answer
    keycloak.add_user("intruder", PASSWORD, ["operator"], realm=OTHER_REALM)
    own_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _add_key_provider(
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
        ops_secret=keycloak.new_client_secret("rebirth-ops"),
        own_key=own_key,
        own_kid=_kid_of(keycloak, own_key),
    )


@pytest.fixture(scope="module")
def analytics(infra: Infra, keycloak: Keycloak) -> Iterator[ServiceProcess]:
    issuers = [
        # no jwks_url: found through the issuer's discovery document; no
        # cooldown, so the rotation test needs no waiting
        {"issuer": keycloak.issuer, "audience": AUDIENCE, "jwks_refresh_cooldown_seconds": 0}
    ]
    process = ServiceProcess(
        "analytics",
        {
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "MONGODB_URL": infra.mongodb_url,
            "ENVIRONMENT": "test",
            "OIDC_ISSUERS": json.dumps(issuers),
        },
    )
    yield process
    process.stop()


async def _get(service: ServiceProcess, path: str, token: str) -> httpx.Response:
    async with service.client(token) as client:
        return await client.get(path)


async def test_keycloak_tokens_are_accepted_and_scoped(
    sign_in: SignIn, analytics: ServiceProcess
) -> None:
    tokens = sign_in.password_tokens()
    me = await _get(analytics, "/me", str(tokens["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["role"] == "museum"
    assert me.json()["museum_id"] == "museum-a"
    own = await _get(analytics, "/museums/museum-a/dashboard", str(tokens["access_token"]))
    assert own.status_code == 200, own.text
    other = await _get(analytics, "/museums/museum-b/dashboard", str(tokens["access_token"]))
    assert other.status_code == 403
    # operators' scripts: client credentials with the confidential client
    ops = sign_in.keycloak.client_credentials("rebirth-ops", sign_in.ops_secret)
    overview = await _get(analytics, "/overview", str(ops["access_token"]))
    assert overview.status_code == 200, overview.text
    # the development tokens keep working beside the issuer
    dev = TokenService(ServiceSettings()).mint(Principal("dev", Role.MUSEUM, museum_id="m"))
    assert (await _get(analytics, "/me", dev)).json()["subject"] == "dev"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, body, _ = token.split(".")
    return _json_segment(head), _json_segment(body)


def _json_segment(part: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def _flip(signature: str) -> str:
    """One character of the signature changed (mid-way: every bit there counts)."""
    middle = len(signature) // 2
    return signature[:middle] + ("B" if signature[middle] == "A" else "A") + signature[middle + 1 :]


def _forge(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if secret is None:
        return signing_input + "."
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _attacks(sign_in: SignIn) -> dict[str, tuple[str, str]]:
    keycloak = sign_in.keycloak
    tokens = sign_in.password_tokens()
    real = str(tokens["access_token"])
    header, claims = _segments(real)
    now = int(time.time())

    def own_signed(**changes: Any) -> str:
        """Signed by a key the issuer publishes, with claims the test chooses."""
        return jwt.encode({**claims, **changes}, sign_in.own_key, "RS256", {"kid": sign_in.own_kid})

    head, body, signature = real.split(".")
    escalated = {**claims, "realm_access": {"roles": ["operator"]}}
    _, jwks = keycloak.request("GET", keycloak.jwks_url)
    assert isinstance(jwks, dict)
    issuer_jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    issuer_pem = jwt.PyJWK(issuer_jwk).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs256 = {"alg": "HS256", "typ": "JWT", "kid": header["kid"]}
    other = keycloak.password_grant(TEST_CLIENT, "intruder", PASSWORD, realm=OTHER_REALM)
    wrong_audience, bad_signature = "Audience doesn't match", "Signature verification failed"
    return {  # each attack's token, and the reason it must be refused for
        # a development token, as far as the service can tell: HS256 only
        "another issuer": (str(other["access_token"]), "alg value is not allowed"),
        "the wrong audience (Keycloak's ID token)": (str(tokens["id_token"]), wrong_audience),
        "the wrong audience (issuer-signed)": (own_signed(aud="another-api"), wrong_audience),
        "expired": (own_signed(iat=now - 900, exp=now - 600), "Signature has expired"),
        "not yet valid": (own_signed(nbf=now + 600), "not yet valid"),
        "a tampered payload": (
            f"{head}.{_b64(json.dumps(escalated).encode())}.{signature}",
            bad_signature,
        ),
        "a tampered signature": (f"{head}.{body}.{_flip(signature)}", bad_signature),
        "alg=none": (
            _forge({**header, "alg": "none"}, escalated, None),
            "algorithm 'none' is not accepted",
        ),
        "HS256 keyed with the issuer's public key": (
            _forge(hs256, escalated, issuer_pem),
            "algorithm 'HS256' is not accepted",
        ),
        "HS256 keyed with the issuer's JWK": (
            _forge(hs256, escalated, json.dumps(issuer_jwk).encode()),
            "algorithm 'HS256' is not accepted",
        ),
    }


async def test_every_attack_is_a_401_problem(sign_in: SignIn, analytics: ServiceProcess) -> None:
    # the imported key itself verifies: so the refusals below are for their reasons
    _, claims = _segments(sign_in.access_token())
    fine = jwt.encode(claims, sign_in.own_key, "RS256", {"kid": sign_in.own_kid})
    assert (await _get(analytics, "/me", fine)).status_code == 200
    attacks = _attacks(sign_in)
    answers = {
        attack: await _get(analytics, "/me", token) for attack, (token, _) in attacks.items()
    }
    wrong = {
        attack: (r.status_code, r.headers.get("content-type"), r.text)
        for attack, r in answers.items()
        if r.status_code != 401
        or r.headers.get("content-type") != PROBLEM
        or attacks[attack][1] not in r.json()["detail"]
    }
    assert wrong == {}


async def test_a_key_rotated_in_keycloak_is_accepted_without_a_restart(
    sign_in: SignIn, analytics: ServiceProcess
) -> None:
    before = sign_in.access_token()
    assert (await _get(analytics, "/me", before)).status_code == 200
    _add_key_provider(
        sign_in.keycloak,
        "rsa-generated",
        priority="1000",  # above Keycloak's own: signs from now on
        active="true",
        enabled="true",
        algorithm="RS256",
        keySize="2048",
    )
    after = sign_in.access_token()
    assert _segments(after)[0]["kid"] != _segments(before)[0]["kid"]
    me = await _get(analytics, "/me", after)
    assert me.status_code == 200, me.text
    assert me.json()["museum_id"] == "museum-a"
    assert (await _get(analytics, "/me", before)).status_code == 200  # the old key still listed
