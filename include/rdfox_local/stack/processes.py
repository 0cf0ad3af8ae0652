"""Background server processes of the local stack: start detached, wait until they answer, stop exactly them.

A process is identified by its pid *and* its start time (from /proc, where there is one), so that ``down``
never signals an unrelated process that happens to have reused a pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess  # nosec B404
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ServerProcess:
    """One background server: what it is, where it listens, and how to recognise it again."""

    name: str
    pid: int
    port: int
    url: str
    log: str
    start_time: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServerProcess:
        return cls(**{k: data[k] for k in ("name", "pid", "port", "url", "log", "start_time")})


def free_port() -> int:
    """A TCP port that was free on loopback a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (field 22 of /proc/<pid>/stat), or None without /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; fields after it are split on the last ')'.
    return stat.rsplit(")", 1)[1].split()[19]


def is_running(proc: ServerProcess) -> bool:
    """True if the process we started is still the one with this pid (and is not a zombie)."""
    try:
        os.kill(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process now
    stat_path = Path(f"/proc/{proc.pid}/stat")
    if stat_path.exists():
        state = stat_path.read_text().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            return False
    current = process_start_time(proc.pid)
    return proc.start_time is None or current is None or current == proc.start_time


def start_server(
    name: str, args: Sequence[str], *, port: int, url: str, log_dir: Path, env: Mapping[str, str]
) -> ServerProcess:
    """Start ``args`` detached (own session, survives this CLI), output to ``log_dir/<name>.log``."""
    log_path = log_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(  # noqa: S603  # nosec B603
            list(args),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            start_new_session=True,
        )
    return ServerProcess(name, proc.pid, port, url, str(log_path), process_start_time(proc.pid))


def wait_until_answering(proc: ServerProcess, path: str = "/", timeout: float = 60.0) -> None:
    """Wait until the server answers HTTP (any status); a clear error with its log's tail if it dies."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not is_running(proc):
            raise RuntimeError(f"{proc.name} exited while starting; see {proc.log}:\n{log_tail(proc.log)}")
        try:
            with urllib.request.urlopen(proc.url.rstrip("/") + path, timeout=2):  # noqa: S310  # nosec B310
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError as exc:
            last = exc
            time.sleep(0.2)
    raise TimeoutError(
        f"{proc.name} did not answer at {proc.url} within {timeout:.0f} s ({last}); see {proc.log}"
    )


def log_tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop_server(proc: ServerProcess, timeout: float = 10.0) -> bool:
    """SIGTERM the server's process group (it and the pods it runs), then SIGKILL; False if it was gone."""
    if not is_running(proc):
        return False
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return False
    # We started it with start_new_session=True, so its group is its own (pgid == pid): never anyone else's.
    target_group = pgid == proc.pid
    _signal(proc.pid, signal.SIGTERM, group=target_group)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(proc.pid)
        if not is_running(proc):
            break
        time.sleep(0.1)
    else:
        _signal(proc.pid, signal.SIGKILL, group=target_group)
    if target_group:
        _signal(proc.pid, signal.SIGKILL, group=True)  # leftovers of the group (pod processes)
    _reap(proc.pid)
    return True


def _reap(pid: int) -> None:
    # Only our own child can be reaped (a test that ran ``up`` in-process); otherwise init reaps it.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _signal(pid: int, sig: int, *, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
