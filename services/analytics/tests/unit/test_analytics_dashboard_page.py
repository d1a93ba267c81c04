"""The /dashboard page's sign-in settings: what the page is told, and a CSP
opened to the OpenID provider's origin only when one is configured. (Signing
in itself: tests/security/test_dashboard_signin.py, in a real browser.)"""

from __future__ import annotations

import re

import httpx
import pytest
from pydantic import ValidationError

from analytics.app import create_app
from analytics.config import Settings

AUTHORITY = "https://id.example.test:8443/realms/relic-rebirth"
ISSUERS = [{"issuer": AUTHORITY, "audience": "relic-rebirth"}]


async def _page(settings: Settings) -> tuple[str, str]:
    # no lifespan (ASGITransport runs none): the page needs neither Kafka nor the store
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/dashboard")
    assert response.status_code == 200
    return response.headers["content-security-policy"], response.text


def _directive(csp: str, name: str) -> str:
    return next(d.strip() for d in csp.split(";") if d.strip().startswith(name + " "))


@pytest.mark.asyncio
async def test_without_a_provider_the_page_takes_a_development_token() -> None:
    csp, html = await _page(Settings(environment="development"))
    assert _directive(csp, "connect-src") == "connect-src 'self'"
    assert _directive(csp, "form-action") == "form-action 'self'"
    assert 'data-oidc-authority=""' in html
    assert 'data-dev-tokens="true"' in html
    assert "oidc-client-ts" not in html


@pytest.mark.asyncio
async def test_with_a_provider_the_page_signs_in_and_may_reach_its_origin_only() -> None:
    settings = Settings(
        environment="production",
        oidc_issuers=ISSUERS,
        dashboard_oidc_authority=AUTHORITY,
    )
    csp, html = await _page(settings)
    origin = "https://id.example.test:8443"
    assert _directive(csp, "connect-src") == f"connect-src 'self' {origin}"
    assert _directive(csp, "form-action") == f"form-action 'self' {origin}"
    assert _directive(csp, "script-src") == "script-src 'self'"  # still no inline script
    assert _directive(csp, "default-src") == "default-src 'none'"  # and no frames
    assert f'data-oidc-authority="{AUTHORITY}"' in html
    assert 'data-oidc-client-id="rebirth-dashboard"' in html
    assert 'data-dev-tokens="false"' in html  # the #token= link is ignored in production
    assert re.search(r'<script src="[^"]*/static/oidc-client-ts\.min\.js" defer>', html)


def test_a_blank_authority_is_none() -> None:
    assert Settings(dashboard_oidc_authority="").dashboard_oidc_authority is None


@pytest.mark.parametrize(
    "authority",
    [
        "id.example.test/realms/r",  # no scheme
        "javascript:alert(1)",
        "https://id.example.test; script-src *",  # would reach into the CSP
        "https://id.example.test/realms/r;script-src",
        "https://user@id.example.test/realms/r",
    ],
)
def test_an_authority_that_is_not_a_plain_url_is_refused(authority: str) -> None:
    with pytest.raises(ValidationError):
        Settings(dashboard_oidc_authority=authority)
