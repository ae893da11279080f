"""The sign-in widget: who is signed in where, for how long, which APIs have tokens; sign in, out.

Its state holds display text only (names, scopes, times), never a token, so a
saved notebook never contains one.
"""

from __future__ import annotations

import html
import os
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from IPython.display import display

from ..errors import LoginRequiredError, NevisAuthError
from ..protocol import ENV_LOGIN_URL, Status
from . import client, text_wait
from .detect import remote_frontend
from .monitor import monitor, poll
from .selection import from_params
from .signin_client import SignInWait, drop_link, sign_in_link
from .status_html import (
    OFF,
    ON,
    WARN,
    apis,
    lifetime,
    on_this_server,
    other_providers,
    plain_sign_in,
    sign_in_button,
    sign_in_label,
    user_name,
    wait_text,
)

# Their old home: notebooks and tests import them from here.
from .status_html import format_duration as format_duration
from .status_html import sign_in_href as sign_in_href

#: Seconds between two status requests while LoginWidget.wait() waits for a sign-in.
WAIT_POLL = 1.0


class LoginWidget(widgets.VBox):
    """Shows every sign-in and API token and how long it lasts, with sign-in and sign-out."""

    def __init__(self, **kwargs: Any) -> None:
        self.status_line = widgets.HTML()
        self.lifetime = widgets.HTML()
        self.scopes = widgets.HTML()
        self.warning_lines = widgets.HTML()
        self.provider_lines = widgets.HTML()
        self.api_lines = widgets.HTML()
        self.wait_line = widgets.HTML(layout=widgets.Layout(display="none"))
        self.sign_in_link = widgets.HTML()
        self.sign_out_button = widgets.Button(
            description="Sign out",
            icon="sign-out",
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
            self.provider_lines,
            self.api_lines,
            self.wait_line,
            self._controls,
        ]
        self.add_class("nevis-login")
        self._lock = threading.RLock()
        self._status: Status = {}
        self._error: str | None = None
        self._deadline: float | None = None
        #: While a cell waits: what it waits for, naming the sign-in it needs.
        self._waiting: LoginRequiredError | None = None
        self._link: str | None = None
        self._link_note: str | None = None  # where the link works: not in any browser
        #: The cell runs in VS Code: its sign-in is the link, relative ones lead nowhere.
        self._remote = remote_frontend()
        self.show(*poll())
        monitor.add(self)

    @property
    def signed_in(self) -> bool:
        """Whether the last status seen says the user is signed in (at the default provider)."""
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
        who = f"signed in as {user_name(self._status)}" if self.signed_in else "signed out"
        where = self._plain_sign_in()
        return f"LoginWidget: {who}" + (f". {where}" if where else "")

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        """The widget; and its whole text for a frontend that shows no widgets, sign-in link
        included (ipywidgets cuts the text at 110 characters)."""
        data: dict[str, Any] | None = super()._repr_mimebundle_(**kwargs)
        if data is not None:
            data["text/plain"] = repr(self)
        return data

    def _plain_sign_in(self) -> str:
        """Where to sign in, as text: a waiting cell's one-time link first."""
        login_url = "" if self.signed_in else self._login_url()
        return plain_sign_in(self._waiting, self._link, login_url, self._link_note)

    def wait(self, timeout: float) -> bool:
        """Block until the user has signed in (True) or `timeout` seconds have passed (False)."""
        return self._wait_until(lambda: bool(self.update_status().get("logged_in")), timeout)

    def expect(self, error: LoginRequiredError) -> None:
        """Show the sign-in a cell needs (`error`), with a one-time link for any browser."""
        try:
            link = sign_in_link(client.default_client(), from_params(error.request))
        except NevisAuthError:
            link = None  # the server's own sign-in page still works
        with self._lock:
            self._waiting, self._link = error, link["url"] if link else None
            self._link_note = link.get("note") if link else None
            self._remote = remote_frontend()
            self._render()

    def wait_for(self, error: LoginRequiredError, timeout: float) -> bool:
        """Block until the token `error` found missing can be had (True), or `timeout` passed."""
        if self._waiting is not error:
            self.expect(error)
        token_client = client.default_client()
        try:
            with SignInWait(token_client, from_params(error.request), timeout) as wait:
                return self._wait_until(wait.ready, timeout, pause=wait.pause)
        finally:
            with self._lock:
                link, self._waiting, self._link = self._link, None, None
                self._link_note = None
            if link:
                # The link, and a sign-in started from it, end with this wait.
                drop_link(token_client, link)
            self.show(*poll())

    def _wait_until(
        self,
        ready: Callable[[], bool],
        timeout: float,
        *,
        pause: Callable[[float], object] = time.sleep,
    ) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            self._deadline = deadline
            self._render()
        try:
            with monitor.cell_waits():
                while not ready():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    pause(min(WAIT_POLL, left))
                return True
        finally:
            with self._lock:
                self._deadline = None
                self._render()

    def _render(self) -> None:
        status, signed_in, error = self._status, self.signed_in, self._error
        if error:
            self.status_line.value = WARN + html.escape(error)
        elif signed_in:
            self.status_line.value = f"{ON}Signed in as <b>{html.escape(user_name(status))}</b>"
        else:
            reason = status.get("signed_out_reason")
            self.status_line.value = (
                OFF + "Signed out" + (f" &mdash; {html.escape(reason)}" if reason else "")
            )
        self.lifetime.value = lifetime(status) if signed_in else ""
        scopes = " ".join(status.get("scopes") or ())
        self.scopes.value = f"Scopes: <code>{html.escape(scopes)}</code>" if signed_in else ""
        # Older servers send no warnings.
        notes = (status.get("warnings") or []) if signed_in else []
        self.warning_lines.value = "<br>".join(WARN + html.escape(note) for note in notes)
        # Older servers send neither providers nor APIs.
        self.provider_lines.value = other_providers(status, self._remote)
        self.api_lines.value = apis(status, self._remote)
        self.wait_line.value = wait_text(self._deadline, self._link, self._remote, self._link_note)
        waiting = self._waiting
        if waiting is not None:
            # In VS Code the link (absolute); on this server's page, its own sign-in, which
            # the browser reaches at the address it already uses.
            login_url = (self._remote and (self._link or waiting.login_url)) or on_this_server(
                waiting.login_url or self._login_url()
            )
            self.sign_in_link.value = sign_in_button(login_url, sign_in_label(waiting))
        elif not signed_in and not error:
            self.sign_in_link.value = sign_in_button(self._login_url())
        else:
            self.sign_in_link.value = ""
        providers = (status.get("providers") or {}).values()
        anywhere = signed_in or any(provider.get("logged_in") for provider in providers)
        for part, shown in (
            (self.lifetime, signed_in),
            (self.scopes, signed_in),
            (self.warning_lines, bool(self.warning_lines.value)),
            (self.provider_lines, bool(self.provider_lines.value)),
            (self.api_lines, bool(self.api_lines.value)),
            (self.wait_line, self._deadline is not None),
            (self.sign_in_link, bool(self.sign_in_link.value)),
            (self.sign_out_button, anywhere),
        ):
            part.layout.display = "" if shown else "none"

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


def login(
    method: str | None = None, *, api: str | None = None, provider: str | None = None
) -> None:
    """Show the sign-in widget; or sign in with a one-time link or a device code and wait.

    `method` "link" or "device" chooses those (for the sign-in of `api` or `provider`); a
    frontend that shows text only (jupyter console) gets the link without asking.
    """
    if text_wait.sign_in_without_widget(method, api, provider):
        return
    if method is None and remote_frontend():
        # VS Code: the widget's sign-in is a one-time link, which lives while the cell waits.
        error = text_wait.needed_sign_in(api, provider)
        if error is not None:
            wait_for_login(error, client.login_timeout())
            return
    display(LoginWidget())


def wait_for_login(error: LoginRequiredError, timeout: float) -> None:
    """Show the widget in the running cell; return once the token `error` lacked is there."""
    widget = LoginWidget()
    # Before it is shown: its text for frontends without widgets carries the link.
    widget.expect(error)
    shown = display(widget, display_id=True)
    signed_in = widget.wait_for(error, timeout)
    shown.update(widget)  # the output a notebook keeps: without the link, dead since the wait
    if not signed_in:
        raise LoginRequiredError(
            f"Nobody signed in within {timeout:g} seconds; run the cell again and click "
            f"{sign_in_label(error)}.",
            error.login_url,
            api=error.api,
            provider=error.provider,
            scopes=error.scopes,
            request=error.request,
        ) from error
