"""Tokens: minted and verified with HS256 and RS256; scoped roles enforced."""

from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr, ValidationError

from servicekit.auth import Principal, Role, TokenService
from servicekit.errors import Unauthorized
from servicekit.settings import ServiceSettings


def test_hs256_round_trip_keeps_role_and_scope() -> None:
    tokens = TokenService(ServiceSettings())
    museum = Principal(subject="alice", role=Role.MUSEUM, museum_id="three-gorges")
    assert tokens.verify(tokens.mint(museum)) == museum
    assert museum.can_act_for_museum("three-gorges")
    assert not museum.can_act_for_museum("palace")


def test_rs256_verifies_with_the_public_key_only() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    minter = TokenService(
        ServiceSettings(
            jwt_algorithm="RS256", jwt_public_key=public_pem, jwt_private_key=SecretStr(private_pem)
        )
    )
    verifier = TokenService(ServiceSettings(jwt_algorithm="RS256", jwt_public_key=public_pem))
    operator = Principal(subject="ops", role=Role.OPERATOR)
    assert verifier.verify(minter.mint(operator)) == operator


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        jwt.encode({"sub": "x", "role": "operator"}, "other-secret-0123456789abcdef0123", "HS256"),
    ],
)
def test_bad_tokens_are_unauthorized(token: str) -> None:
    with pytest.raises(Unauthorized):
        TokenService(ServiceSettings()).verify(token)


def test_expired_and_unscoped_tokens_are_unauthorized() -> None:
    tokens = TokenService(ServiceSettings())
    expired = tokens.mint(Principal("t", Role.TOURIST), ttl=timedelta(seconds=-5))
    with pytest.raises(Unauthorized):
        tokens.verify(expired)
    unscoped = tokens.mint(Principal("m", Role.MUSEUM))  # museum without museum_id
    with pytest.raises(Unauthorized):
        tokens.verify(unscoped)


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValidationError):
        ServiceSettings(environment="production")
    ServiceSettings(environment="production", jwt_secret=SecretStr("x" * 48))
