"""One daemon thread keeps every open sign-in widget current: countdowns and status polls."""

from __future__ import annotations

import threading
import time
from typing import Protocol

from ..errors import NevisAuthError
from ..protocol import Status
from . import client

#: Seconds between two countdown updates.
TICK = 1.0
#: Seconds between two status polls while no cell waits (catches refreshes and sign-outs).
POLL_INTERVAL = 5.0
#: Seconds without a cell run after which widgets stop updating: every update is kernel
#: activity, and a kernel nobody uses must still look idle to the server's culler.
IDLE_PAUSE = 1800.0


def _execution_count() -> int:
    """How many cells the kernel has run; 0 outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return 0
    shell = get_ipython()
    return int(getattr(shell, "execution_count", 0) or 0)


class Shown(Protocol):
    """What the monitor updates: a widget showing the sign-in status."""

    def tick(self) -> None:
        """Count down without asking the server."""

    def show(self, status: Status, error: str | None = None) -> None:
        """Show a new status (or why there is none)."""


def poll() -> tuple[Status, str | None]:
    """The status, or an empty one and the sentence saying why there is none."""
    try:
        return client.token_status(), None
    except NevisAuthError as e:
        return {}, str(e)


class Monitor:
    """One daemon thread for all open widgets: counts down, and polls the status."""

    def __init__(self) -> None:
        self._widgets: set[Shown] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, widget: Shown) -> None:
        """Keep `widget` current until it is discarded."""
        with self._lock:
            self._widgets.add(widget)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="nevis-login-widget", daemon=True
                )
                self._thread.start()

    def discard(self, widget: Shown) -> None:
        """Stop updating `widget`."""
        with self._lock:
            self._widgets.discard(widget)

    def _run(self) -> None:
        next_poll = time.monotonic() + POLL_INTERVAL
        last_count, last_active = _execution_count(), time.monotonic()
        while True:
            time.sleep(TICK)
            with self._lock:
                live = list(self._widgets)
                if not live:
                    self._thread = None
                    return
            count = _execution_count()
            if count != last_count:
                last_count, last_active = count, time.monotonic()
            if time.monotonic() - last_active > IDLE_PAUSE:
                continue
            if time.monotonic() < next_poll:
                for widget in live:
                    widget.tick()
                continue
            next_poll = time.monotonic() + POLL_INTERVAL
            status, error = poll()
            for widget in live:
                widget.show(status, error)


#: The monitor of every LoginWidget.
monitor = Monitor()
