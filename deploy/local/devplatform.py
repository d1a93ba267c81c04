"""`make up` without Docker: the local stack plus the four services, each
under supervisord (supervision.py), so a crashed service restarts alone.

    python deploy/local/devplatform.py up|down|status|stop-services

Logs go to .local/logs/ (one file per service, and supervisord.log); the
URLs are printed once every /readyz answers 200.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request

from localstack import ROOT, LocalStack, StackError
from supervision import Supervisor, procfile

SERVICES = {"catalog": 8001, "orders": 8002, "ip": 8003, "analytics": 8004}
LOGS = ROOT / ".local" / "logs"


def supervisor() -> Supervisor:
    return Supervisor(ROOT / ".local" / "supervisor", procfile(ROOT / "Procfile"), cwd=ROOT)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=3) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def up() -> None:
    stack = LocalStack("dev")
    stack.up()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "MONGODB_URL": stack.mongodb_url,
    }
    supervisor().start(env)
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
    print(f"  logs       {LOGS}/<service>.log   (make logs)")


def down() -> None:
    stop_services()
    LocalStack("dev").down()
    print("relic-rebirth is down")


def stop_services() -> None:
    """The four services only; Kafka and the store keep running (for writers
    that must not run beside them, such as bench/history.py)."""
    supervisor().stop()


def status() -> None:
    for what, alive in LocalStack("dev").status().items():
        print(f"  {what:10} {'running' if alive else 'stopped'}")
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
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
