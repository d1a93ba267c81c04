"""Sign-in through a real OpenID Connect provider: a Keycloak started for the
session (deploy/local/keycloak.py) with the repository's realm, and a real
analytics process configured with it as an issuer (OIDC_ISSUERS).

Tokens Keycloak issues are accepted and scoped; every attack is a 401
problem+json: another issuer, the wrong audience, expired, not yet valid, a
tampered signature, alg=none, HS256 keyed with the issuer's public key; and a
key rotated in Keycloak is accepted without restarting the service.

Expired and not-yet-valid tokens need the issuer's signature: the `sign_in`
fixture (conftest.py) imports an RSA key of the test's own into the realm
(published in its JWKS, never Keycloak's choice for signing, as its priority is
lowest) and the test signs those with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from servicekit.auth import Principal, Role, TokenService
from servicekit.settings import ServiceSettings
from tests.security.conftest import (
    OTHER_REALM,
    PASSWORD,
    PROBLEM,
    TEST_CLIENT,
    SignIn,
    add_signing_key,
    get,
    segments,
)
from tests.support import ServiceProcess

pytestmark = [pytest.mark.infra, pytest.mark.keycloak, pytest.mark.asyncio]


async def test_keycloak_tokens_are_accepted_and_scoped(
    sign_in: SignIn, analytics: ServiceProcess
) -> None:
    tokens = sign_in.password_tokens()
    me = await get(analytics, "/me", str(tokens["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["role"] == "museum"
    assert me.json()["museum_id"] == "museum-a"
    own = await get(analytics, "/museums/museum-a/dashboard", str(tokens["access_token"]))
    assert own.status_code == 200, own.text
    other = await get(analytics, "/museums/museum-b/dashboard", str(tokens["access_token"]))
    assert other.status_code == 403
    # operators' scripts: client credentials with the confidential client
    ops = sign_in.keycloak.client_credentials("rebirth-ops", sign_in.ops_secret)
    overview = await get(analytics, "/overview", str(ops["access_token"]))
    assert overview.status_code == 200, overview.text
    # the development tokens keep working beside the issuer
    dev = TokenService(ServiceSettings()).mint(Principal("dev", Role.MUSEUM, museum_id="m"))
    assert (await get(analytics, "/me", dev)).json()["subject"] == "dev"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


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
    header, claims = segments(real)
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
    _, claims = segments(sign_in.access_token())
    fine = jwt.encode(claims, sign_in.own_key, "RS256", {"kid": sign_in.own_kid})
    assert (await get(analytics, "/me", fine)).status_code == 200
    attacks = _attacks(sign_in)
    answers = {attack: await get(analytics, "/me", token) for attack, (token, _) in attacks.items()}
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
    assert (await get(analytics, "/me", before)).status_code == 200
    add_signing_key(sign_in.keycloak)  # above every key the realm has: signs from now on
    after = sign_in.access_token()
    assert segments(after)[0]["kid"] != segments(before)[0]["kid"]
    me = await get(analytics, "/me", after)
    assert me.status_code == 200, me.text
    assert me.json()["museum_id"] == "museum-a"
    assert (await get(analytics, "/me", before)).status_code == 200  # the old key still listed
