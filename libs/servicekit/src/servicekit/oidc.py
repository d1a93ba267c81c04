"""Access tokens from OpenID Connect providers (Keycloak, or a museum's own).

A token is checked against the one configured issuer its `iss` names: the
header's `alg` must be on the issuer's pinned, asymmetric list (checked before
any key is looked up, so `none` and HS* never reach a key); the signature
verifies with the issuer's key of that `kid` from its JWKS; `iss`, `aud`,
`exp` and `nbf` hold, with a small leeway for clock skew.

The JWKS is fetched with PyJWT's `PyJWKClient`: cached for
`jwks_cache_seconds`, and refetched when a token names an unknown `kid` (a key
rotated in the provider needs no restart), at most once per
`jwks_refresh_cooldown_seconds`. While the provider is unreachable, the key
set it published last keeps verifying (an outage does not sign everyone out).

Claim mapping (the one place provider claims become a platform identity):

    subject      the issuer's `subject_prefix` + `sub` (each issuer its own space)
    role         the `role` claim when the provider sets one; otherwise the
                 first of operator, museum, licensee, tourist found among the
                 realm roles (`realm_access.roles`, Keycloak's shape)
    museum_id    the `museum_id` claim (a user attribute in Keycloak)
    licensee_id  the `licensee_id` claim
    museum_admin the realm role `museum-admin` (MUSEUM_ADMIN_ROLE; a composite
                 of `museum` in Keycloak), or a `museum_admin: true` claim from
                 a provider that sets claims; it counts only with role museum

An issuer vouches only for its configured `roles`, `museum_ids` and
`licensee_ids` (a museum's own provider: its staff, never an operator).

Every failure is `Unauthorized` (401 problem+json).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient

from servicekit.errors import Unauthorized
from servicekit.settings import OidcIssuer

__all__ = [
    "MUSEUM_ADMIN_ROLE",
    "NOT_FROM_AN_ISSUER",
    "ROLE_PRECEDENCE",
    "FetchJson",
    "Identity",
    "OidcVerifier",
    "identity_from_claims",
    "vouched",
]

# a user holding several platform roles acts in the most privileged one
ROLE_PRECEDENCE = ("operator", "museum", "licensee", "tourist")
# a museum's administrator: manages its museum's staff (catalog's /staff)
MUSEUM_ADMIN_ROLE = "museum-admin"

# GET a URL and parse its JSON body; tests pass a stub instead of the network
FetchJson = Callable[[str], Any]

_TIMEOUT_SECONDS = 5.0
NOT_FROM_AN_ISSUER = "the token is not from a configured OpenID issuer"
log = logging.getLogger(__name__)


def _fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=_TIMEOUT_SECONDS) as response:
        return json.load(response)


@dataclass(frozen=True)
class Identity:
    """Who a provider's token names, in the platform's terms (roles unchecked)."""

    subject: str
    role: str
    museum_id: str | None = None
    licensee_id: str | None = None
    museum_admin: bool = False


def _optional_text(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None or isinstance(value, str):
        return value or None
    raise Unauthorized(f"the {name} claim must be a string")


def identity_from_claims(claims: Mapping[str, Any]) -> Identity:
    """The documented mapping (module docstring) of verified claims."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthorized("the token has no subject")
    realm_access = claims.get("realm_access")
    roles = realm_access.get("roles") if isinstance(realm_access, dict) else None
    held = {r for r in roles if isinstance(r, str)} if isinstance(roles, list) else set()
    role = claims.get("role")
    if role is None:
        role = next((r for r in ROLE_PRECEDENCE if r in held), None)
        if role is None:
            raise Unauthorized("the token carries none of the platform's roles")
    if not isinstance(role, str):
        raise Unauthorized("the role claim must be a string")
    return Identity(
        subject=subject,
        role=role,
        museum_id=_optional_text(claims, "museum_id"),
        licensee_id=_optional_text(claims, "licensee_id"),
        # `is True`: only a JSON true grants it, never "false" or 1
        museum_admin=MUSEUM_ADMIN_ROLE in held or claims.get("museum_admin") is True,
    )


class _JwksClient(PyJWKClient):
    """PyJWKClient whose fetch can be a stub; caching and the refetch on an
    unknown kid (with its cooldown) stay PyJWKClient's own."""

    def __init__(self, uri: str, config: OidcIssuer, fetch: FetchJson | None) -> None:
        super().__init__(
            uri,
            cache_jwk_set=True,
            lifespan=config.jwks_cache_seconds,
            cooldown_duration=config.jwks_refresh_cooldown_seconds,
            timeout=_TIMEOUT_SECONDS,
        )
        self._fetch = fetch
        self._last_published: Any = None  # the last key set the provider answered with

    def fetch_data(self) -> Any:
        try:
            if self._fetch is None:
                data = super().fetch_data()
            else:
                data = self._fetch(self.uri)
                # as the real fetch does: a fetch starts the refetch cooldown
                self._last_successful_fetch = time.monotonic()
        except jwt.PyJWKClientConnectionError:
            if self._last_published is None:
                raise
            # the provider unreachable: the keys it published last still
            # verify until it answers again (an outage must not sign everyone
            # out once the cache ends); a key it drops ends at its next answer
            log.warning("the keys of %s are unreachable: using those it published last", self.uri)
            return self._last_published
        self._last_published = data
        return data


class _Issuer:
    def __init__(self, config: OidcIssuer, fetch: FetchJson | None) -> None:
        self.config = config
        self._fetch = fetch
        self._jwks: _JwksClient | None = None
        self._lock = threading.Lock()

    def _jwks_url(self) -> str:
        if self.config.jwks_url:
            return self.config.jwks_url
        # OpenID Connect Discovery: the document must name the same issuer
        url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = (self._fetch or _fetch_json)(url)
        if not isinstance(document, dict) or document.get("issuer") != self.config.issuer:
            raise Unauthorized(
                f"the discovery document of {self.config.issuer} names another issuer"
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise Unauthorized(f"the discovery document of {self.config.issuer} has no jwks_uri")
        return jwks_uri

    def signing_key(self, kid: str) -> PyJWK:
        with self._lock:  # discovery once, not once per concurrent request
            if self._jwks is None:
                try:
                    self._jwks = _JwksClient(self._jwks_url(), self.config, self._fetch)
                except (OSError, ValueError, jwt.PyJWTError) as exc:  # unreachable, not JSON
                    raise Unauthorized(f"the keys of {self.config.issuer} are unavailable") from exc
            jwks = self._jwks
        try:
            return jwks.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError as exc:
            raise Unauthorized(f"the keys of {self.config.issuer} are unavailable") from exc
        except (jwt.PyJWKClientError, jwt.PyJWKSetError, jwt.PyJWKError) as exc:
            raise Unauthorized(f"no signing key {kid!r} at {self.config.issuer}") from exc


class OidcVerifier:
    """Verifies access tokens from the configured issuers."""

    def __init__(self, issuers: Sequence[OidcIssuer], *, fetch: FetchJson | None = None) -> None:
        self._issuers = {config.issuer: _Issuer(config, fetch) for config in issuers}

    def claims_issuer(self, token: str) -> str | None:
        """The token's unverified `iss` when it names a configured issuer: the
        token is then this verifier's to accept or refuse."""
        if not self._issuers:
            return None  # none configured: development tokens only, as before
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return None
        issuer = claims.get("iss")
        return issuer if isinstance(issuer, str) and issuer in self._issuers else None

    def verify(self, token: str, issuer_name: str | None = None) -> Identity:
        """The token's identity; `issuer_name`: its `claims_issuer`, when the
        caller has read it already."""
        issuer_name = issuer_name or self.claims_issuer(token)
        if issuer_name is None:
            raise Unauthorized(NOT_FROM_AN_ISSUER)
        issuer = self._issuers[issuer_name]
        config = issuer.config
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in config.algorithms:
            raise Unauthorized(f"algorithm {algorithm!r} is not accepted from {issuer_name}")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("the token names no signing key (kid)")
        key = issuer.signing_key(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(config.algorithms),
                audience=config.audience,
                issuer=issuer_name,
                leeway=config.leeway_seconds,
                options={"require": ["iss", "aud", "exp", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        return vouched(identity_from_claims(claims), config)


def vouched(identity: Identity, config: OidcIssuer) -> Identity:
    """The identity within what its issuer may vouch for (its roles and ids),
    its subject in the issuer's own space (`subject_prefix`)."""
    # an unknown role is refused as such by the principal mapping (servicekit.auth)
    if identity.role in ROLE_PRECEDENCE and identity.role not in config.roles:
        raise Unauthorized(f"{config.issuer} may not grant the role {identity.role!r}")
    for name, allowed in (("museum_id", config.museum_ids), ("licensee_id", config.licensee_ids)):
        value = getattr(identity, name)
        if allowed is not None and value is not None and value not in allowed:
            raise Unauthorized(f"{config.issuer} may not vouch for {name} {value!r}")
    return replace(identity, subject=config.subject_prefix + identity.subject)
