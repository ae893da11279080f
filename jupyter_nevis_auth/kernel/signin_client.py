"""The kernel's side of sign-ins at another browser or device: one-time links, device codes,
and the wait for them."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import cast

from ..claims import display_name
from ..errors import LoginRequiredError, NevisAuthError
from ..protocol import (
    DEVICE_ID_PARAM,
    DEVICE_PATH,
    LINK_PATH,
    LINK_TOKEN_PARAM,
    MAX_WAIT,
    TOKEN_PATH,
    WAIT_PARAM,
    WAIT_PATH,
    WAIT_SINCE_PARAM,
    DeviceAnswer,
    DeviceProgress,
    LinkAnswer,
)
from .answers import checked
from .client import TokenClient
from .selection import Selection

_LINK_SUFFIX = LINK_PATH.removeprefix(TOKEN_PATH)
_DEVICE_SUFFIX = DEVICE_PATH.removeprefix(TOKEN_PATH)
_WAIT_SUFFIX = WAIT_PATH.removeprefix(TOKEN_PATH)
#: Seconds one wait request lasts at most (the server ends it by MAX_WAIT anyway).
LONG_WAIT = min(20.0, MAX_WAIT)
#: Seconds between two requests when the server answered without waiting (one from before
#: WAIT_PATH, say): never a request in a loop.
NO_WAIT_PAUSE = 1.0


def ready(client: TokenClient, selection: Selection) -> bool:
    """Whether the token of `selection` can be had now (the sign-in it waited for is done)."""
    try:
        client.cached_or_fetched(0.0, selection)
    except LoginRequiredError:
        return False
    return True


def signed_in_as(client: TokenClient, selection: Selection) -> str:
    """Who signed in for the token of `selection`, as a person reads it."""
    return display_name(client.cached_or_fetched(0.0, selection).claims)


def ready_within(
    client: TokenClient, selection: Selection, seconds: float, since: float | None = None
) -> bool:
    """Whether the token of `selection` can be had within `seconds`: one request that waits at
    the server until the sign-in lands.

    LoginRequiredError when a sign-in naming another person than the user's was refused since
    `since` (time.time()): no token comes for this wait.
    """
    params = {**selection.params(), WAIT_PARAM: f"{seconds:g}"}
    if since is not None:
        params[WAIT_SINCE_PARAM] = f"{since:.3f}"
    response = client.request("GET", _WAIT_SUFFIX, params, wait=seconds)
    if response.status_code in (404, 405):
        # A server from before waits were asked for: ask for the token itself.
        return ready(client, selection)
    answer = checked(response, client.url, client.login_url, selection)
    if answer.get("refusal"):
        raise LoginRequiredError(
            str(answer["refusal"]), client.login_url, request=selection.params()
        )
    # The token itself comes as it always does, and is kept for the cell that waits for it.
    return bool(answer.get("ready")) and ready(client, selection)


class SignInWait:
    """A cell's wait for the token of `selection`: asked at the server in a daemon thread, so the
    cell's own thread stays free to count down and to be interrupted."""

    def __init__(self, client: TokenClient, selection: Selection, timeout: float) -> None:
        self.client = client
        self.selection = selection
        self.deadline = time.monotonic() + timeout
        #: When the wait began: a sign-in of another person refused since then ends it.
        self.since = time.time()
        self._ended = threading.Event()
        self._stop = threading.Event()
        self._ready = False
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="nevis-sign-in-wait", daemon=True)

    def __enter__(self) -> SignInWait:
        self._thread.start()
        return self

    def __exit__(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A request under way ends at the server within LONG_WAIT; nobody reads its answer.
        self._stop.set()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                asked = time.monotonic()
                seconds = min(self.deadline - asked, LONG_WAIT)
                if seconds <= 0:
                    return
                if ready_within(self.client, self.selection, seconds, self.since):
                    self._ready = True
                    return
                if time.monotonic() - asked < seconds / 2:
                    self._stop.wait(NO_WAIT_PAUSE)
        except Exception as e:  # the cell's thread raises it
            self._error = e
        finally:
            self._ended.set()

    def pause(self, seconds: float) -> None:
        """Sleep `seconds`, or less if the wait ends first (an interrupt ends it too)."""
        self._ended.wait(seconds)

    def ready(self) -> bool:
        """Whether the token can be had now; raises what ended the wait if something failed."""
        if self._error is not None:
            raise self._error
        return self._ready


def sign_in_link(client: TokenClient, selection: Selection) -> LinkAnswer | None:
    """A one-time sign-in link for any browser; None from a server that gives none."""
    response = client.request("POST", _LINK_SUFFIX, selection.params())
    # Older servers, and servers whose sign-ins happen at a JupyterHub service.
    if response.status_code in (404, 405):
        return None
    return cast(LinkAnswer, checked(response, client.url, client.login_url))


def drop_link(client: TokenClient, url: str) -> None:
    """Make the link at `url` unusable; nothing waits for it any more (best effort)."""
    token = url.partition(LINK_TOKEN_PARAM + "=")[2].partition("&")[0]
    try:
        client.request("DELETE", _LINK_SUFFIX, {LINK_TOKEN_PARAM: token})
    except NevisAuthError:
        pass  # it expires by itself soon


def start_device(client: TokenClient, selection: Selection) -> DeviceAnswer:
    """Start a device sign-in at the server; what the person needs to finish it."""
    response = client.request("POST", _DEVICE_SUFFIX, selection.params())
    return cast(DeviceAnswer, checked(response, client.url, client.login_url))


def device_progress(client: TokenClient, sign_in_id: str) -> DeviceProgress:
    """How the device sign-in goes: pending, done, or failed with a sentence."""
    response = client.request("GET", _DEVICE_SUFFIX, {DEVICE_ID_PARAM: sign_in_id})
    return cast(DeviceProgress, checked(response, client.url, client.login_url))


def cancel_device(client: TokenClient, sign_in_id: str) -> None:
    """Tell the server to stop polling for a device sign-in (best effort)."""
    try:
        client.request("DELETE", _DEVICE_SUFFIX, {DEVICE_ID_PARAM: sign_in_id})
    except NevisAuthError:
        pass  # the server stops when the code expires
