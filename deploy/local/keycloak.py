"""A local Keycloak (an OpenID Connect provider) without Docker.

    python deploy/local/keycloak.py up|fetch [--port 18080] [--name dev]

Keycloak's Quarkus distribution is fetched once from Maven Central (through
Maven, like Kafka's jars) into the git-ignored `.local/keycloak/`, and runs in
dev mode on a JDK 21+ found on the machine, with the `relic-rebirth` realm
imported from `deploy/keycloak/realm.json`. Each named instance (`dev`, a test
stack) gets its own `conf/`, `data/` and log under `.local/keycloak/<name>/`
(not `.local/<name>/`, which wiping a Kafka/FerretDB stack removes), so two
instances never share a database or a lock.

Nothing here is wired into `make up`: `start()` returns a handle that a pytest
session fixture (or the dev platform, later) stops when it is done.
"""

from __future__ import annotations

import argparse
import json
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
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".local"
VERSION = "26.5.6"
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{VERSION}:zip"
DIST = CACHE / "keycloak" / f"keycloak-{VERSION}"
REALM_FILE = ROOT / "deploy" / "keycloak" / "realm.json"
REALM = "relic-rebirth"
# development only: the bootstrap admin of a local, loopback-only instance
ADMIN_USER = "admin"
ADMIN_PASSWORD = "dev-only-keycloak-admin"
JDK_FIX = (
    "Keycloak 26 needs a JDK 21+: set KEYCLOAK_JAVA_HOME to one (this project's machines have "
    "/usr/lib/jvm/temurin-25-jdk-amd64; Debian 13: apt-get install -y openjdk-21-jdk-headless)"
)
# where Debian and Temurin packages put JDKs; the newest suitable one wins
_JVM_DIRS = (Path("/usr/lib/jvm"), Path("/opt/java"))


class KeycloakError(RuntimeError):
    pass


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


@dataclass
class Keycloak:
    """One running instance; `issuer` and `jwks_url` are what services configure."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    home: Path
    _admin_token: tuple[str, float] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/{REALM}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/certs"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # kc.sh passes it on to its JVM
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # its own session: kc.sh and the JVM
                self.process.wait()

    # --- small HTTP helpers (stdlib: this file runs before any venv exists) --

    def request(
        self,
        method: str,
        url: str,
        *,
        form: dict[str, str] | None = None,
        body: object = None,
        token: str | None = None,
    ) -> tuple[int, object]:
        headers: dict[str, str] = {}
        data: bytes | None = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw) if raw else None
            except ValueError:
                return exc.code, raw.decode(errors="replace")

    def password_grant(
        self, client_id: str, username: str, password: str, *, realm: str = REALM
    ) -> dict[str, object]:
        """Tokens by direct grant: only a test-only client allows it (the
        realm in deploy/keycloak/ has none; tests add theirs)."""
        status, body = self.request(
            "POST",
            f"{self.url}/realms/{realm}/protocol/openid-connect/token",
            form={
                "grant_type": "password",
                "client_id": client_id,
                "username": username,
                "password": password,
                "scope": "openid",
            },
        )
        if status != 200 or not isinstance(body, dict):
            raise KeycloakError(f"password grant for {username} failed: {status} {body}")
        return body

    def admin_token(self) -> str:
        """A master-realm admin token, reused until shortly before it expires."""
        if self._admin_token and self._admin_token[1] > time.monotonic() + 5:
            return self._admin_token[0]
        status, body = self.request(
            "POST",
            f"{self.url}/realms/master/protocol/openid-connect/token",
            form={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": ADMIN_USER,
                "password": ADMIN_PASSWORD,
            },
        )
        if status != 200 or not isinstance(body, dict):
            raise KeycloakError(f"admin sign-in failed: {status} {body}")
        token = str(body["access_token"])
        self._admin_token = (token, time.monotonic() + float(body.get("expires_in", 60)))
        return token

    def admin(
        self, method: str, path: str, body: object = None, *, realm: str = REALM
    ) -> tuple[int, object]:
        """Call the admin REST API of a realm (`path` below it)."""
        url = f"{self.url}/admin/realms/{realm}{path}"
        return self.request(method, url, body=body, token=self.admin_token())

    def _admin_ok(self, method: str, path: str, body: object = None, **kw: str) -> object:
        status, answer = self.admin(method, path, body, **kw)
        if status >= 300:
            raise KeycloakError(f"{method} {path}: {status} {answer}")
        return answer

    def add_user(
        self,
        username: str,
        password: str,
        roles: list[str],
        *,
        realm: str = REALM,
        **attributes: str,
    ) -> str:
        """A user with realm roles and attributes (museum_id, licensee_id); its id."""
        self._admin_ok(
            "POST",
            "/users",
            {
                "username": username,
                "enabled": True,
                "email": f"{username}@example.test",
                "emailVerified": True,
                "firstName": username,
                "lastName": "Test",
                "attributes": {name: [value] for name, value in attributes.items()},
                "credentials": [{"type": "password", "value": password, "temporary": False}],
            },
            realm=realm,
        )
        found = self._admin_ok("GET", f"/users?exact=true&username={username}", realm=realm)
        user_id = _first_id(found, f"user {username}")
        wanted = []
        for role in roles:
            representation = self._admin_ok("GET", f"/roles/{role}", realm=realm)
            wanted.append(representation)
        self._admin_ok("POST", f"/users/{user_id}/role-mappings/realm", wanted, realm=realm)
        return user_id

    def client_uuid(self, client_id: str, *, realm: str = REALM) -> str:
        found = self._admin_ok("GET", f"/clients?clientId={client_id}", realm=realm)
        return _first_id(found, f"client {client_id}")

    def new_client_secret(self, client_id: str) -> str:
        """Generate a fresh secret for a confidential client (none is committed)."""
        answer = self._admin_ok("POST", f"/clients/{self.client_uuid(client_id)}/client-secret")
        if not isinstance(answer, dict):
            raise KeycloakError(f"no secret for {client_id}: {answer}")
        return str(answer["value"])

    def client_credentials(self, client_id: str, secret: str) -> dict[str, object]:
        status, body = self.request(
            "POST",
            self.token_url,
            form={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        if status != 200 or not isinstance(body, dict):
            raise KeycloakError(f"client credentials for {client_id} failed: {status} {body}")
        return body


def _first_id(found: object, what: str) -> str:
    if not isinstance(found, list) or not found or not isinstance(found[0], dict):
        raise KeycloakError(f"{what} not found")
    return str(found[0]["id"])


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


def start(name: str = "dev", port: int = 18080, timeout: float = 240) -> Keycloak:
    """Start Keycloak in dev mode (in-memory database, realm imported at every
    start) and wait until the realm's discovery document answers."""
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
    keycloak = Keycloak(port=port, process=process, log_path=log_path, home=home)
    try:
        _wait_ready(keycloak, timeout)
    except BaseException:
        keycloak.stop()
        raise
    return keycloak


def _wait_ready(keycloak: Keycloak, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    discovery = f"{keycloak.issuer}/.well-known/openid-configuration"
    while time.monotonic() < deadline:
        if keycloak.process.poll() is not None:
            raise KeycloakError(f"Keycloak exited: see {keycloak.log_path}")
        try:
            with urllib.request.urlopen(discovery, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise KeycloakError(f"Keycloak did not answer within {timeout:.0f}s: see {keycloak.log_path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "fetch", "java"])
    parser.add_argument("--name", default="dev")
    parser.add_argument("--port", type=int, default=18080)
    args = parser.parse_args(argv)
    try:
        if args.command == "java":
            print(find_java_home())
        elif args.command == "fetch":
            print(fetch())
        else:
            keycloak = start(args.name, args.port)
            print(f"Keycloak ready: issuer {keycloak.issuer} (log {keycloak.log_path})", flush=True)
            # Ctrl-C or a TERM from a supervisor stops Keycloak with this process
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            try:
                keycloak.process.wait()
            except KeyboardInterrupt:
                pass
            finally:
                keycloak.stop()
    except KeycloakError as exc:
        sys.exit(str(exc))


if __name__ == "__main__":
    main()
