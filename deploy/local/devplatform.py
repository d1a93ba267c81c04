"""`make up` without Docker: the local stack plus the four services under honcho.

    python deploy/local/devplatform.py up|down|status|stop-services

Logs go to .local/logs/; the URLs are printed once every /readyz answers 200.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from localstack import ROOT, LocalStack, StackError

SERVICES = {"catalog": 8001, "orders": 8002, "ip": 8003, "analytics": 8004}
LOGS = ROOT / ".local" / "logs"
PIDFILE = ROOT / ".local" / "honcho.pid"


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=3) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _honcho_pid() -> int | None:
    try:
        pid = int(PIDFILE.read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def up() -> None:
    stack = LocalStack("dev")
    stack.up()
    if _honcho_pid() is None:
        LOGS.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
            "MONGODB_URL": stack.mongodb_url,
        }
        with open(LOGS / "services.log", "ab") as log:
            process = subprocess.Popen(
                [str(Path(sys.executable).parent / "honcho"), "start", "-f", "Procfile"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        PIDFILE.write_text(str(process.pid))
    deadline = time.monotonic() + 90
    waiting = dict(SERVICES)
    while waiting and time.monotonic() < deadline:
        waiting = {name: port for name, port in waiting.items() if not _ready(port)}
        time.sleep(0.5)
    if waiting:
        raise StackError(f"not ready after 90s: {', '.join(waiting)} (see {LOGS}/services.log)")
    print("relic-rebirth is up:")
    for name, port in SERVICES.items():
        print(f"  {name:10} http://127.0.0.1:{port}   (docs: http://127.0.0.1:{port}/docs)")
    print(f"  kafka      {stack.kafka_bootstrap}\n  mongodb    {stack.mongodb_url} (FerretDB)")
    print(f"  logs       {LOGS}/services.log   (make logs)")


def down() -> None:
    stop_services()
    LocalStack("dev").down()
    print("relic-rebirth is down")


def stop_services() -> None:
    """The four services only; Kafka and the store keep running (for writers
    that must not run beside them, such as bench/history.py)."""
    pid = _honcho_pid()
    if pid is not None:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while _honcho_pid() is not None and time.monotonic() < deadline:
            time.sleep(0.2)
    PIDFILE.unlink(missing_ok=True)


def status() -> None:
    for what, alive in LocalStack("dev").status().items():
        print(f"  {what:10} {'running' if alive else 'stopped'}")
    for name, port in SERVICES.items():
        print(f"  {name:10} {'ready' if _ready(port) else 'not ready'}  http://127.0.0.1:{port}")


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
