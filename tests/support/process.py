"""A process of a test or benchmark: start it, wait until it answers, stop it, read its output."""

from __future__ import annotations

import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import requests

STOP_TIMEOUT = 30.0
#: Seconds between two looks at whether a process is ready.
POLL = 0.1


class ProcessError(RuntimeError):
    """A process did not start, or did not answer in time."""


#: The lowest port free_port() gives.
LOWEST_PORT = 10000


def ephemeral_ports() -> tuple[int, int]:
    """The range the kernel takes outgoing connections' local ports from."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, below the ephemeral range.

    Not one the kernel picks (bind to port 0): those come from the range outgoing
    connections take their local ports from, and one of those could take it before the
    caller's process listens on it.
    """
    low = ephemeral_ports()[0]
    tries = 100 if low > LOWEST_PORT + 1000 else 0
    for _ in range(tries):
        port = LOWEST_PORT + secrets.randbelow(low - LOWEST_PORT)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken
            return port
    with socket.socket() as sock:  # a machine without room below its ephemeral range
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    """One child process, its stdout and stderr in a log file (or the caller's, without one)."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        log_file: Path | None = None,
        append: bool = False,
        umask: int = -1,
    ) -> None:
        """Prepare `command`; `name` is what messages call it. Call start()."""
        self.name = name
        self.command = list(command)
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.log_file = log_file
        self.append = append
        self.umask = umask
        self._popen: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Process:
        """Start the process."""
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop the process."""
        self.stop()

    def start(self) -> None:
        """Start the process; it reads nothing from stdin."""
        if self.log_file is None:
            self._popen = self._spawn(None)
            return
        with self.log_file.open("ab" if self.append else "wb") as log:
            self._popen = self._spawn(log)

    def _spawn(self, log: IO[bytes] | None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT if log is not None else None,
            umask=self.umask,
        )

    @property
    def pid(self) -> int:
        """The process id."""
        if self._popen is None:
            raise ProcessError(f"{self.name} is not running")
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit status, None while it runs (or before it started)."""
        return None if self._popen is None else self._popen.poll()

    @property
    def running(self) -> bool:
        """Whether the process was started and has not ended."""
        return self._popen is not None and self._popen.poll() is None

    @property
    def output(self) -> str:
        """What the process printed so far (nothing without a log file)."""
        if self.log_file is None or not self.log_file.exists():
            return ""
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str = "answer") -> None:
        """Call `ready` until it is true; ProcessError if the process ends or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            if self._popen is None or self._popen.poll() is not None:
                raise ProcessError(
                    f"{self.name} exited with {self.returncode} before it would {what}:\n"
                    f"{self.output}"
                )
            if ready():
                return
            if time.monotonic() > deadline:
                raise ProcessError(
                    f"{self.name} did not {what} within {timeout:.0f} s:\n{self.output}"
                )
            time.sleep(POLL)

    def wait_for_line(self, prefix: str, timeout: float) -> str:
        """Wait until a line of the output starts with `prefix`; that line."""
        found: list[str] = []

        def printed() -> bool:
            found.extend(line for line in self.output.splitlines() if line.startswith(prefix))
            return bool(found)

        self.wait_until(printed, timeout, f"print {prefix.strip()}")
        return found[0]

    def wait_for_url(
        self, url: str, timeout: float, *, status: int | None = None, **kwargs: Any
    ) -> None:
        """Wait until `url` answers a GET (with `status`, if given)."""

        def answers() -> bool:
            try:
                response = requests.get(url, timeout=2, **kwargs)
            except requests.ConnectionError:
                return False
            return status is None or response.status_code == status

        self.wait_until(answers, timeout, f"answer at {url.split('?')[0]}")

    def send_signal(self, sig: int) -> None:
        """Send `sig` to the process, if it runs."""
        if self._popen is not None and self._popen.poll() is None:
            self._popen.send_signal(sig)

    def stop(
        self, timeout: float = STOP_TIMEOUT, *, asked: bool = False, sig: int = signal.SIGTERM
    ) -> int | None:
        """Send `sig` (unless `asked` to end already), SIGKILL after `timeout`; the status."""
        popen = self._popen
        if popen is None:
            return None
        if popen.poll() is None:
            if not asked:
                popen.send_signal(sig)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
        self._popen = None
        return popen.returncode
