"""`make up`'s Keycloak (deploy/local/devplatform.py with keycloak.py), against
a real Keycloak: an instance spawned by one command is found again by the
next through its pid file and stopped through that handle, and the settings
the services get from it reach each program through supervisord intact: one
issuer for all, the dashboard's sign-in for analytics, the staff client (with
the secret Keycloak generated, which signs in) for catalog."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import keycloak
import pytest
from devplatform import provider_env
from supervision import Supervisor

from tests.support import free_port

pytestmark = pytest.mark.keycloak

# each program writes the environment supervisord gave it, then idles
DUMP_ENV = (
    f'{sys.executable} -c "import json, os, sys, time; '
    "json.dump(dict(os.environ), open(sys.argv[1], 'w')); time.sleep(600)\" {path}"
)


def _until(check, what: str, timeout: float = 30) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(0.2)


def test_a_spawned_keycloak_is_found_again_configures_the_services_and_stops(
    tmp_path: Path,
) -> None:
    name = f"{os.environ.get('RELIC_TEST_STACK', 'test')}-devplatform"
    spawned = keycloak.spawn(name, free_port())
    try:
        spawned.wait_ready()
        # a later command (`make status`, `make down`) knows it by its pid file only
        found = keycloak.running(name)
        assert found is not None
        assert (found.pid, found.url, found.process) == (spawned.pid, spawned.url, None)
        with pytest.raises(keycloak.KeycloakError, match="already runs"):
            keycloak.spawn(name, free_port())

        shared, own = provider_env(found)
        programs = {
            program: DUMP_ENV.format(path=tmp_path / f"{program}.json")
            for program in ("catalog", "orders", "analytics")
        }
        supervisor = Supervisor(tmp_path / "supervisor", programs, cwd=tmp_path, environment=own)
        supervisor.start({**os.environ, **shared})
        try:
            dumps = [tmp_path / f"{program}.json" for program in programs]
            _until(lambda: all(d.exists() and d.stat().st_size for d in dumps), "env dumps")
        finally:
            supervisor.stop()
        seen = {p: json.loads((tmp_path / f"{p}.json").read_text()) for p in programs}

        issuers = [{"issuer": found.issuer, "audience": keycloak.AUDIENCE}]
        assert all(json.loads(env["OIDC_ISSUERS"]) == issuers for env in seen.values())
        assert seen["analytics"]["DASHBOARD_OIDC_AUTHORITY"] == found.issuer
        assert seen["analytics"]["DASHBOARD_OIDC_CLIENT_ID"] == "rebirth-dashboard"
        catalog = seen["catalog"]
        assert catalog["STAFF_PROVIDER_URL"] == found.url
        assert catalog["STAFF_PROVIDER_REALM"] == keycloak.REALM
        client = catalog["STAFF_PROVIDER_CLIENT_ID"]
        tokens = found.client_credentials(client, catalog["STAFF_PROVIDER_CLIENT_SECRET"])
        assert tokens["access_token"]
        # each program gets its own settings only
        assert "STAFF_PROVIDER_CLIENT_SECRET" not in seen["analytics"]
        assert "DASHBOARD_OIDC_AUTHORITY" not in seen["orders"]

        found.stop()  # `make down`: through the handle found by pid file
        assert keycloak.running(name) is None
        _until(lambda: spawned.process.poll() is not None, "Keycloak's exit")
    finally:
        spawned.stop()
