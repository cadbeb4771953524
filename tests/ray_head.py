"""A real one-machine Ray cluster for the tests: `ray start --head --block` in its own session.

Token authentication is on, as a teacher's cluster should run: the head, the test process
(a Ray driver) and the drivers it starts (the CLI, the app's server) read one token file in
the head's temporary folder (not ~/.ray: the tests leave no trace there). Ray reads these
settings when it is imported, so the head starts before anything in the tests imports Ray.

Stopped by its own process ids: SIGTERM to the head's process group (with --block, the head
stops what it started), then SIGKILL to anything left in its session.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from processes import die_with_parent

RAY = Path(sys.executable).with_name("ray")
AUTH = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_members(sid: int) -> list[int]:
    """The processes of one session (the head and everything it started), from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid:
                    out.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                pass
    return out


class RayHead:
    def __init__(self, cpus: int = 2):
        self.cpus = cpus
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: socket paths fit in 107 bytes
        self.proc: subprocess.Popen | None = None
        self._saved = {k: os.environ.get(k) for k in AUTH}

    def start(self, timeout: float = 180) -> "RayHead":
        token = self.temp / "token"
        token.write_text(secrets.token_hex(32))
        os.environ.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)})
        self._log = open(self.temp / "head.log", "wb")
        self.proc = subprocess.Popen(
            [str(RAY), "start", "--head", "--block", f"--port={self.port}", f"--num-cpus={self.cpus}",
             "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={self.temp}",
             "--node-ip-address=127.0.0.1",
             "--object-store-memory=200000000"],  # runs travel through it; the default takes 30% of RAM
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, env=dict(os.environ),
            preexec_fn=die_with_parent)  # ends with the test run even when stop() never runs
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the Ray head did not start:\n" + self.log_tail()) from None
                time.sleep(0.5)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return (self.temp / "head.log").read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if "ray" in sys.modules and sys.modules["ray"].is_initialized():
            sys.modules["ray"].shutdown()  # this process' driver first
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)  # `ray start --block` may take half a minute to stop it all: then SIGKILL
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
            for pid in session_members(self.proc.pid):
                os.kill(pid, signal.SIGKILL)
            self._log.close()
        for k, v in self._saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(self.temp, ignore_errors=True)
