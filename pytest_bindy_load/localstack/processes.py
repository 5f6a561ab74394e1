"""Child processes of the local stack: free loopback ports, one log file per process, own
process groups, and a stop that always ends in SIGKILL. Knows nothing about what it runs."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pytest_bindy_load.errors import TargetError

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
LOG_TAIL_LINES = 25


def free_port(host: str = "127.0.0.1", *, udp_too: bool = False) -> int:
    """A port free on ``host`` now (TCP, and UDP when asked); ports in use are skipped."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        if not udp_too:
            return port
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind((host, port))
        except OSError:
            continue
        return port
    raise TargetError(f"no free port found on {host} after 100 tries")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _die_with_parent() -> None:
    """Runs in the child before exec: a new session, and SIGKILL when the parent dies, so even a
    SIGKILLed pytest leaves no stack process behind."""
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        data = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(data[-lines:])


@dataclass(slots=True)
class ManagedProcess:
    """One child process with its log file."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    proc: asyncio.subprocess.Process | None = field(default=None, init=False)
    started_at: float = field(default=0.0, init=False)

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ if self.env is None else self.env)
        with self.log_path.open("ab") as out:
            out.write(f"--- start {time.strftime('%H:%M:%S')}: {' '.join(self.argv)}\n".encode())
            out.flush()
            try:
                self.proc = await asyncio.create_subprocess_exec(
                    *self.argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=asyncio.subprocess.STDOUT,
                    env=env,
                    cwd=self.cwd,
                    preexec_fn=_die_with_parent,
                )
            except FileNotFoundError as e:
                raise TargetError(f"{self.name}: executable not found: {self.argv[0]}") from e
        self.started_at = time.monotonic()
        log.info("started %s pid=%s log=%s", self.name, self.proc.pid, self.log_path)

    def failure(self, why: str) -> TargetError:
        return TargetError(
            f"{self.name} {why}; last lines of {self.log_path}:\n{tail(self.log_path)}"
        )

    async def wait_ready(
        self, probe: Callable[[], Awaitable[bool]], *, timeout_s: float, interval_s: float = 0.1
    ) -> None:
        """Wait until ``probe`` says yes; a process that exits or a deadline shows its log tail."""
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.running:
                code = None if self.proc is None else self.proc.returncode
                raise self.failure(f"exited with code {code} before it was ready")
            with contextlib.suppress(Exception):
                if await probe():
                    return
            if time.monotonic() > deadline:
                raise self.failure(f"was not ready after {timeout_s:.0f} s")
            await asyncio.sleep(interval_s)

    def kill(self) -> None:
        """SIGKILL the whole process group at once (what a pod kill does)."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    async def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM to the group, then SIGKILL after ``grace_s``; always reaps the child."""
        if self.proc is None:
            return
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), grace_s)
            except TimeoutError:
                self.kill()
                await self.proc.wait()
        # Children of the group that outlived the leader.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        log.info("stopped %s pid=%s code=%s", self.name, self.proc.pid, self.proc.returncode)
