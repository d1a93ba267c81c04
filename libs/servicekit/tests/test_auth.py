"""Tokens: minted and verified with HS256 and RS256; scoped roles enforced."""

from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr, ValidationError

from servicekit import auth_cli
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


def test_production_refuses_settings_without_an_openid_issuer() -> None:
    # the platform's own tokens are off in production (tests/test_oidc.py):
    # a strong secret does not make up for a missing issuer
    with pytest.raises(ValidationError, match="OIDC_ISSUERS"):
        ServiceSettings(environment="production", jwt_secret=SecretStr("x" * 48))


def test_a_museum_admin_round_trips_and_administers_only_its_museum() -> None:
    tokens = TokenService(ServiceSettings())
    admin = Principal("a", Role.MUSEUM, museum_id="palace", museum_admin=True)
    assert tokens.verify(tokens.mint(admin)) == admin
    assert admin.administers_museum("palace")
    assert not admin.administers_museum("three-gorges")
    staff = Principal("s", Role.MUSEUM, museum_id="palace")
    assert tokens.verify(tokens.mint(staff)) == staff
    assert not staff.administers_museum("palace")
    # an operator is not a museum's administrator, whatever the claim says
    operator = Principal("o", Role.OPERATOR, museum_admin=True)
    assert not tokens.verify(tokens.mint(operator)).museum_admin


def test_rebirth_token_mints_a_museum_admin(capsys: pytest.CaptureFixture[str]) -> None:
    auth_cli.main(["--role", "museum", "--museum-id", "palace", "--museum-admin"])
    token = capsys.readouterr().out.strip()
    principal = TokenService(ServiceSettings()).verify(token)
    assert principal.museum_admin
    assert principal.museum_id == "palace"
    with pytest.raises(SystemExit):
        auth_cli.main(["--role", "operator", "--museum-admin"])


def test_rotation_accepts_the_previous_secret_until_it_is_dropped() -> None:
    old = TokenService(ServiceSettings(jwt_secret=SecretStr("old-secret-" + "x" * 32)))
    token = old.mint(Principal("t", Role.TOURIST))
    rotating = TokenService(
        ServiceSettings(
            jwt_secret=SecretStr("new-secret-" + "y" * 32),
            jwt_previous_secret=SecretStr("old-secret-" + "x" * 32),
        )
    )
    assert rotating.verify(token).subject == "t"
    rotated = TokenService(ServiceSettings(jwt_secret=SecretStr("new-secret-" + "y" * 32)))
    with pytest.raises(Unauthorized):
        rotated.verify(token)


def test_alg_none_and_hs_rs_confusion_are_refused() -> None:
    none_token = jwt.encode(
        {
            "sub": "x",
            "role": "operator",
            "iss": "relic-rebirth",
            "aud": "relic-rebirth",
            "exp": 9999999999,
        },
        key=None,
        algorithm="none",
    )
    with pytest.raises(Unauthorized):
        TokenService(ServiceSettings()).verify(none_token)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    rs_verifier = TokenService(ServiceSettings(jwt_algorithm="RS256", jwt_public_key=public_pem))
    # an attacker signs HS256 with the (public) RSA key as the HMAC secret
    forged = _hs256_by_hand(
        {
            "sub": "evil",
            "role": "operator",
            "iss": "relic-rebirth",
            "aud": "relic-rebirth",
            "exp": 9999999999,
        },
        public_pem.encode(),
    )
    with pytest.raises(Unauthorized):
        rs_verifier.verify(forged)


def _hs256_by_hand(claims: dict[str, object], secret: bytes) -> str:
    """PyJWT refuses to HMAC with a PEM key, so forge the token the way an attacker would."""
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        + "."
        + b64(json.dumps(claims).encode())
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"
