"""The Kubernetes overlays configure sign-in as the services' settings demand:
production (ENVIRONMENT=production) names an OpenID issuer, without which no
service starts, and catalog reaches the provider for its staff with a secret
of its own; development keeps the platform's development tokens."""

from __future__ import annotations

from typing import Any

import pytest

from catalog.config import Settings as CatalogSettings
from servicekit.settings import ServiceSettings
from tests.deploy.test_deploy_configs import _kustomize


def _environment(manifests: list[dict[str, Any]], service: str) -> dict[str, Any]:
    """What the service's container sees: the shared ConfigMap, then its own env."""
    config = next(
        m for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"].startswith(
            "relic-config"
        )
    )  # fmt: skip
    deployment = next(
        m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == service
    )
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    own = {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
    return {**config["data"], **own}


def _settings(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> CatalogSettings:
    for name, value in env.items():
        if isinstance(value, str):  # values from Secrets are not in the manifests
            monkeypatch.setenv(name, value)
    return CatalogSettings()


def test_production_names_an_issuer_that_the_settings_accept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = _environment(_kustomize("prod"), "catalog")
    settings = _settings(env, monkeypatch)
    assert settings.environment == "production"
    assert settings.oidc_only
    assert [i.audience for i in settings.oidc_issuers] == ["relic-rebirth"]
    assert settings.oidc_issuers[0].issuer.endswith("/realms/relic-rebirth")
    # catalog's staff client secret comes from a Secret of its own, optional
    # (without it the staff endpoints answer 503, the rest works)
    assert settings.staff_provider_url
    reference = env["STAFF_PROVIDER_CLIENT_SECRET"]["secretKeyRef"]
    assert reference == {"name": "relic-staff-provider", "key": "client-secret", "optional": True}
    # without the issuer, production refuses to start
    monkeypatch.setenv("OIDC_ISSUERS", "[]")
    with pytest.raises(ValueError, match="OIDC_ISSUERS"):
        ServiceSettings()


def test_development_keeps_its_tokens_and_names_no_issuer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _settings(_environment(_kustomize("dev"), "catalog"), monkeypatch)
    assert settings.environment == "development"
    assert settings.oidc_issuers == []
    assert not settings.oidc_only
