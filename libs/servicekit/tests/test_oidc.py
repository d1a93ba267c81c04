"""Tokens from an OpenID Connect issuer: accepted only when everything holds.

Pure: RSA and EC keys made here, the issuer's JWKS served by a stub fetch (no
network); the same checks run against a real Keycloak in
tests/security/test_oidc_keycloak.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from functools import cache
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from pydantic import SecretStr, ValidationError

from servicekit.auth import CurrentPrincipal, Principal, Role, TokenService
from servicekit.errors import Unauthorized
from servicekit.oidc import MUSEUM_ADMIN_ROLE, ROLE_PRECEDENCE
from servicekit.problems import install_problem_handlers
from servicekit.settings import OidcIssuer, ServiceSettings

ISSUER = "https://id.example.test/realms/relic-rebirth"
JWKS_URL = f"{ISSUER}/protocol/openid-connect/certs"
AUDIENCE = "relic-rebirth"
_next_key = itertools.count()


@cache
def _pooled_rsa_key(index: int) -> rsa.RSAPrivateKey:  # noqa: ARG001 - the cache key
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _rsa_key() -> rsa.RSAPrivateKey:
    """RSA keys are slow to make: four, reused (a provider holds at most four)."""
    return _pooled_rsa_key(next(_next_key) % 4)


class Provider:
    """An OpenID provider in miniature: keys, a JWKS document, a token minter."""

    def __init__(self, issuer: str = ISSUER) -> None:
        self.issuer = issuer
        self.keys: dict[str, Any] = {}
        self.published: list[str] = []
        self.fetches: list[str] = []
        self.down = False  # unreachable: every fetch fails
        self.add_rsa_key("key-1")

    def add_rsa_key(self, kid: str, *, publish: bool = True) -> None:
        self.keys[kid] = _rsa_key()
        if publish:
            self.published.append(kid)

    def add_ec_key(self, kid: str) -> None:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())
        self.published.append(kid)

    def jwks(self) -> dict[str, Any]:
        entries = []
        for kid in self.published:
            key = self.keys[kid]
            if isinstance(key, rsa.RSAPrivateKey):
                jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
                jwk["alg"] = "RS256"
            else:
                jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
                jwk["alg"] = "ES256"
            entries.append({**jwk, "kid": kid, "use": "sig"})
        return {"keys": entries}

    def fetch(self, url: str) -> Any:
        self.fetches.append(url)
        if self.down:
            raise jwt.PyJWKClientConnectionError(f"{url} is unreachable")
        if url == JWKS_URL:
            return self.jwks()
        if url == f"{self.issuer}/.well-known/openid-configuration":
            return {"issuer": self.issuer, "jwks_uri": JWKS_URL}
        raise jwt.PyJWKClientConnectionError(f"nothing at {url}")

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": [AUDIENCE, "account"],
            "sub": "f3c1-user",
            "iat": now,
            "exp": now + 300,
            "realm_access": {"roles": ["default-roles-relic-rebirth", "museum"]},
            "museum_id": "three-gorges",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, kid: str = "key-1", algorithm: str | None = None, **overrides: Any) -> str:
        key = self.keys[kid]
        algorithm = algorithm or ("RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256")
        return jwt.encode(self.claims(**overrides), key, algorithm, headers={"kid": kid})

    def public_pem(self, kid: str = "key-1") -> bytes:
        return bytes(
            self.keys[kid]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    """Tokens as an attacker writes them (PyJWT refuses to make these)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if secret is None:
        return signing_input + "."
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def service(provider: Provider, **issuer: Any) -> TokenService:
    config = OidcIssuer(issuer=provider.issuer, audience=AUDIENCE, jwks_url=JWKS_URL, **issuer)
    return TokenService(ServiceSettings(oidc_issuers=[config]), fetch=provider.fetch)


@pytest.fixture
def provider() -> Provider:
    return Provider()


def test_a_provider_token_maps_to_the_principal(provider: Provider) -> None:
    tokens = service(provider)
    assert tokens.verify(provider.token()) == Principal(
        subject="f3c1-user", role=Role.MUSEUM, museum_id="three-gorges"
    )
    # several platform roles: the most privileged wins; a `role` claim wins over realm roles
    both = provider.token(realm_access={"roles": ["tourist", "licensee"]}, licensee_id="lic-9")
    assert tokens.verify(both).role is Role.LICENSEE
    assert tokens.verify(provider.token(role="operator")).role is Role.OPERATOR
    assert set(ROLE_PRECEDENCE) == {role.value for role in Role}


def test_development_tokens_still_work_beside_an_issuer(provider: Provider) -> None:
    tokens = service(provider)
    principal = Principal("t", Role.TOURIST)
    assert tokens.verify(tokens.mint(principal)) == principal
    assert provider.fetches == []  # a development token never reaches the provider


def test_the_key_set_is_cached_and_refetched_for_an_unknown_kid(provider: Provider) -> None:
    tokens = service(provider, jwks_refresh_cooldown_seconds=0)
    tokens.verify(provider.token())
    tokens.verify(provider.token())
    assert provider.fetches == [JWKS_URL]
    provider.add_rsa_key("key-2")  # rotated in the provider
    assert tokens.verify(provider.token("key-2")).subject == "f3c1-user"
    assert provider.fetches == [JWKS_URL, JWKS_URL]


def test_forged_kids_refetch_at_most_once_per_cooldown(provider: Provider) -> None:
    tokens = service(provider, jwks_refresh_cooldown_seconds=3600)
    tokens.verify(provider.token())
    provider.add_rsa_key("unpublished", publish=False)
    for _ in range(5):
        with pytest.raises(Unauthorized, match="no signing key"):
            tokens.verify(provider.token("unpublished"))
    assert provider.fetches == [JWKS_URL]


def test_ec_keys_verify_and_discovery_finds_the_key_set(provider: Provider) -> None:
    provider.add_ec_key("ec-1")
    config = OidcIssuer(issuer=provider.issuer, audience=AUDIENCE)
    tokens = TokenService(ServiceSettings(oidc_issuers=[config]), fetch=provider.fetch)
    assert tokens.verify(provider.token("ec-1")).museum_id == "three-gorges"
    assert provider.fetches[0] == f"{ISSUER}/.well-known/openid-configuration"


def test_a_discovery_document_naming_another_issuer_is_refused(provider: Provider) -> None:
    def lying(url: str) -> Any:
        assert url.endswith("/.well-known/openid-configuration")
        return {"issuer": "https://evil.test", "jwks_uri": JWKS_URL}

    config = OidcIssuer(issuer=provider.issuer, audience=AUDIENCE)
    tokens = TokenService(ServiceSettings(oidc_issuers=[config]), fetch=lying)
    with pytest.raises(Unauthorized):
        tokens.verify(provider.token())


def test_unreachable_keys_are_unauthorized(provider: Provider) -> None:
    config = OidcIssuer(issuer=provider.issuer, audience=AUDIENCE, jwks_url=f"{ISSUER}/down")
    tokens = TokenService(ServiceSettings(oidc_issuers=[config]), fetch=provider.fetch)
    with pytest.raises(Unauthorized, match="unavailable"):
        tokens.verify(provider.token())
    undiscoverable = Provider("https://down.example.test")
    config = OidcIssuer(issuer=undiscoverable.issuer, audience=AUDIENCE)
    tokens = TokenService(ServiceSettings(oidc_issuers=[config]), fetch=provider.fetch)
    with pytest.raises(Unauthorized, match="unavailable"):
        tokens.verify(undiscoverable.token())


def test_an_unreachable_provider_keeps_the_keys_it_published_last(provider: Provider) -> None:
    tokens = service(provider, jwks_cache_seconds=0.05, jwks_refresh_cooldown_seconds=0)
    token = provider.token()
    assert tokens.verify(token).subject == "f3c1-user"
    provider.down = True
    time.sleep(0.1)  # the cached key set has ended: the next token refetches
    assert tokens.verify(token).subject == "f3c1-user"
    assert provider.fetches.count(JWKS_URL) >= 2  # it did try the provider again
    provider.add_rsa_key("key-2")  # published while the services cannot see it
    with pytest.raises(Unauthorized, match="no signing key"):
        tokens.verify(provider.token("key-2"))
    provider.down = False
    assert tokens.verify(provider.token("key-2")).subject == "f3c1-user"


def _tampered(token: str) -> str:
    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["role"] = "operator"
    return f"{head}.{_b64(json.dumps(claims).encode())}.{signature}"


def _attacks(provider: Provider) -> dict[str, tuple[str, str]]:
    """Each attack's token and the reason it must be refused for."""
    now = int(time.time())
    other = Provider("https://other.example.test/realms/relic-rebirth")
    provider.add_rsa_key("stranger", publish=False)
    hs256 = {"alg": "HS256", "typ": "JWT", "kid": "key-1"}
    jwk_text = json.dumps(provider.jwks()["keys"][0]).encode()
    return {
        "another issuer": (other.token(), "alg value is not allowed"),  # a development token?
        "wrong audience": (provider.token(aud="some-other-api"), "Audience doesn't match"),
        "no audience": (provider.token(aud=None), 'missing the "aud" claim'),
        "expired": (provider.token(exp=now - 120), "expired"),
        "not yet valid": (provider.token(nbf=now + 600), "not yet valid"),
        "no expiry": (provider.token(exp=None), 'missing the "exp" claim'),
        "tampered claims": (_tampered(provider.token()), "Signature verification failed"),
        "signed by a key the issuer never published": (
            provider.token("stranger"),
            "no signing key 'stranger'",
        ),
        "another key under a published kid": (
            jwt.encode(
                provider.claims(), provider.keys["stranger"], "RS256", headers={"kid": "key-1"}
            ),
            "Signature verification failed",
        ),
        "alg none": (
            forge({"alg": "none", "kid": "key-1"}, provider.claims(), None),
            "algorithm 'none' is not accepted",
        ),
        "HS256 with the public key as secret": (
            forge(hs256, provider.claims(), provider.public_pem()),
            "algorithm 'HS256' is not accepted",
        ),
        "HS256 with the JWK as secret": (
            forge(hs256, provider.claims(), jwk_text),
            "algorithm 'HS256' is not accepted",
        ),
        # the issuer in this case pins ES256 only (see the test)
        "RS256 not on the pinned list": (provider.token(), "algorithm 'RS256' is not accepted"),
        "no kid": (
            jwt.encode(provider.claims(), provider.keys["key-1"], "RS256"),
            "names no signing key",
        ),
        "no platform role": (
            provider.token(realm_access={"roles": ["offline_access"]}),
            "none of the platform's roles",
        ),
        "unknown role claim": (provider.token(role="superuser"), "unknown role"),
        "museum without museum_id": (provider.token(museum_id=None), "must carry museum_id"),
        "museum_id not a string": (
            provider.token(museum_id=["a", "b"]),
            "museum_id claim must be a string",
        ),
        "no subject": (provider.token(sub=None), 'missing the "sub" claim'),
    }


@pytest.mark.parametrize("attack", list(_attacks(Provider())))
def test_every_attack_is_unauthorized(provider: Provider, attack: str) -> None:
    token, reason = _attacks(provider)[attack]
    algorithms = ("ES256",) if attack == "RS256 not on the pinned list" else ("RS256", "ES256")
    tokens = service(provider, algorithms=algorithms)
    with pytest.raises(Unauthorized) as refused:
        tokens.verify(token)
    assert reason in refused.value.detail


def test_the_leeway_absorbs_small_clock_skew(provider: Provider) -> None:
    tokens = service(provider, leeway_seconds=30)
    now = int(time.time())
    assert tokens.verify(provider.token(exp=now - 5, nbf=now + 5)).role is Role.MUSEUM


@pytest.mark.asyncio
async def test_a_refused_provider_token_is_a_401_problem(provider: Provider) -> None:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.tokens = service(provider)

    @app.get("/me")
    def me(principal: CurrentPrincipal) -> dict[str, str]:
        return {"role": principal.role.value}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ok = await client.get("/me", headers={"Authorization": f"Bearer {provider.token()}"})
        assert ok.json() == {"role": "museum"}
        expired = provider.token(exp=int(time.time()) - 600)
        refused = await client.get("/me", headers={"Authorization": f"Bearer {expired}"})
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status"] == 401


@pytest.mark.parametrize("algorithms", [("HS256",), ("none",), ()])
def test_symmetric_or_no_algorithms_cannot_be_configured(algorithms: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError):
        OidcIssuer(issuer=ISSUER, audience=AUDIENCE, algorithms=algorithms)


def test_issuers_come_from_the_environment_and_must_be_distinct(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OIDC_ISSUERS", json.dumps([{"issuer": ISSUER, "audience": AUDIENCE}]))
    assert ServiceSettings().oidc_issuers == [OidcIssuer(issuer=ISSUER, audience=AUDIENCE)]
    monkeypatch.setenv("OIDC_ISSUERS", json.dumps([{"issuer": "relic-rebirth", "audience": "x"}]))
    with pytest.raises(ValidationError):
        ServiceSettings()
    twice = [{"issuer": ISSUER, "audience": AUDIENCE}] * 2
    monkeypatch.setenv("OIDC_ISSUERS", json.dumps(twice))
    with pytest.raises(ValidationError):
        ServiceSettings()


def test_production_needs_an_issuer() -> None:
    with pytest.raises(ValidationError, match="OIDC_ISSUERS"):
        ServiceSettings(environment="production")
    issuers = [OidcIssuer(issuer=ISSUER, audience=AUDIENCE)]
    # the development secret may stay: production verifies nothing with it
    assert ServiceSettings(environment="production", oidc_issuers=issuers).oidc_only


def _production(provider: Provider, **settings: Any) -> TokenService:
    config = OidcIssuer(issuer=provider.issuer, audience=AUDIENCE, jwks_url=JWKS_URL)
    return TokenService(
        ServiceSettings(environment="production", oidc_issuers=[config], **settings),
        fetch=provider.fetch,
    )


def test_production_accepts_only_the_issuers_tokens(provider: Provider) -> None:
    tokens = _production(provider)
    assert tokens.verify(provider.token()).museum_id == "three-gorges"
    operator = Principal("ops", Role.OPERATOR)
    # the development token, signed with the secret production holds
    with pytest.raises(Unauthorized, match="not from a configured OpenID issuer"):
        tokens.verify(tokens.mint(operator))
    strong = SecretStr("a-production-secret-" + "x" * 32)
    with pytest.raises(Unauthorized, match="not from a configured OpenID issuer"):
        _production(provider, jwt_secret=strong).verify(
            TokenService(ServiceSettings(jwt_secret=strong)).mint(operator)
        )
    # the local RS256 tokens too, public key configured or not
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = provider.public_pem().decode()  # any public key: it is never consulted
    minted = TokenService(
        ServiceSettings(jwt_algorithm="RS256", jwt_public_key=public, jwt_private_key=private)
    ).mint(operator)
    rs256 = _production(provider, jwt_algorithm="RS256", jwt_public_key=public)
    with pytest.raises(Unauthorized, match="not from a configured OpenID issuer"):
        rs256.verify(minted)


@pytest.mark.asyncio
async def test_production_answers_a_development_token_with_a_401_problem(
    provider: Provider,
) -> None:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.tokens = _production(provider)

    @app.get("/me")
    def me(principal: CurrentPrincipal) -> dict[str, str]:
        return {"role": principal.role.value}

    development = TokenService(ServiceSettings()).mint(Principal("ops", Role.OPERATOR))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        refused = await client.get("/me", headers={"Authorization": f"Bearer {development}"})
        accepted = await client.get("/me", headers={"Authorization": f"Bearer {provider.token()}"})
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert "not from a configured OpenID issuer" in refused.json()["detail"]
    assert accepted.json() == {"role": "museum"}


def test_the_museum_admin_role_maps_to_the_principal(provider: Provider) -> None:
    tokens = service(provider)
    # Keycloak expands the composite museum-admin: both roles are in the token
    admin = tokens.verify(provider.token(realm_access={"roles": ["museum", MUSEUM_ADMIN_ROLE]}))
    assert admin.museum_admin
    assert admin.administers_museum("three-gorges")
    assert not admin.administers_museum("palace")
    assert not tokens.verify(provider.token()).museum_admin
    # a provider that sets claims instead of roles: only a JSON true counts
    assert tokens.verify(provider.token(museum_admin=True)).museum_admin
    assert not tokens.verify(provider.token(museum_admin="true")).museum_admin
    # an operator holding it acts as an operator, never as a museum's admin
    operator = tokens.verify(provider.token(realm_access={"roles": ["operator", "museum-admin"]}))
    assert operator.role is Role.OPERATOR
    assert not operator.museum_admin
    # roles that are not strings are no roles (and no crash)
    odd = provider.token(realm_access={"roles": [{"name": "operator"}, ["x"], "museum"]})
    assert tokens.verify(odd).role is Role.MUSEUM
    # museum-admin alone is no platform role (Keycloak's composite always adds museum)
    with pytest.raises(Unauthorized, match="none of the platform's roles"):
        tokens.verify(provider.token(realm_access={"roles": [MUSEUM_ADMIN_ROLE]}))


def test_an_issuer_vouches_only_for_its_roles_and_ids(provider: Provider) -> None:
    # a museum's own provider: its staff, never an operator or another museum's
    tokens = service(provider, roles=("museum",), museum_ids=("three-gorges",))
    assert tokens.verify(provider.token()).museum_id == "three-gorges"
    for claims in ({"role": "operator"}, {"museum_id": "palace-museum"}):
        with pytest.raises(Unauthorized, match="may not"):
            tokens.verify(provider.token(**claims))


def test_each_issuer_names_its_own_users(provider: Provider) -> None:
    tokens = service(provider, subject_prefix="dazu:")
    assert tokens.verify(provider.token()).subject == "dazu:f3c1-user"
    main = OidcIssuer(issuer=ISSUER, audience=AUDIENCE)
    other = {"issuer": "https://id.museum.example/realms/staff", "audience": AUDIENCE}
    # one subject space for two issuers: either could sign in as the other's users
    with pytest.raises(ValidationError, match="subject_prefix"):
        ServiceSettings(oidc_issuers=[main, OidcIssuer(**other)])
    ServiceSettings(oidc_issuers=[main, OidcIssuer(**other, subject_prefix="museum-x:")])
