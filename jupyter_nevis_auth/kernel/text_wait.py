"""Signing in without the widget: a one-time link and a countdown as text, or a device code."""

from __future__ import annotations

from ..claims import display_name
from ..errors import LoginRequiredError
from . import client
from .countdown import countdown, timed_out
from .detect import DEVICE, TEXT, WIDGET, chosen_method, frontend_kind, method_asked
from .monitor import monitor
from .selection import DEFAULT, from_params, select
from .signin_client import SignInWait, drop_link, sign_in_link, signed_in_as
from .status_html import plain_link, sign_in_label


def wait_with_link(error: LoginRequiredError, timeout: float, *, asked: bool = False) -> None:
    """Print a one-time sign-in link for any browser; return once the token `error` lacked is there.

    A server that does not know its public address and offers device sign-ins gets one of
    those instead, unless the link was `asked` for: its link would work only on its own
    machine (the cell then says so).
    """
    token_client = client.default_client()
    selection = from_params(error.request)
    link = sign_in_link(token_client, selection)
    label = sign_in_label(error)
    if link is None:
        # No links from this server (under a JupyterHub service): its own page, as before.
        print(f"{label} at {error.login_url} (in a browser signed in to Jupyter).")
    elif not link.get("public", True) and link.get("device_flow") and not asked:
        from . import device_prompt as device_flow

        drop_link(token_client, link["url"])
        device_flow.wait_with_device(error, timeout)
        return
    else:
        print(plain_link(label, link["url"], link.get("note")))
        timeout = min(timeout, float(link.get("expires_in") or timeout))
    try:
        with monitor.cell_waits(), SignInWait(token_client, selection, timeout) as wait:
            signed_in = countdown(wait.ready, timeout, pause=wait.pause)
    finally:
        if link is not None:
            # The link, and a sign-in started from it, end with this wait.
            drop_link(token_client, link["url"])
    if not signed_in:
        raise timed_out(error, timeout, "a new link") from error
    print(f"Signed in as {signed_in_as(token_client, selection)}.")


def needed_sign_in(api: str | None, provider: str | None) -> LoginRequiredError | None:
    """What is missing for the token of `api` or `provider`; None when it can be had now."""
    selection = select(api=api, provider=provider) or DEFAULT
    try:
        client.default_client().cached_or_fetched(0.0, selection)
    except LoginRequiredError as error:
        return error
    return None


def sign_in_without_widget(method: str | None, api: str | None, provider: str | None) -> bool:
    """For login(): sign in with a link or a device code when asked or when only text shows.

    Returns False when the widget is the way (the caller shows it), True once signed in.
    """
    if method is None and frontend_kind() != TEXT:
        return False
    asked = method_asked(method)
    method = chosen_method(method)
    if method == WIDGET:
        return False
    selection = select(api=api, provider=provider) or DEFAULT
    token_client = client.default_client()
    try:
        answer = token_client.cached_or_fetched(0.0, selection)
    except LoginRequiredError as error:
        if method == DEVICE:
            from . import device_prompt as device_flow

            device_flow.wait_with_device(error, client.login_timeout())
        else:
            wait_with_link(error, client.login_timeout(), asked=asked)
        return True
    print(f"Signed in as {display_name(answer.claims)}.")
    return True
