"""The platform under test: the `bench` local stack (Kafka + FerretDB) and the
services as real uvicorn processes served like the Procfile (one worker, no
access log), started and stopped by the harness; their resident memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy" / "local"))

from localstack import LocalStack  # noqa: E402

__all__ = ["SERVICES", "Platform", "Process", "rss_mb"]

SERVICES = ("catalog", "orders", "ip", "analytics")
BASE_PORT = 18800  # bench services: 18801.. (the dev platform uses 8001..)


def rss_mb(pid: int) -> float:
    """Resident set size (VmRSS) of a process, MB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class Process:
    key: str  # "catalog", "analytics-2", "baseline"
    url: str
    popen: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid


@dataclass
class Platform:
    stack: LocalStack
    env: dict[str, str]
    logs: Path
    running: dict[str, Process] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)  # a restarted key keeps its port

    @classmethod
    def up(cls, *, reuse: bool) -> Platform:
        """The `bench` stack: wiped and started, or (reuse) kept as it is."""
        stack = LocalStack("bench")
        if not reuse:
            stack.wipe()
        stack.up()
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
            "MONGODB_URL": stack.mongodb_url,
            "LOG_LEVEL": "WARNING",
        }
        logs = stack.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        return cls(stack=stack, env=env, logs=logs)

    def start(self, service: str, *, key: str | None = None, **env: str) -> Process:
        """`service` as `key` (default: its name); the same key keeps its port."""
        key = key or service
        if service == "baseline":
            target = ["--app-dir", str(ROOT / "bench"), "baseline_app:app"]
        else:
            target = ["--factory", f"{service}.app:create_app"]
        port = self._port(key)
        command = [sys.executable, "-m", "uvicorn", *target, "--host", "127.0.0.1"]
        command += ["--port", str(port), "--no-access-log"]
        with open(self.logs / f"{key}.log", "ab") as log:
            popen = subprocess.Popen(
                command,
                cwd=ROOT,
                env={"KAFKA_CONSUMER_GROUP": f"bench-{service}", **self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        process = Process(key, f"http://127.0.0.1:{port}", popen)
        self.running[key] = process
        self._wait_healthy(process)
        return process

    def stop(self, key: str) -> None:
        process = self.running.pop(key, None)
        if process is None:
            return
        process.popen.terminate()
        try:
            process.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.popen.kill()
            process.popen.wait()

    def down(self, *, keep_stack: bool) -> None:
        for key in list(self.running):
            self.stop(key)
        if not keep_stack:
            self.stack.down()

    def url(self, key: str) -> str:
        return self.running[key].url

    def url_for(self, key: str) -> str:
        """Where `key` answers once started (its port is fixed on first use)."""
        return f"http://127.0.0.1:{self._port(key)}"

    def rss(self) -> dict[str, float]:
        """MB per running process, Kafka and FerretDB included."""
        rows = {key: rss_mb(p.pid) for key, p in self.running.items()}
        rows["kafka"] = rss_mb(self.stack.pid("kafka"))
        rows["ferretdb"] = rss_mb(self.stack.pid("ferretdb"))
        return rows

    def _port(self, key: str) -> int:
        return self.ports.setdefault(key, BASE_PORT + 1 + len(self.ports))

    def _wait_healthy(self, process: Process) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.key} exited: see {self.logs}/{process.key}.log")
            try:
                if httpx.get(f"{process.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{process.key} did not answer /healthz: see {self.logs}")
