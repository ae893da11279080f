"""The sign-in widget: who is signed in, for how long, and controls to sign in and out.

Its state holds display text only (names, scopes, times), never a token, so a
saved notebook never contains one.
"""

from __future__ import annotations

import html
import os
import threading
import time
import warnings
from typing import Any
from urllib.parse import quote

import ipywidgets as widgets
from IPython.display import display

from ..claims import display_name
from ..errors import LoginRequiredError, NevisAuthError
from ..protocol import ENV_LOGIN_URL, Status
from . import client
from .monitor import monitor, poll

#: Seconds between two status polls while a cell waits for the sign-in.
WAIT_POLL = 1.0

_DOT = '<span style="color:{color};font-size:1.1em" aria-hidden="true">&#9679;</span> '
_ON = _DOT.format(color="var(--jp-success-color1, #388e3c)")
_OFF = _DOT.format(color="var(--jp-ui-font-color3, #8a8a8a)")
_WARN = _DOT.format(color="var(--jp-warn-color1, #f57c00)")
# A link, not a Python callback: a cell that waits for the sign-in blocks the
# kernel, so a button click would only reach it after the wait. rel="opener" lets
# the nevis/done page close the window it opened.
_SIGN_IN = (
    '<a href="{href}" target="_blank" rel="opener" class="nevis-sign-in jupyter-widgets '
    'jupyter-button widget-button mod-primary" style="display:inline-flex;align-items:center;'
    'justify-content:center;text-decoration:none"><i class="fa fa-sign-in" aria-hidden="true" '
    'style="margin-right:4px"></i>Sign in</a>'
)


def format_duration(seconds: float) -> str:
    """A countdown: minutes while far off, m:ss in the last two minutes."""
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    if seconds >= 120:
        return f"{seconds // 60} min"
    return f"{seconds // 60}:{seconds % 60:02d}"


def sign_in_href(login_url: str) -> str:
    """The sign-in link: the server's login, ending on its self-closing nevis/done page."""
    base = login_url.split("?", 1)[0]
    if not base.endswith("nevis/login"):
        return login_url
    done = base[: -len("login")] + "done"
    return f"{base}?next={quote(done, safe='/')}"


class LoginWidget(widgets.VBox):
    """Shows who is signed in and for how long, with sign-in and sign-out controls."""

    def __init__(self, **kwargs: Any) -> None:
        self.status_line = widgets.HTML()
        self.lifetime = widgets.HTML()
        self.scopes = widgets.HTML()
        self.warning_lines = widgets.HTML()
        self.wait_line = widgets.HTML(layout=widgets.Layout(display="none"))
        self.sign_in_link = widgets.HTML()
        self.sign_out_button = widgets.Button(
            description="Sign out",
            icon="sign-out",
            tooltip="Drop this server's tokens; notebooks can then no longer call APIs as you.",
        )
        self.sign_out_button.on_click(self._on_sign_out)
        self.sign_out_button.add_class("nevis-sign-out")
        self._controls = widgets.HBox([self.sign_in_link, self.sign_out_button])
        kwargs.setdefault(
            "layout",
            widgets.Layout(
                border="1px solid var(--jp-border-color2, #e0e0e0)",
                padding="4px 12px 8px",
                width="fit-content",
                min_width="20em",
            ),
        )
        super().__init__(**kwargs)
        self.children = [
            self.status_line,
            self.lifetime,
            self.scopes,
            self.warning_lines,
            self.wait_line,
            self._controls,
        ]
        self.add_class("nevis-login")
        self._lock = threading.RLock()
        self._status: Status = {}
        self._error: str | None = None
        self._deadline: float | None = None
        self.show(*poll())
        monitor.add(self)

    @property
    def signed_in(self) -> bool:
        """Whether the last status seen says the user is signed in."""
        return bool(self._status.get("logged_in"))

    def update_status(self) -> Status:
        """Ask the server for the sign-in status now and show it; returns it."""
        try:
            status = client.token_status()
        except NevisAuthError as e:
            self.show({}, error=str(e))
            raise
        self.show(status)
        return status

    def refresh(self) -> Status:
        """Deprecated name of update_status()."""
        warnings.warn(
            "LoginWidget.refresh() is deprecated; use update_status().",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.update_status()

    def show(self, status: Status, error: str | None = None) -> None:
        """Show a status answer of the server (or why there is none)."""
        with self._lock:
            self._status = status
            self._error = error
            self._render()

    def tick(self) -> None:
        """Count down the token's lifetime and the wait."""
        with self._lock:
            self._render()

    def close(self) -> None:
        """Stop updating, then close the widget and its parts."""
        monitor.discard(self)
        for part in (*self.children, *self._controls.children):
            part.close()
        super().close()

    def __repr__(self) -> str:
        if self._error:
            return f"LoginWidget: {self._error}"
        if self.signed_in:
            return f"LoginWidget: signed in as {display_name(self._status.get('claims', {}))}"
        return "LoginWidget: signed out"

    def wait(self, timeout: float) -> bool:
        """Block until the user has signed in (True) or `timeout` seconds have passed (False)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._deadline = deadline
        try:
            while not self.update_status().get("logged_in"):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                time.sleep(min(WAIT_POLL, left))
            return True
        finally:
            with self._lock:
                self._deadline = None
                self._render()

    def _render(self) -> None:
        status, signed_in = self._status, self.signed_in
        if self._error:
            self.status_line.value = _WARN + html.escape(self._error)
        elif signed_in:
            name = html.escape(display_name(status.get("claims", {})))
            self.status_line.value = f"{_ON}Signed in as <b>{name}</b>"
        else:
            reason = status.get("signed_out_reason")
            self.status_line.value = (
                _OFF + "Signed out" + (f" &mdash; {html.escape(reason)}" if reason else "")
            )
        self.lifetime.value = self._lifetime_text() if signed_in else ""
        scopes = " ".join(status.get("scopes") or ())
        self.scopes.value = f"Scopes: <code>{html.escape(scopes)}</code>" if signed_in else ""
        # Older servers send no warnings.
        notes = (status.get("warnings") or []) if signed_in else []
        self.warning_lines.value = "<br>".join(_WARN + html.escape(note) for note in notes)
        self.wait_line.value = self._wait_text()
        self.sign_in_link.value = (
            _SIGN_IN.format(href=html.escape(sign_in_href(self._login_url())))
            if not signed_in and not self._error
            else ""
        )
        for part, shown in (
            (self.lifetime, signed_in),
            (self.scopes, signed_in),
            (self.warning_lines, bool(self.warning_lines.value)),
            (self.wait_line, self._deadline is not None),
            (self.sign_in_link, not signed_in and not self._error),
            (self.sign_out_button, signed_in),
        ):
            part.layout.display = "" if shown else "none"

    def _lifetime_text(self) -> str:
        status = self._status
        problem = status.get("last_refresh_error")
        note = f" Last refresh failed: {html.escape(problem)}" if problem else ""
        expires_at = status.get("expires_at")
        if expires_at is None:
            return "Access token: the provider gave no expiry." + note
        seconds = expires_at - time.time()
        if seconds <= 0:
            return "Access token: expired." + note
        left = format_duration(seconds)
        if status.get("refresh_possible"):
            return f"Access token: expires in {left}, renewed automatically.{note}"
        return f"Access token: expires in {left}; sign in again then.{note}"

    def _wait_text(self) -> str:
        if self._deadline is None:
            return ""
        left = int(max(0.0, self._deadline - time.monotonic()))
        return (
            '<i class="fa fa-hourglass-half" aria-hidden="true"></i> This cell waits for you to '
            f"sign in: <b>{left // 60}:{left % 60:02d}</b> left."
        )

    def _login_url(self) -> str:
        return str(self._status.get("login_url") or os.environ.get(ENV_LOGIN_URL, ""))

    def _on_sign_out(self, button: widgets.Button) -> None:
        button.disabled = True
        try:
            self.show(client.sign_out())
        except NevisAuthError as e:
            self.show(self._status, error=str(e))
        finally:
            button.disabled = False


def login() -> None:
    """Show the sign-in widget in the notebook."""
    display(LoginWidget())


def wait_for_login(error: LoginRequiredError, timeout: float) -> None:
    """Show the widget in the running cell and return once the user has signed in."""
    widget = LoginWidget()
    display(widget)
    if not widget.wait(timeout):
        raise LoginRequiredError(
            f"Nobody signed in within {timeout:g} seconds; run the cell again and click Sign in.",
            error.login_url,
        ) from error
