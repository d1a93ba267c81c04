"""JWT bearer tokens (PyJWT): who is calling and in which role.

Roles: `tourist`, `museum` (scoped to museum_id; a museum's administrator
also has `museum_admin`), `licensee` (scoped to licensee_id) and `operator`.
The platform's own tokens: HS256 with a shared secret, or RS256 with a public
key to verify (and a private key only where minted). Tokens whose `iss` names
a configured OpenID Connect issuer (OIDC_ISSUERS) are verified against that
issuer's keys instead (servicekit.oidc). In production (ENVIRONMENT=production)
only those are accepted: the platform's own tokens are development's.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from servicekit.errors import Forbidden, Unauthorized
from servicekit.oidc import NOT_FROM_AN_ISSUER, FetchJson, Identity, OidcVerifier
from servicekit.settings import ServiceSettings

__all__ = [
    "CurrentPrincipal",
    "OptionalPrincipal",
    "Principal",
    "Role",
    "TokenService",
    "require_role",
]


class Role(StrEnum):
    TOURIST = "tourist"
    MUSEUM = "museum"
    LICENSEE = "licensee"
    OPERATOR = "operator"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    museum_id: str | None = None
    licensee_id: str | None = None
    museum_admin: bool = False  # only ever true with role museum (_principal_of)

    @property
    def is_operator(self) -> bool:
        return self.role is Role.OPERATOR

    def administers_museum(self, museum_id: str) -> bool:
        """This museum's administrator (operators are not: they act as operators)."""
        return self.museum_admin and self.role is Role.MUSEUM and self.museum_id == museum_id

    def can_act_for_museum(self, museum_id: str) -> bool:
        return self.is_operator or (self.role is Role.MUSEUM and self.museum_id == museum_id)

    def can_act_for_licensee(self, licensee_id: str) -> bool:
        return self.is_operator or (self.role is Role.LICENSEE and self.licensee_id == licensee_id)


class TokenService:
    def __init__(self, settings: ServiceSettings, *, fetch: FetchJson | None = None) -> None:
        self._settings = settings
        # `fetch` replaces the network for the issuers' keys (tests)
        self._oidc = OidcVerifier(settings.oidc_issuers, fetch=fetch)
        if settings.jwt_algorithm == "RS256":
            self._verify_key: str = settings.jwt_public_key or ""
            private = settings.jwt_private_key
            self._sign_key: str | None = private.get_secret_value() if private else None
        else:
            self._verify_key = settings.jwt_secret.get_secret_value()
            self._sign_key = self._verify_key
        previous = settings.jwt_previous_secret
        self._previous_key = previous.get_secret_value() if previous else None

    def mint(self, principal: Principal, ttl: timedelta = timedelta(hours=12)) -> str:
        if self._sign_key is None:
            raise RuntimeError("JWT_PRIVATE_KEY is needed to mint RS256 tokens")
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "sub": principal.subject,
            "role": principal.role.value,
            "iss": self._settings.jwt_issuer,
            "aud": self._settings.jwt_audience,
            "iat": now,
            "exp": now + ttl,
        }
        if principal.museum_id:
            claims["museum_id"] = principal.museum_id
        if principal.licensee_id:
            claims["licensee_id"] = principal.licensee_id
        if principal.museum_admin:
            claims["museum_admin"] = True
        return jwt.encode(claims, self._sign_key, algorithm=self._settings.jwt_algorithm)

    def _decode(self, token: str, key: str) -> dict[str, Any]:
        return jwt.decode(
            token,
            key,
            algorithms=[self._settings.jwt_algorithm],  # never "none", never the other family
            audience=self._settings.jwt_audience,
            issuer=self._settings.jwt_issuer,
            options={"require": ["sub", "exp", "role"]},
        )

    def verify(self, token: str) -> Principal:
        issuer = self._oidc.claims_issuer(token)
        if issuer is not None:
            return _principal_of(self._oidc.verify(token, issuer))
        if self._settings.oidc_only:
            # production: an issuer's token or a 401, never the development secret
            raise Unauthorized(NOT_FROM_AN_ISSUER)
        try:
            claims = self._decode(token, self._verify_key)
        except jwt.InvalidSignatureError as exc:
            if self._previous_key is None:
                raise Unauthorized(f"invalid token: {exc}") from exc
            try:
                claims = self._decode(token, self._previous_key)
            except jwt.PyJWTError as previous_exc:
                raise Unauthorized(f"invalid token: {previous_exc}") from previous_exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        return _principal_of(
            Identity(
                subject=str(claims["sub"]),
                role=claims["role"],
                museum_id=claims.get("museum_id"),
                licensee_id=claims.get("licensee_id"),
                museum_admin=claims.get("museum_admin") is True,
            )
        )


def _principal_of(identity: Identity) -> Principal:
    """The same role and scope rules for every kind of token."""
    try:
        role = Role(identity.role)
    except ValueError as exc:
        raise Unauthorized(f"unknown role {identity.role!r}") from exc
    principal = Principal(
        subject=identity.subject,
        role=role,
        museum_id=identity.museum_id,
        licensee_id=identity.licensee_id,
        # an administrator of a museum is museum staff first
        museum_admin=identity.museum_admin and role is Role.MUSEUM,
    )
    if role is Role.MUSEUM and not principal.museum_id:
        raise Unauthorized("a museum token must carry museum_id")
    if role is Role.LICENSEE and not principal.licensee_id:
        raise Unauthorized("a licensee token must carry licensee_id")
    return principal


_bearer = HTTPBearer(auto_error=False)


def _optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    if credentials is None:
        return None
    tokens: TokenService = request.app.state.tokens
    return tokens.verify(credentials.credentials)


def _principal(
    principal: Annotated[Principal | None, Depends(_optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthorized("a bearer token is required")
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(_optional_principal)]
CurrentPrincipal = Annotated[Principal, Depends(_principal)]


def require_role(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(f"this action needs one of the roles: {allowed}")
