"""Real Kafka (KRaft) and a real MongoDB-wire server (FerretDB) without Docker.

    python deploy/local/localstack.py up|down|status|topics [--name dev]

Kafka 4.1 runs from Maven Central jars, FerretDB 1.24 from our own tiny Go
module. Both build into the git-ignored `.local/` once; later runs reuse the
caches. Each named stack (`dev` for `make up`, `test` for the test suite) has
its own ports, data and logs under `.local/<name>/`, so tests never touch the
data of a running platform.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import string
import subprocess
import sys
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path

from stack_builds import (
    CACHE,
    FERRETDB_BIN,
    KAFKA_LIBS,
    StackError,
    build_ferretdb,
    build_kafka,
    require_tool,
    run_tool,
)

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
# A commit survives a crash of the store's process (not a power loss) without
# an fsync of its own (WAL with synchronous=NORMAL: this store is for
# development and CI), and the WAL is copied back every 10,000 pages, not
# 1,000: each copy sorts the whole log, a quarter of the store's CPU under bulk
# updates (docs/benchmarks.md).
SQLITE_PRAGMAS = "_pragma=synchronous(normal)&_pragma=wal_autocheckpoint(10000)"

PORTS = {  # name: (kafka, controller, mongo)
    "dev": (9092, 9093, 27017),
    "test": (19092, 19093, 27018),
    "bench": (19992, 19993, 27918),
    "demo-dev": (19592, 19593, 27518),  # developing the seed/demo beside the others
    # parallel test runs (one per developer working on one service)
    "test-catalog": (19192, 19193, 27118),
    "test-orders": (19292, 19293, 27218),
    "test-ip": (19392, 19393, 27318),
    "test-analytics": (19492, 19493, 27418),
}


def ports_of(name: str) -> tuple[int, int, int]:
    """A stack's (kafka, controller, mongo) ports: the table's, or for any
    other name (a private test stack) three of its own from a hash of the
    name, never another stack's from the table."""
    if name in PORTS:
        return PORTS[name]
    slot = zlib.crc32(name.encode()) % 500
    base = 20_000 + 10 * slot  # 20000..24990: clear of the table's ports
    return base, base + 1, base + 2


@dataclass
class LocalStack:
    name: str = "dev"

    def __post_init__(self) -> None:
        self.kafka_port, self.controller_port, self.mongo_port = ports_of(self.name)
        self.home = CACHE / self.name
        self.logs = self.home / "logs"
        self._children: dict[str, subprocess.Popen[bytes]] = {}  # kept to reap them

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongodb_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}"

    # --- lifecycle --------------------------------------------------------

    def up(self) -> None:
        require_tool("java")
        build_kafka()
        build_ferretdb()
        self.start_mongo()
        self.start_kafka()
        self.wait_mongo()
        self.wait_kafka()
        self.create_topics()

    def down(self) -> None:
        self.stop_kafka()
        self.stop_mongo()

    def wipe(self) -> None:
        self.down()
        shutil.rmtree(self.home, ignore_errors=True)

    def status(self) -> dict[str, bool]:
        return {"kafka": self._alive("kafka"), "ferretdb": self._alive("ferretdb")}

    # --- Kafka ----------------------------------------------------------

    def _java(self, main: str, *args: str, heap: str = "-Xmx512m") -> list[str]:
        return [
            require_tool("java"),
            heap,
            "-Xms128m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={HERE / 'kafka' / 'log4j2.properties'}",
            "-cp",
            f"{KAFKA_LIBS}/*",
            main,
            *args,
        ]

    def _kafka_config(self) -> Path:
        config = self.home / "server.properties"
        template = string.Template((HERE / "kafka" / "server.properties.template").read_text())
        config.write_text(
            template.substitute(
                KAFKA_PORT=self.kafka_port,
                CONTROLLER_PORT=self.controller_port,
                DATA_DIR=self.home / "kafka-data",
            )
        )
        return config

    def start_kafka(self) -> None:
        if self._alive("kafka"):
            return
        self.home.mkdir(parents=True, exist_ok=True)
        config = self._kafka_config()
        if not (self.home / "kafka-data" / "meta.properties").exists():
            run_tool(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "--cluster-id",
                    _cluster_id(),
                    "--config",
                    str(config),
                    heap="-Xmx256m",
                )
            )
        self._spawn("kafka", self._java("kafka.Kafka", str(config)))

    def stop_kafka(self) -> None:
        self._stop("kafka")

    def wait_kafka(self, timeout: float = 90) -> None:
        asyncio.run(_wait_kafka(self.kafka_bootstrap, timeout))

    def create_topics(self) -> None:
        asyncio.run(_create_topics(self.kafka_bootstrap))

    # --- FerretDB -------------------------------------------------------

    def start_mongo(self) -> None:
        if self._alive("ferretdb"):
            return
        data = self.home / "ferretdb"
        data.mkdir(parents=True, exist_ok=True)
        handler = os.environ.get("FERRETDB_HANDLER", "sqlite")
        cmd = [
            str(FERRETDB_BIN),
            "-listen",
            f"127.0.0.1:{self.mongo_port}",
            "-handler",
            handler,
            "-sqlite-url",
            f"file:{data}/?{SQLITE_PRAGMAS}",
        ]
        if handler == "postgresql":
            cmd += ["-postgresql-url", os.environ["FERRETDB_POSTGRESQL_URL"]]
        self._spawn("ferretdb", cmd)

    def stop_mongo(self) -> None:
        self._stop("ferretdb")

    def wait_mongo(self, timeout: float = 30) -> None:
        from pymongo import MongoClient

        deadline = time.monotonic() + timeout
        while True:
            try:
                with MongoClient(self.mongodb_url, serverSelectionTimeoutMS=500) as client:
                    client.admin.command("ping")
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise StackError(
                        f"FerretDB did not answer a ping in {timeout}s: {exc}"
                    ) from exc
                time.sleep(0.2)

    # --- processes ------------------------------------------------------

    def _pidfile(self, what: str) -> Path:
        return self.home / f"{what}.pid"

    def _spawn(self, what: str, cmd: list[str]) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{what}.log", "ab") as log:
            process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
            )
        self._children[what] = process
        self._pidfile(what).write_text(str(process.pid))

    def _pid(self, what: str) -> int | None:
        try:
            return int(self._pidfile(what).read_text())
        except (FileNotFoundError, ValueError):
            return None

    def pid(self, what: str) -> int:
        """The pid of a running `kafka` or `ferretdb` process."""
        pid = self._pid(what)
        if pid is None or not self._alive(what):
            raise StackError(f"{what} is not running")
        return pid

    def _alive(self, what: str) -> bool:
        pid = self._pid(what)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # a zombie child (killed, not yet reaped) counts as gone
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            return False
        return state != "Z"

    def _stop(self, what: str, timeout: float = 30) -> None:
        pid = self._pid(what)
        if pid is None or not self._alive(what):
            self._pidfile(what).unlink(missing_ok=True)
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self._alive(what) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if self._alive(what):
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        _reap(pid)
        child = self._children.pop(what, None)
        if child is not None:
            child.wait()
        self._pidfile(what).unlink(missing_ok=True)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child (started by another command): nothing to reap


def _cluster_id() -> str:
    # Kafka wants a base64 UUID, 22 chars
    import base64

    while True:  # the format tool would read a leading "-" as an option
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


async def _wait_kafka(bootstrap: str, timeout: float) -> None:
    import logging

    from aiokafka.admin import AIOKafkaAdminClient

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refusals are expected here
    deadline = time.monotonic() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()  # a real metadata round trip
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise StackError(
                    f"Kafka did not answer a metadata request in {timeout}s: {exc}"
                ) from exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


async def _create_topics(bootstrap: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from contracts.topics import ALL_TOPICS, DEFAULT_PARTITIONS

    partitions = int(os.environ.get("KAFKA_TOPIC_PARTITIONS", DEFAULT_PARTITIONS))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in ALL_TOPICS if t not in existing]
        if missing:
            await admin.create_topics(
                [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in missing]
            )
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["up", "down", "status", "topics", "wipe", "build"])
    parser.add_argument("--name", default="dev", choices=sorted(PORTS))
    args = parser.parse_args()
    stack = LocalStack(args.name)
    try:
        if args.command == "up":
            stack.up()
            print(f"Kafka     {stack.kafka_bootstrap}\nMongoDB   {stack.mongodb_url} (FerretDB)")
        elif args.command == "down":
            stack.down()
        elif args.command == "wipe":
            stack.wipe()
        elif args.command == "build":
            require_tool("java")
            build_kafka()
            build_ferretdb()
        elif args.command == "topics":
            stack.create_topics()
        else:
            for what, alive in stack.status().items():
                print(f"{what:9} {'running' if alive else 'stopped'}")
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
