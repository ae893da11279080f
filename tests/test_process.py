"""The tests' process helper (tests/support/process.py) and the provider's start on it."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path

import pytest

from tests.support import provider as provider_module
from tests.support.process import LOWEST_PORT, Process, ProcessError, ephemeral_ports, free_port
from tests.support.provider import OIDCTestProvider, ProviderError, ProviderTimeout

#: A child that prints two lines, the second after a moment, then waits for a signal.
TALKER = (
    "import time\n"
    "print('starting', flush=True)\n"
    "time.sleep(0.3)\n"
    "print('READY at 1234', flush=True)\n"
    "time.sleep(60)\n"
)


def python(tmp_path: Path, code: str) -> Process:
    """A Python child running `code`, its output in a log file."""
    return Process("the child", [sys.executable, "-c", code], log_file=tmp_path / "child.log")


def test_wait_for_line_gives_the_line(tmp_path: Path) -> None:
    with python(tmp_path, TALKER) as child:
        assert child.wait_for_line("READY ", 30) == "READY at 1234"
        assert child.output.splitlines() == ["starting", "READY at 1234"]


def test_wait_for_line_fails_when_the_process_ends(tmp_path: Path) -> None:
    with python(tmp_path, "print('bye')") as child:
        with pytest.raises(
            ProcessError, match="the child exited with 0 before it would print READY"
        ):
            child.wait_for_line("READY ", 30)
        assert child.returncode == 0


def test_wait_for_line_times_out(tmp_path: Path) -> None:
    with python(tmp_path, "import time; time.sleep(60)") as child:
        with pytest.raises(ProcessError, match="did not print NEVER within 0 s"):
            child.wait_for_line("NEVER", 0.3)
        assert child.running


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_stop_sends_the_signal_asked(tmp_path: Path, sig: int) -> None:
    # The child would end with 3 on SIGTERM: a SIGKILL shows as -9 instead.
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))\n"
        "print('READY', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = python(tmp_path, code)
    child.start()
    child.wait_for_line("READY", 30)
    assert child.stop(sig=sig) == (3 if sig == signal.SIGTERM else -signal.SIGKILL)
    assert not child.running


def test_send_signal(tmp_path: Path) -> None:
    with python(tmp_path, "import time; print('READY', flush=True); time.sleep(60)") as child:
        child.wait_for_line("READY", 30)
        child.send_signal(signal.SIGKILL)
        with pytest.raises(ProcessError, match="exited with -9"):
            child.wait_until(lambda: False, 30)


def test_provider_that_exits_says_so() -> None:
    with pytest.raises(ProviderError, match="exited with code 1") as raised:
        OIDCTestProvider(node="false").start()
    assert not isinstance(raised.value, ProviderTimeout)


def test_provider_that_never_says_ready_times_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = tmp_path / "node"
    node.write_text("#!/bin/sh\necho listening soon\nexec sleep 60\n")
    node.chmod(0o755)
    monkeypatch.setattr(provider_module, "STARTUP_TIMEOUT", 0.5)
    provider = OIDCTestProvider(node=str(node))
    # Tried twice: the second failure is told after the first.
    with pytest.raises(ProviderError, match=r"did not print READY(.|\n)*Then again") as raised:
        provider.start()
    assert "listening soon" in str(raised.value)
    assert not provider.running


def test_free_ports_are_below_the_range_outgoing_connections_take_theirs_from() -> None:
    low, high = ephemeral_ports()
    assert 0 < low < high
    ports = {free_port() for _ in range(20)}
    # An outgoing connection's local port could take one of the ephemeral range between the
    # pick and the listen: never one below it.
    assert all(LOWEST_PORT <= port < low for port in ports), ports
    assert len(ports) > 1
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports.pop()))  # nothing listens there
