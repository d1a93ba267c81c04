"""No secret is committed: detect-secrets scans every git-tracked file, and the
development secrets (every value in .env.example named *SECRET*) appear only in
.env.example and in the few places declared below, each of which production
refuses."""

from __future__ import annotations

import subprocess

import pytest
from detect_secrets import SecretsCollection
from detect_secrets.settings import default_settings

from orders.config import DEV_WEBHOOK_SECRET
from orders.config import Settings as OrdersSettings
from servicekit.auth import Principal, Role, TokenService
from servicekit.errors import Unauthorized
from servicekit.settings import DEV_JWT_SECRET, OidcIssuer, ServiceSettings
from tests.support import ROOT

# Places a development or test secret may be, and why. Anything else detect-secrets
# finds fails the test; so does any private key or cloud key, wherever it is.
DEV_SECRET_PLACES = {
    ".env.example": "the one source of development settings",
    "libs/servicekit/src/servicekit/settings.py": (
        "DEV_JWT_SECRET default; production accepts no token signed with it"
    ),
    "services/orders/src/orders/config.py": "DEV_WEBHOOK_SECRET default; production refuses it",
    "docker-compose.yml": "${VAR:-default} fallbacks for a laptop; .env overrides them",
    "deploy/k8s/overlays/dev/dev-secrets.env": "the dev overlay's secretGenerator input",
    "deploy/local/keycloak_client.py": "a loopback-only local Keycloak's bootstrap admin",
    "deploy/demo/users.py": "the demo users' password in the local Keycloak (make seed, make demo)",
    "docs/sign-in.md": "documents the demo users' development-only password",
}
TEST_SECRET_PLACES = {
    "tests/orders/helpers.py": "WEBHOOK_SECRET, a test value the tests give orders",
    "tests/security/test_oidc_keycloak.py": "the password of a user the test makes in Keycloak",
    "tests/security/conftest.py": "the password of the users the sign-in tests make in Keycloak",
}
ISSUER = OidcIssuer(issuer="https://id.example.test/realms/relic-rebirth", audience="relic-rebirth")
NEVER = {"Private Key", "AWS Access Key", "Azure Storage Account access key", "GitHub Token"}


def _tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [f for f in listed.stdout.decode().split("\0") if f and (ROOT / f).is_file()]


def _env_example_secrets() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#") and "SECRET" in name and value:
            values[name] = value
    return values


@pytest.fixture(scope="module")
def findings() -> list[tuple[str, str, int, str]]:
    """(file, detector, line, value) for every secret detect-secrets sees."""
    collection = SecretsCollection(root=str(ROOT))
    with default_settings():
        collection.scan_files(*_tracked_files())
    return [
        (filename, secret.type, secret.line_number, secret.secret_value or "")
        for filename, secrets in collection.data.items()
        for secret in secrets
    ]


def test_the_scan_covers_the_repository() -> None:
    files = _tracked_files()
    assert ".env.example" in files
    assert len(files) > 100  # the whole tree, not an empty listing


def test_no_private_key_or_cloud_key_is_committed(
    findings: list[tuple[str, str, int, str]],
) -> None:
    assert [f[:3] for f in findings if f[1] in NEVER] == []


def test_every_secret_found_is_a_declared_development_or_test_value(
    findings: list[tuple[str, str, int, str]],
) -> None:
    undeclared = [
        (path, kind, line)
        for path, kind, line, value in findings
        if not (
            (path in DEV_SECRET_PLACES and value.startswith("dev-only-"))
            or (path in TEST_SECRET_PLACES and "test" in value)
        )
    ]
    assert undeclared == [], "a secret outside the declared development and test values"


def test_development_secrets_appear_only_where_declared() -> None:
    dev_values = {DEV_JWT_SECRET, DEV_WEBHOOK_SECRET, *_env_example_secrets().values()}
    assert all(v.startswith("dev-only-") for v in dev_values), dev_values
    found = {
        path
        for path in _tracked_files()
        if not path.startswith("tests/security/")
        for text in [(ROOT / path).read_text(errors="ignore")]
        if any(value in text for value in dev_values)
    }
    assert ".env.example" in found
    assert found <= set(DEV_SECRET_PLACES), sorted(found - set(DEV_SECRET_PLACES))


@pytest.mark.parametrize("jwt_secret", [DEV_JWT_SECRET, _env_example_secrets()["JWT_SECRET"]])
def test_production_accepts_no_token_signed_with_the_development_jwt_secrets(
    jwt_secret: str,
) -> None:
    # production names an OpenID issuer, and accepts only that issuer's tokens
    with pytest.raises(ValueError, match="OIDC_ISSUERS"):
        ServiceSettings(environment="production", jwt_secret=jwt_secret)
    production = ServiceSettings(
        environment="production", jwt_secret=jwt_secret, oidc_issuers=[ISSUER]
    )
    development = ServiceSettings(jwt_secret=jwt_secret)
    minted = TokenService(development).mint(Principal("ops", Role.OPERATOR))
    assert TokenService(development).verify(minted).is_operator
    with pytest.raises(Unauthorized):
        TokenService(production).verify(minted)


@pytest.mark.parametrize(
    "webhook_secret", [DEV_WEBHOOK_SECRET, _env_example_secrets()["PAYMENT_WEBHOOK_SECRET"]]
)
def test_production_refuses_the_development_webhook_secrets(webhook_secret: str) -> None:
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        OrdersSettings(
            environment="production", oidc_issuers=[ISSUER], payment_webhook_secret=webhook_secret
        )
