"""One daemon thread keeps every open sign-in widget current: countdowns and status polls."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol

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
SIGN_OUT_TIP = (
    "Drop this server's tokens of every provider; notebooks can then no longer call APIs as you."
)
#: While a cell waits, a click reaches the kernel only once the cell has ended.
BUSY_TIP = (
    "A cell is waiting for a sign-in; sign out once it has ended, or from JupyterLab's "
    "sign-in item."
)


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

    @property
    def sign_out_button(self) -> Any:
        """Its Sign out button (an ipywidgets Button)."""


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
        #: Cells of this kernel waiting for a sign-in.
        self._waits = 0

    def add(self, widget: Shown) -> None:
        """Keep `widget` current until it is discarded."""
        with self._lock:
            self._widgets.add(widget)
            _offer_sign_out(widget, not self._waits)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="nevis-login-widget", daemon=True
                )
                self._thread.start()

    def discard(self, widget: Shown) -> None:
        """Stop updating `widget`."""
        with self._lock:
            self._widgets.discard(widget)

    @contextlib.contextmanager
    def cell_waits(self) -> Iterator[None]:
        """While a cell waits for a sign-in: the kernel takes a widget's click only after the
        cell, so every Sign out is disabled (else a sign-out would happen long after)."""
        with self._lock:
            self._waits += 1
            for widget in self._widgets:
                _offer_sign_out(widget, False)
        try:
            yield
        finally:
            with self._lock:
                self._waits -= 1
                for widget in self._widgets if not self._waits else ():
                    _offer_sign_out(widget, True)

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


def _offer_sign_out(widget: Shown, usable: bool) -> None:
    button = widget.sign_out_button
    button.disabled, button.tooltip = not usable, SIGN_OUT_TIP if usable else BUSY_TIP


#: The monitor of every LoginWidget.
monitor = Monitor()
