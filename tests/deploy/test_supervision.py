"""The local platform's supervision (deploy/local/supervision.py), with the
four real services against real Kafka and the real store: one killed with
kill -9 restarts on its own while the others keep serving, and `make
status`'s figures say so."""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from supervision import Supervisor, procfile

from tests.conftest import Infra
from tests.support import free_port

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[2]


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _until(check, what: str, timeout: float = 60) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(0.2)


@pytest.fixture
def platform(infra: Infra, tmp_path: Path) -> Iterator[tuple[Supervisor, dict[str, str]]]:
    suffix = uuid.uuid4().hex[:8]
    ports = {name: free_port() for name in procfile(ROOT / "Procfile")}
    programs = {
        name: re.sub(r"--port \d+", f"--port {ports[name]}", command)
        for name, command in procfile(ROOT / "Procfile").items()
    }
    environment = {
        name: {
            f"{name.upper()}_MONGODB_DATABASE": f"{name}_{suffix}",
            "KAFKA_CONSUMER_GROUP": f"{name}-{suffix}",
        }
        for name in programs
    }
    supervisor = Supervisor(tmp_path, programs, cwd=ROOT, environment=environment)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "MONGODB_URL": infra.mongodb_url,
    }
    supervisor.start(env)
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    try:
        yield supervisor, urls
    finally:
        supervisor.stop()


def test_a_killed_service_restarts_alone_while_the_others_serve(platform) -> None:
    supervisor, urls = platform
    _until(lambda: all(_healthy(u) for u in urls.values()), "every service healthy")
    _until(lambda: {s.state for s in supervisor.states()} == {"RUNNING"}, "every one RUNNING")
    before = {s.name: s for s in supervisor.states()}
    assert all(s.restarts == 0 for s in before.values())

    os.kill(before["catalog"].pid, signal.SIGKILL)
    _until(lambda: not _healthy(urls["catalog"]), "catalog down")
    assert all(_healthy(urls[name]) for name in ("orders", "ip", "analytics"))

    _until(lambda: _healthy(urls["catalog"]), "catalog back on its own")
    after = {s.name: s for s in supervisor.states()}
    assert after["catalog"].pid != before["catalog"].pid
    assert after["catalog"].restarts == 1
    assert "SIGKILL" in (after["catalog"].last_exit or "")
    assert [after[n].restarts for n in ("orders", "ip", "analytics")] == [0, 0, 0]
    assert all(after[n].pid == before[n].pid for n in ("orders", "ip", "analytics"))


def test_stop_ends_every_service(platform) -> None:
    supervisor, urls = platform
    _until(lambda: {s.state for s in supervisor.states()} == {"RUNNING"}, "every one RUNNING")
    pids = [s.pid for s in supervisor.states()]
    supervisor.stop()
    assert supervisor.pid() is None
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert [s.state for s in supervisor.states()] == ["STOPPED"] * 4
