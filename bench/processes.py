"""Starting and stopping the benchmark's servers: subprocesses on loopback, stopped by PID, bounded waits."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from . import procfs


class StartupError(RuntimeError):
    """A server did not come up (exited, or not ready in time); carries its log tail."""


class Proc:
    """One started server. ``stop`` signals it by PID, then any descendants left, by PID."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name, self.popen, self.log_path = name, popen, log_path
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def pids(self) -> list[int]:
        return procfs.tree(self.pid)

    def running(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        try:
            self._stop(sig, timeout)
        finally:
            if self.popen.stdout is not None:
                self.popen.stdout.close()

    def _stop(self, sig: int, timeout: float) -> None:
        if self.popen.poll() is not None:
            return
        family = self.pids()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=5)
        deadline = time.monotonic() + 5
        for pid in family[1:]:  # children it started and did not reap (only ours: they were its tree)
            while procfs.alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if procfs.alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def spawn(name: str, argv: Sequence[str], *, log_path: Path, env: Mapping[str, str] | None = None,
          cwd: Path | None = None, stdout_pipe: bool = False) -> Proc:
    log = log_path.open("wb")
    try:
        popen = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE if stdout_pipe else log, stderr=log,
                                 env=dict(env) if env is not None else None, cwd=cwd)
    finally:
        log.close()  # the child holds its own descriptor
    return Proc(name, popen, log_path)


def read_ready_port(proc: Proc, timeout: float) -> int:
    """Wait for the ``READY <port>`` line our own servers print once listening."""
    out = proc.popen.stdout
    if out is None:
        raise StartupError(f"{proc.name}: no stdout pipe")
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([out], [], [], 0.05)
        if ready:
            chunk = os.read(out.fileno(), 256)
            if not chunk:
                break
            buf += chunk
            if b"\n" in buf:
                line = buf.split(b"\n", 1)[0].decode()
                if line.startswith("READY "):
                    return int(line.split()[1])
                break
    raise StartupError(f"{proc.name} did not start: {buf[:200]!r}\n{proc.tail()}")


def free_port() -> int:
    """An ephemeral loopback port for a server that cannot report its own (nginx, the sidecar)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get_status(port: int, path: str, timeout: float = 1.0, headers: str = "") -> int | None:
    """Status of ``GET path`` on loopback, or None if nothing answers."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n"
                      .encode())
            head = s.recv(64)
    except OSError:
        return None
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def wait_ready(proc: Proc, check: Callable[[], bool], timeout: float, poll: float = 0.005) -> float:
    """Seconds from ``proc`` start until ``check()`` holds; StartupError if it exits or times out."""
    deadline = proc.started_at + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic() - proc.started_at
        if not proc.running():
            raise StartupError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        time.sleep(poll)
    raise StartupError(f"{proc.name} not ready after {timeout:.0f} s:\n{proc.tail()}")
