"""Building the local stack's programs once into the git-ignored `.local/`:
Kafka's jars resolved from Maven Central, FerretDB built from the Go module
proxy with our patch (ferretdb/ferretdb.patch) applied."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

__all__ = [
    "CACHE",
    "FERRETDB_BIN",
    "KAFKA_LIBS",
    "StackError",
    "build_ferretdb",
    "build_kafka",
    "require_tool",
    "run_tool",
]

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CACHE = ROOT / ".local"
KAFKA_LIBS = CACHE / "kafka" / "libs"
FERRETDB_BIN = CACHE / "bin" / "ferretdb"
FERRETDB_MODULE = "github.com/FerretDB/FerretDB@v1.24.2"
FERRETDB_SRC = CACHE / "ferretdb-src"
FERRETDB_PATCH = "ferretdb.patch"


_FIXES = {
    "java": "install a JDK 17+ (Debian: apt-get install -y openjdk-17-jdk-headless)",
    "mvn": "install Maven (Debian: apt-get install -y maven)",
    "go": "install Go 1.24+ (https://go.dev/doc/install)",
}


class StackError(RuntimeError):
    pass


def require_tool(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise StackError(f"{tool} is missing: {_FIXES[tool]}")
    return path


def run_tool(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def build_kafka() -> None:
    if KAFKA_LIBS.is_dir() and any(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
        return
    require_tool("java")
    mvn = require_tool("mvn")
    print("resolving Kafka jars from Maven Central (once) ...", flush=True)
    run_tool(
        [
            mvn,
            "-q",
            "-B",
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={KAFKA_LIBS}",
        ],
        cwd=HERE / "kafka",
    )


def build_ferretdb() -> None:
    names = ("main.go", "go.mod", FERRETDB_PATCH)
    sources = [HERE / "ferretdb" / name for name in names]
    if FERRETDB_BIN.exists() and all(
        s.stat().st_mtime <= FERRETDB_BIN.stat().st_mtime for s in sources
    ):
        return
    go = require_tool("go")
    print("building FerretDB 1.24 from the Go module proxy (once) ...", flush=True)
    _patched_ferretdb_source(go)
    FERRETDB_BIN.parent.mkdir(parents=True, exist_ok=True)
    run_tool([go, "build", "-o", str(FERRETDB_BIN), "."], cwd=HERE / "ferretdb")


def _patched_ferretdb_source(go: str) -> None:
    """FerretDB's module from the Go module proxy, with our patch applied, in
    `.local/ferretdb-src` (where go.mod's `replace` points): see main.go for
    what the patch changes."""
    found = subprocess.run(
        [go, "mod", "download", "-json", FERRETDB_MODULE],
        cwd=HERE / "ferretdb",
        capture_output=True,
        text=True,
        check=True,
    )
    shutil.rmtree(FERRETDB_SRC, ignore_errors=True)
    shutil.copytree(json.loads(found.stdout)["Dir"], FERRETDB_SRC)
    for path in [FERRETDB_SRC, *FERRETDB_SRC.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)  # the module cache is read-only
    # the ceiling keeps git from taking our own repository for the patch's root
    run_tool(
        ["git", "apply", str(HERE / "ferretdb" / FERRETDB_PATCH)],
        cwd=FERRETDB_SRC,
        env={**os.environ, "GIT_CEILING_DIRECTORIES": str(CACHE)},
    )
