"""Memory: an idle service stays under 150 MB RSS, the whole local stack under 2 GB.

Starts a private local stack (Kafka + FerretDB) and the four services as real
uvicorn processes, lets them settle, and reads each process's resident set
(VmRSS) next to the baseline: a trivial FastAPI app served the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy" / "local"))

from localstack import LocalStack  # noqa: E402

SERVICES = ["catalog", "orders", "ip", "analytics"]
SERVICE_LIMIT_MB = 150
STACK_LIMIT_MB = 2048
SETTLE_SECONDS = 10


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def serve(target: str, port: int, env: dict[str, str], factory: bool) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", target, "--port", str(port), "--no-access-log"]
    if factory:
        cmd.insert(3, "--factory")
    process = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{target} did not start")


def main() -> list[str]:
    stack = LocalStack("bench")
    stack.wipe()
    stack.up()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap,
        "MONGODB_URL": stack.mongodb_url,
        "PYTHONPATH": str(ROOT / "bench"),
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        processes["baseline (trivial FastAPI)"] = serve("baseline_app:app", 18900, env, False)
        for offset, name in enumerate(SERVICES, start=1):
            processes[name] = serve(f"{name}.app:create_app", 18900 + offset, env, True)
        time.sleep(SETTLE_SECONDS)  # idle: consumers joined, relays polling
        rows = {name: rss_mb(p.pid) for name, p in processes.items()}
        rows["kafka (JVM, -Xmx512m)"] = rss_mb(stack.pid("kafka"))
        rows["ferretdb"] = rss_mb(stack.pid("ferretdb"))
    finally:
        for process in processes.values():
            process.terminate()
            process.wait(timeout=20)
        stack.down()

    baseline = rows["baseline (trivial FastAPI)"]
    lines = ["| process | RSS MB | vs baseline | target |", "|---|---:|---:|---|"]
    for name, mb in rows.items():
        target = ""
        if name in SERVICES:
            target = f"< {SERVICE_LIMIT_MB} MB: {'met' if mb < SERVICE_LIMIT_MB else 'MISSED'}"
        lines.append(f"| {name} | {mb:.1f} | {mb / baseline:.2f}x | {target} |")
    stack_total = sum(mb for name, mb in rows.items() if not name.startswith("baseline"))
    verdict = "met" if stack_total < STACK_LIMIT_MB else "MISSED"
    lines.append(
        f"| **whole stack** | **{stack_total:.1f}** | | < {STACK_LIMIT_MB} MB: {verdict} |"
    )
    return lines


if __name__ == "__main__":
    print("\n".join(main()))
