"""The local platform's services under supervisord: a crashed service
restarts on its own while the others keep serving.

Why supervisord: honcho (which ran them before) ends every process as soon
as one exits, so one crash stopped the whole platform. supervisord is the
well-kept process manager with restart policies: `autorestart` restarts a
service that exits unexpectedly, and one that dies again before `startsecs`
is retried `startretries` times with a growing delay (1 s, 2 s, 3 s, ...)
before it is marked FATAL. Each service's command is its line of the
Procfile (the same commands docker-compose and honcho users know).

Restarts and the last exit reason come from supervisord's own log
(`exited: <name> (<reason>)`: a stop it was asked for logs `stopped:`
instead), which is what `make status` shows beside each process's state.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcessState", "Supervisor", "procfile"]

BIN = Path(sys.executable).parent
_EXITED = re.compile(r"exited: (?P<name>[\w-]+) \((?P<reason>[^)]*)\)")


def procfile(path: Path) -> dict[str, str]:
    """name -> command, from a Procfile."""
    commands = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            commands[name.strip()] = command.strip()
    return commands


@dataclass(frozen=True)
class ProcessState:
    name: str
    state: str  # RUNNING, STARTING, BACKOFF, EXITED, FATAL, STOPPED
    pid: int | None
    restarts: int  # exits supervisord restarted it after (its own stops are not counted)
    last_exit: str | None  # the reason of the last such exit


class Supervisor:
    """supervisord running `programs` (name -> command) from `cwd`, with its
    config, socket, pid file and logs under `home`."""

    def __init__(
        self,
        home: Path,
        programs: dict[str, str],
        *,
        cwd: Path,
        environment: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.home, self.programs, self.cwd = home, programs, cwd
        self.environment = environment or {}  # per program, beside supervisord's own
        self.config = home / "supervisord.conf"
        self.log = home / "supervisord.log"
        self.pidfile = home / "supervisord.pid"
        self.socket = home / "supervisor.sock"

    def start(self, env: dict[str, str]) -> None:
        """Start supervisord (and with it every program) unless it runs."""
        if self.pid() is not None:
            return
        self.home.mkdir(parents=True, exist_ok=True)
        self.config.write_text(self._config())
        subprocess.run([str(BIN / "supervisord"), "-c", str(self.config)], env=env, check=True)
        deadline = time.monotonic() + 10
        while self.pid() is None and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self, timeout: float = 30) -> None:
        """Stop every program, then supervisord."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)  # supervisord stops its programs first
        deadline = time.monotonic() + timeout
        while self.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.2)

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text())
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None

    def states(self) -> list[ProcessState]:
        exits = self._unexpected_exits()
        found = []
        for name in self.programs:
            state, pid = self._state(name)
            reasons = exits.get(name, [])
            found.append(
                ProcessState(name, state, pid, len(reasons), reasons[-1] if reasons else None)
            )
        return found

    def _state(self, name: str) -> tuple[str, int | None]:
        if self.pid() is None:
            return "STOPPED", None
        done = subprocess.run(
            [str(BIN / "supervisorctl"), "-c", str(self.config), "status", name],
            capture_output=True,
            text=True,
        )
        words = done.stdout.split()
        state = words[1] if len(words) > 1 else "UNKNOWN"
        pid = int(words[3].rstrip(",")) if state == "RUNNING" and len(words) > 3 else None
        return state, pid

    def _unexpected_exits(self) -> dict[str, list[str]]:
        exits: dict[str, list[str]] = {}
        if self.log.exists():
            for match in _EXITED.finditer(self.log.read_text(errors="replace")):
                exits.setdefault(match["name"], []).append(match["reason"])
        return exits

    def _config(self) -> str:
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        sections: dict[str, dict[str, object]] = {
            "supervisord": {
                "logfile": self.log,
                "pidfile": self.pidfile,
                "directory": self.cwd,
                "childlogdir": logs,
            },
            "unix_http_server": {"file": self.socket},
            "rpcinterface:supervisor": {
                "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"
            },
            "supervisorctl": {"serverurl": f"unix://{self.socket}"},
        }
        for name, command in self.programs.items():
            program: dict[str, object] = {"command": command, "directory": self.cwd}
            extra = self.environment.get(name)
            if extra:
                program["environment"] = ",".join(f'{k}="{v}"' for k, v in extra.items())
            program |= {
                "autorestart": "true",
                "startsecs": 3,  # dying sooner is a failed start: retried 1 s, 2 s, ... later
                "startretries": 10,
                "stopsignal": "TERM",
                "stopwaitsecs": 20,
                "stopasgroup": "true",
                "killasgroup": "true",
                "redirect_stderr": "true",
                "stdout_logfile": logs / f"{name}.log",
                "stdout_logfile_maxbytes": "20MB",
                "stdout_logfile_backups": 2,
            }
            sections[f"program:{name}"] = program
        return "\n".join(
            f"[{title}]\n" + "".join(f"{key}={value}\n" for key, value in values.items())
            for title, values in sections.items()
        )
