"""`make up` without Docker: the local stack, a local Keycloak (the OpenID
Connect provider, keycloak.py) and the four services, each under supervisord
(supervision.py), so a crashed service restarts alone.

    python deploy/local/devplatform.py up|down|status|stop-services

Keycloak runs as the instance `dev` on 127.0.0.1:18080 and keeps running
between commands like Kafka and FerretDB; the services accept its tokens
(OIDC_ISSUERS) and catalog reads its staff client's secret at start. Its users
live in memory: after Keycloak restarts, `make seed` makes the demo users again.

Logs go to .local/logs/ (one file per service, and supervisord.log); the
URLs are printed once every /readyz answers 200.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

import keycloak
from keycloak import AUDIENCE, REALM, Keycloak, KeycloakError
from localstack import ROOT, LocalStack, StackError
from supervision import Supervisor, procfile

SERVICES = {"catalog": 8001, "orders": 8002, "ip": 8003, "analytics": 8004}
LOGS = ROOT / ".local" / "logs"
KEYCLOAK_NAME, KEYCLOAK_PORT = "dev", 18080
DASHBOARD_CLIENT = "rebirth-dashboard"  # public client: the dashboard's sign-in page
STAFF_ADMIN_CLIENT = "rebirth-staff-admin"  # confidential: catalog manages museum staff


def supervisor(environment: dict[str, dict[str, str]] | None = None) -> Supervisor:
    programs = procfile(ROOT / "Procfile")
    return Supervisor(ROOT / ".local" / "supervisor", programs, cwd=ROOT, environment=environment)


def provider_env(provider: Keycloak) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """What the services need of the provider: (every service's, each one's own)."""
    issuers = [{"issuer": provider.issuer, "audience": AUDIENCE}]
    catalog = {
        "STAFF_PROVIDER_URL": provider.url,
        "STAFF_PROVIDER_REALM": REALM,
        "STAFF_PROVIDER_CLIENT_ID": STAFF_ADMIN_CLIENT,
    }
    try:  # Keycloak generated it when it imported the realm: read, never committed
        catalog["STAFF_PROVIDER_CLIENT_SECRET"] = provider.client_secret(STAFF_ADMIN_CLIENT)
    except KeycloakError as exc:
        print(f"note: catalog starts without STAFF_PROVIDER_CLIENT_SECRET: {exc} in realm {REALM}")
    analytics = {
        # the browser reaches Keycloak where the services do: 127.0.0.1
        "DASHBOARD_OIDC_AUTHORITY": provider.issuer,
        "DASHBOARD_OIDC_CLIENT_ID": DASHBOARD_CLIENT,
    }
    return {"OIDC_ISSUERS": json.dumps(issuers)}, {"catalog": catalog, "analytics": analytics}


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=3) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def up() -> None:
    # Keycloak boots (13 s; 55 s the first time) while Kafka and FerretDB do
    provider = keycloak.running(KEYCLOAK_NAME)
    spawned = provider is None
    if provider is None:
        provider = keycloak.spawn(KEYCLOAK_NAME, KEYCLOAK_PORT)
    stack = LocalStack("dev")
    stack.up()
    provider.wait_ready()
    shared, own = provider_env(provider)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "MONGODB_URL": stack.mongodb_url,
        **shared,  # JSON: through supervisord's own environment, which needs no quoting
    }
    services = supervisor(own)
    if spawned and services.pid() is not None:
        # a new Keycloak generated a new staff client secret: catalog must read it
        print("Keycloak (re)started: restarting the services with its settings")
        services.stop()
    services.start(env)
    deadline = time.monotonic() + 90
    waiting = dict(SERVICES)
    while waiting and time.monotonic() < deadline:
        waiting = {name: port for name, port in waiting.items() if not _ready(port)}
        time.sleep(0.5)
    if waiting:
        raise StackError(f"not ready after 90s: {', '.join(waiting)} (see {LOGS}/)")
    print("relic-rebirth is up:")
    for name, port in SERVICES.items():
        print(f"  {name:10} http://127.0.0.1:{port}   (docs: http://127.0.0.1:{port}/docs)")
    print(f"  kafka      {stack.kafka_bootstrap}\n  mongodb    {stack.mongodb_url} (FerretDB)")
    print(f"  keycloak   {provider.url}   (issuer {provider.issuer}; admin console /admin)")
    print(f"  logs       {LOGS}/<service>.log   (make logs)")


def down() -> None:
    stop_services()
    provider = keycloak.running(KEYCLOAK_NAME)
    if provider is not None:
        provider.stop()
    LocalStack("dev").down()
    print("relic-rebirth is down")


def stop_services() -> None:
    """The four services only; Kafka and the store keep running (for writers
    that must not run beside them, such as bench/history.py)."""
    supervisor().stop()


def status() -> None:
    for what, alive in LocalStack("dev").status().items():
        print(f"  {what:10} {'running' if alive else 'stopped'}")
    provider = keycloak.running(KEYCLOAK_NAME)
    print(f"  {'keycloak':10} {f'running   {provider.url}' if provider else 'stopped'}")
    for state in supervisor().states():
        port = SERVICES.get(state.name)
        ready = "ready" if port and _ready(port) else "not ready"
        last = f", last exit: {state.last_exit}" if state.last_exit else ""
        print(
            f"  {state.name:10} {state.state:8} {ready:9} restarts {state.restarts}{last}"
            f"  http://127.0.0.1:{port}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = {"up": up, "down": down, "status": status, "stop-services": stop_services}
    parser.add_argument("command", choices=list(commands))
    command = parser.parse_args().command
    try:
        commands[command]()
    except (StackError, KeycloakError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
