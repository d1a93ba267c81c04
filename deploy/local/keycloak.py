"""A local Keycloak (an OpenID Connect provider) without Docker.

    python deploy/local/keycloak.py up|fetch [--port 18080] [--name dev]

Keycloak's Quarkus distribution is fetched once from Maven Central (through
Maven, like Kafka's jars) into the git-ignored `.local/keycloak/`, and runs in
dev mode on a JDK 21+ found on the machine, with the `relic-rebirth` realm
imported from `deploy/keycloak/realm.json`. Each named instance (`dev`, a test
stack) gets its own `conf/`, `data/` and log under `.local/keycloak/<name>/`
(not `.local/<name>/`, which wiping a Kafka/FerretDB stack removes), so two
instances never share a database or a lock.

`start()` returns a handle that a pytest session fixture stops when it is
done. `make up` (devplatform.py) keeps its `dev` instance running across
commands: `spawn()` records the process in a pid file, `running()` finds it
again, and `stop()` on that handle ends it. The HTTP and admin-API side, for an
instance anywhere, is `keycloak_client.KeycloakClient` (re-exported here).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from keycloak_client import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    AUDIENCE,
    REALM,
    KeycloakClient,
    KeycloakError,
)

__all__ = [
    "AUDIENCE",
    "REALM",
    "REALM_FILE",
    "Keycloak",
    "KeycloakClient",
    "KeycloakError",
    "fetch",
    "find_java_home",
    "running",
    "spawn",
    "start",
]

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".local"
VERSION = "26.5.6"
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{VERSION}:zip"
DIST = CACHE / "keycloak" / f"keycloak-{VERSION}"
REALM_FILE = ROOT / "deploy" / "keycloak" / "realm.json"
JDK_FIX = (
    "Keycloak 26 needs a JDK 21+: set KEYCLOAK_JAVA_HOME to one (this project's machines have "
    "/usr/lib/jvm/temurin-25-jdk-amd64; Debian 13: apt-get install -y openjdk-21-jdk-headless)"
)
# where Debian and Temurin packages put JDKs; the newest suitable one wins
_JVM_DIRS = (Path("/usr/lib/jvm"), Path("/opt/java"))


def _java_major(java_home: Path) -> int | None:
    java = java_home / "bin" / "java"
    if not java.is_file():
        return None
    release = java_home / "release"
    if release.is_file():  # JAVA_VERSION="25.0.1" without starting a JVM
        for line in release.read_text().splitlines():
            if line.startswith("JAVA_VERSION="):
                version = line.split("=", 1)[1].strip('"')
                head = version.split(".")[0]
                return int(head) if head.isdigit() else None
    return None


def find_java_home() -> Path:
    """A JDK 21+ home: KEYCLOAK_JAVA_HOME, JAVA_HOME, then the machine's JVM folders."""
    candidates: list[Path] = []
    for var in ("KEYCLOAK_JAVA_HOME", "JAVA_HOME"):
        if os.environ.get(var):
            candidates.append(Path(os.environ[var]))
    for folder in _JVM_DIRS:
        if folder.is_dir():
            homes = [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]
            candidates.extend(sorted(homes, key=lambda p: _java_major(p) or 0, reverse=True))
    for home in candidates:
        major = _java_major(home)
        if major is not None and major >= 21:
            return home
    raise KeycloakError(f"no JDK 21+ found: {JDK_FIX}")


def fetch() -> Path:
    """The unpacked distribution, fetched from Maven Central the first time."""
    if (DIST / "bin" / "kc.sh").is_file():
        return DIST
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KeycloakError("mvn is missing: install Maven (Debian: apt-get install -y maven)")
    target = DIST.parent
    target.mkdir(parents=True, exist_ok=True)
    print(f"fetching Keycloak {VERSION} from Maven Central (once, 165 MB) ...", flush=True)
    result = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
            f"-Dartifact={ARTIFACT}",
            f"-DoutputDirectory={target}",
        ],
        capture_output=True,
        text=True,
    )
    archive = target / f"keycloak-quarkus-dist-{VERSION}.zip"
    if result.returncode != 0 or not archive.is_file():
        raise KeycloakError(f"fetching {ARTIFACT} failed:\n{result.stdout[-3000:]}{result.stderr}")
    partial = target / f".unpacking-{VERSION}"
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(partial)
    unpacked = next(partial.iterdir())  # the zip holds one keycloak-<version>/ folder
    for script in (unpacked / "bin").glob("*.sh"):
        script.chmod(0o755)  # zipfile drops the executable bits
    unpacked.rename(DIST)
    shutil.rmtree(partial)
    archive.unlink()
    return DIST


@dataclass(kw_only=True)
class Keycloak(KeycloakClient):
    """One instance on this machine, on 127.0.0.1:`port`. `process` is None
    when an earlier command started it (found again by its pid file)."""

    port: int
    pid: int
    log_path: Path
    home: Path
    process: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        if self.process is not None:
            # our child: its exit status, not /proc (whose command line is
            # briefly empty while the exec that Popen returned from completes)
            return self.process.poll() is None
        return _alive(self.pid, self.home)

    def stop(self, timeout: float = 30) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)  # kc.sh passes it on to its JVM and waits for it
            deadline = time.monotonic() + timeout
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.2)
            if self.alive():
                os.killpg(self.pid, signal.SIGKILL)  # its own session: kc.sh and the JVM
        if self.process is not None:
            self.process.wait()
        _pid_file(self.home).unlink(missing_ok=True)

    def wait_ready(self, timeout: float = 240) -> None:
        """Until the realm's discovery document answers."""
        deadline = time.monotonic() + timeout
        discovery = f"{self.issuer}/.well-known/openid-configuration"
        while time.monotonic() < deadline:
            if not self.alive():
                raise KeycloakError(f"Keycloak exited: see {self.log_path}")
            try:
                with urllib.request.urlopen(discovery, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise KeycloakError(f"Keycloak did not answer within {timeout:.0f}s: see {self.log_path}")


def _alive(pid: int, home: Path) -> bool:
    """`pid` runs this instance (its command line names the home: a reused pid
    does not; a zombie's is empty)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return f"-Dkc.home.dir={home}".encode() in cmdline


def _pid_file(home: Path) -> Path:
    return home / "keycloak.pid"


def _instance_home(name: str, dist: Path) -> Path:
    """`.local/keycloak/<name>/`: this instance's conf/ and data/ (with the realm
    to import), beside symlinks to the shared, read-mostly distribution."""
    home = CACHE / "keycloak" / name
    shutil.rmtree(home / "data", ignore_errors=True)  # dev-mem: nothing to keep
    home.mkdir(parents=True, exist_ok=True)
    for old_log in home.glob("keycloak-*.log"):
        old_log.unlink()
    for part in ("lib", "providers", "themes"):
        link = home / part
        if not link.exists():
            link.symlink_to(dist / part, target_is_directory=True)
    if not (home / "conf").is_dir():
        shutil.copytree(dist / "conf", home / "conf")
    (home / "data" / "import").mkdir(parents=True)
    shutil.copy(REALM_FILE, home / "data" / "import" / "relic-rebirth-realm.json")
    return home


def running(name: str = "dev") -> Keycloak | None:
    """The instance `name` an earlier command spawned, if it still runs."""
    home = CACHE / "keycloak" / name
    try:
        pid, port = (int(word) for word in _pid_file(home).read_text().split())
    except (FileNotFoundError, ValueError):
        return None
    if not _alive(pid, home):
        return None
    return Keycloak(
        url=f"http://127.0.0.1:{port}",
        port=port,
        pid=pid,
        log_path=home / f"keycloak-{port}.log",
        home=home,
    )


def spawn(name: str = "dev", port: int = 18080) -> Keycloak:
    """Start Keycloak in dev mode (in-memory database, realm imported at every
    start) without waiting for it: `wait_ready()` does."""
    if (already := running(name)) is not None:  # its data/ is about to be replaced
        raise KeycloakError(f"Keycloak {name} already runs (pid {already.pid}, {already.url})")
    java_home = find_java_home()
    dist = fetch()
    home = _instance_home(name, dist)
    log_path = home / f"keycloak-{port}.log"
    env = {
        **os.environ,
        "JAVA_HOME": str(java_home),
        "PATH": f"{java_home / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USER,
        "KC_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        # a small heap: the platform, Kafka and the store share this machine
        "JAVA_OPTS_KC_HEAP": "-Xms64m -Xmx512m",
    }
    command = [
        str(dist / "bin" / "kc.sh"),
        "start-dev",
        # the JVM takes the last -D: this instance's home, conf/ and data/
        f"-Dkc.home.dir={home}",
        f"-Djboss.server.config.dir={home / 'conf'}",
        "--db=dev-mem",
        "--import-realm",
        "--http-host=127.0.0.1",
        f"--http-port={port}",
        "--hostname-strict=false",
        "--cache=local",
    ]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=home,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its JVM child goes with it on stop()
        )
    _pid_file(home).write_text(f"{process.pid} {port}")
    return Keycloak(
        url=f"http://127.0.0.1:{port}",
        port=port,
        pid=process.pid,
        log_path=log_path,
        home=home,
        process=process,
    )


def start(name: str = "dev", port: int = 18080, timeout: float = 240) -> Keycloak:
    """Spawn Keycloak and wait until the realm's discovery document answers."""
    keycloak = spawn(name, port)
    try:
        keycloak.wait_ready(timeout)
    except BaseException:
        keycloak.stop()
        raise
    return keycloak


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "fetch", "java", "secret"])
    parser.add_argument("--name", default="dev")
    parser.add_argument("--port", type=int, default=18080)
    # `secret`: print a confidential client's secret (e.g. docker-compose's
    # STAFF_PROVIDER_CLIENT_SECRET), read through the admin API at --url
    parser.add_argument("--url", default="http://127.0.0.1:18080")
    parser.add_argument("--client", default="rebirth-staff-admin")
    args = parser.parse_args(argv)
    try:
        if args.command == "java":
            print(find_java_home())
        elif args.command == "fetch":
            print(fetch())
        elif args.command == "secret":
            admin_password = os.environ.get("KEYCLOAK_ADMIN_PASSWORD", ADMIN_PASSWORD)
            print(KeycloakClient(args.url.rstrip("/"), admin_password).client_secret(args.client))
        else:
            keycloak = start(args.name, args.port)
            print(f"Keycloak ready: issuer {keycloak.issuer} (log {keycloak.log_path})", flush=True)
            # Ctrl-C or a TERM from a supervisor stops Keycloak with this process
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            try:
                assert keycloak.process is not None  # start() spawned it
                keycloak.process.wait()
            except KeyboardInterrupt:
                pass
            finally:
                keycloak.stop()
    except KeycloakError as exc:
        sys.exit(str(exc))


if __name__ == "__main__":
    main()
