"""What ends a provider's tokens: an administrator disabling the user in
Keycloak, and Keycloak dropping a signing key. A real Keycloak (started once
for the session) and a real analytics process with the realm as its issuer,
a leeway of LEEWAY_SECONDS and its key set cached for JWKS_CACHE_SECONDS
(conftest.py); nothing is restarted.

Neither is a revocation the service hears of: it checks a token's signature
and claims, never the provider's state. So a disabled user gets no new token
from Keycloak, but the access token they hold is accepted until it expires
(+ the leeway); and a dropped key's tokens are accepted until the key set the
service cached ends. Each test waits for that condition, then asserts the
refusal (behaviour, not durations).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.security.conftest import (
    JWKS_CACHE_SECONDS,
    LEEWAY_SECONDS,
    PASSWORD,
    PROBLEM,
    SignIn,
    add_signing_key,
    get,
    published_kids,
    segments,
)
from tests.support import ServiceProcess, eventually

pytestmark = [pytest.mark.infra, pytest.mark.keycloak, pytest.mark.asyncio]

SHORT_CLIENT = "rebirth-test-short"  # direct grants, short-lived access tokens
SHORT_LIFETIME_SECONDS = 10


@pytest.fixture(scope="module")
def short_client(sign_in: SignIn) -> str:
    """A test client whose access tokens live SHORT_LIFETIME_SECONDS (Keycloak's
    per-client `access.token.lifespan`, set through the admin API)."""
    sign_in.add_direct_grant_client(
        SHORT_CLIENT, **{"access.token.lifespan": str(SHORT_LIFETIME_SECONDS)}
    )
    return SHORT_CLIENT


async def _until(clock: Callable[[], float], moment: float, what: str) -> None:
    """Wait until `clock` has passed `moment`."""

    async def passed() -> bool:
        return clock() > moment

    await eventually(passed, timeout=max(moment - clock(), 0) + 30, what=what, interval=0.2)


async def test_a_disabled_user_gets_no_new_token_and_theirs_ends_with_its_lifetime(
    sign_in: SignIn, analytics: ServiceProcess, short_client: str
) -> None:
    keycloak = sign_in.keycloak
    username, user_id = sign_in.add_user("staff-leaving", "museum", museum_id="museum-a")
    tokens = sign_in.password_tokens(username, client_id=short_client)
    held, refresh = str(tokens["access_token"]), str(tokens["refresh_token"])
    claims = segments(held)[1]
    assert claims["exp"] - claims["iat"] == SHORT_LIFETIME_SECONDS  # the client's lifetime
    password_form = {
        "grant_type": "password",
        "client_id": short_client,
        "username": username,
        "password": PASSWORD,
    }

    def refresh_form(token: str) -> dict[str, str]:
        return {"grant_type": "refresh_token", "client_id": short_client, "refresh_token": token}

    # while the user is enabled the refresh token works: its refusal below is the disabling's
    status, renewed = sign_in.grant(refresh_form(refresh))
    assert status == 200, renewed
    assert isinstance(renewed, dict)
    refresh = str(renewed["refresh_token"])

    status, answer = keycloak.admin("PUT", f"/users/{user_id}", {"enabled": False})
    assert status == 204, answer

    # the token they hold still works: the service does not ask the provider
    me = await get(analytics, "/me", held)
    assert me.status_code == 200, me.text
    assert me.json()["subject"] == user_id
    # but Keycloak gives them nothing new
    for form in (password_form, refresh_form(refresh)):
        status, refused = sign_in.grant(form)
        assert status in (400, 401), (form["grant_type"], status, refused)
        assert isinstance(refused, dict)
        assert refused["error"] == "invalid_grant", refused
        assert "access_token" not in refused

    # once its lifetime and the service's leeway are over, the held token is refused
    await _until(time.time, claims["exp"] + LEEWAY_SECONDS, "the held token's expiry")
    late = await get(analytics, "/me", held)
    assert late.status_code == 401, late.text
    assert late.headers["content-type"] == PROBLEM
    assert "Signature has expired" in late.json()["detail"]


async def test_a_key_the_provider_drops_ends_its_tokens_when_the_cached_key_set_ends(
    sign_in: SignIn, analytics: ServiceProcess
) -> None:
    keycloak = sign_in.keycloak
    old_provider = add_signing_key(keycloak)  # signs from now on
    old = sign_in.access_token()
    add_signing_key(keycloak)  # above it: signs from now on
    new = sign_in.access_token()
    old_kid, new_kid = segments(old)[0]["kid"], segments(new)[0]["kid"]
    assert old_kid != new_kid
    # the old key made passive (docs/operations.md's rotation): no longer
    # signing, still published, so both tokens are accepted
    status, component = keycloak.admin("GET", f"/components/{old_provider}")
    assert status == 200, component
    assert isinstance(component, dict)
    passive = {**component, "config": {**component["config"], "active": ["false"]}}
    status, answer = keycloak.admin("PUT", f"/components/{old_provider}", passive)
    assert status == 204, answer
    assert {old_kid, new_kid} <= published_kids(keycloak)
    assert segments(sign_in.access_token())[0]["kid"] == new_kid
    for token in (old, new):
        me = await get(analytics, "/me", token)
        assert me.status_code == 200, me.text

    status, answer = keycloak.admin("DELETE", f"/components/{old_provider}")
    assert status == 204, answer

    async def unpublished() -> bool:
        return old_kid not in published_kids(keycloak)

    await eventually(unpublished, timeout=30, what="the dropped key gone from the JWKS")
    # every key set the service fetched before now lists the old key, and ends
    # within its cache time; any fetched after does not list it
    dropped_at = time.monotonic()
    assert new_kid in published_kids(keycloak)

    await _until(time.monotonic, dropped_at + JWKS_CACHE_SECONDS, "the cached key set's end")
    refused = await get(analytics, "/me", old)
    assert refused.status_code == 401, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert f"no signing key {old_kid!r}" in refused.json()["detail"]
    accepted = await get(analytics, "/me", new)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["museum_id"] == "museum-a"
