"""The kernel's side of sign-ins at another browser or device: one-time links and device codes."""

from __future__ import annotations

from typing import cast

from ..errors import LoginRequiredError, NevisAuthError
from ..protocol import (
    DEVICE_ID_PARAM,
    DEVICE_PATH,
    LINK_PATH,
    LINK_TOKEN_PARAM,
    TOKEN_PATH,
    DeviceAnswer,
    DeviceProgress,
    LinkAnswer,
)
from .answers import checked
from .client import TokenClient
from .selection import Selection

_LINK_SUFFIX = LINK_PATH.removeprefix(TOKEN_PATH)
_DEVICE_SUFFIX = DEVICE_PATH.removeprefix(TOKEN_PATH)


def ready(client: TokenClient, selection: Selection) -> bool:
    """Whether the token of `selection` can be had now (the sign-in it waited for is done)."""
    try:
        client.cached_or_fetched(0.0, selection)
    except LoginRequiredError:
        return False
    return True


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
