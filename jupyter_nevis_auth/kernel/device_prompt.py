"""A waiting cell's device sign-in (RFC 8628): the code, where to enter it, and a countdown.

The server asks the provider for the code and polls for the tokens; the kernel shows what
the person needs and waits for the server to say the sign-in is done.
"""

from __future__ import annotations

import html
import io
import time
from collections.abc import Callable

from ..errors import LoginRequiredError
from ..protocol import DeviceAnswer
from . import client
from .countdown import countdown, timed_out
from .monitor import monitor
from .selection import from_params
from .signin_client import cancel_device, device_progress, ready, signed_in_as, start_device
from .status_html import sign_in_label


def qr_code(uri: str) -> tuple[str, str] | None:
    """The QR code of `uri` as inline SVG and as terminal text; None without segno installed."""
    try:
        import segno
    except ImportError:
        return None
    code = segno.make(uri, error="m")
    text = io.StringIO()
    code.terminal(out=text, compact=True, border=2)
    return code.svg_inline(scale=4, border=2, light="#fff"), text.getvalue()


def bundle(answer: DeviceAnswer, label: str) -> dict[str, str]:
    """What the cell shows: HTML for notebooks, text for consoles."""
    uri, code = answer["verification_uri"], answer["user_code"]
    complete = answer.get("verification_uri_complete")
    qr = qr_code(complete or uri)
    text = f"{label} on any device: open {uri} and enter the code {code}"
    page = (
        f'<p>{html.escape(label)} on any device: open <a href="{html.escape(uri)}" '
        f'target="_blank" rel="noopener noreferrer">{html.escape(uri)}</a> and enter the code</p>'
        f'<p style="font:bold 1.6em monospace;letter-spacing:.1em">{html.escape(code)}</p>'
    )
    if complete:
        text += f",\nor open {complete}"
        page += (
            f'<p>or open <a href="{html.escape(complete)}" target="_blank" '
            f'rel="noopener noreferrer">this link</a>, which carries the code'
            + (", or scan the code below." if qr else ".")
            + "</p>"
        )
    if qr:
        page += f'<div class="nevis-device-qr">{qr[0]}</div>'
        text += f" (or scan it):\n{qr[1]}"
    return {"text/plain": text + ("" if qr else "."), "text/html": page}


def show(data: dict[str, str]) -> None:
    """Display `data` in the running cell (printed outside IPython)."""
    try:
        from IPython.display import display
    except ImportError:
        print(data["text/plain"])
        return
    display(data, raw=True)


def wait_with_device(error: LoginRequiredError, timeout: float) -> None:
    """Sign in with a device code; return once the token `error` lacked is there."""
    token_client = client.default_client()
    selection = from_params(error.request)
    answer = start_device(token_client, selection)
    show(bundle(answer, sign_in_label(error)))
    sign_in_id = answer["id"]
    failure: list[str] = []

    def done() -> bool:
        progress = device_progress(token_client, sign_in_id)
        if progress.get("status") == "failed":
            failure.append(str(progress.get("message") or "The device sign-in failed."))
            return True
        return progress.get("status") == "done" and ready(token_client, selection)

    code_ttl = float(answer.get("expires_in") or timeout)
    try:
        with monitor.cell_waits():
            signed_in = countdown(done, min(timeout, code_ttl))
            if not signed_in and not failure and code_ttl <= timeout:
                # The server asks the provider once more after the code's lifetime: its
                # answer (expired_token, or a sign-in in the last second) decides.
                signed_in = settle(done, float(answer.get("interval") or 5) + 2)
    finally:
        cancel_device(token_client, sign_in_id)
    if failure:
        raise LoginRequiredError(
            failure[0],
            error.login_url,
            api=error.api,
            provider=error.provider,
            scopes=error.scopes,
            request=error.request,
        ) from error
    if not signed_in:
        raise timed_out(error, min(timeout, code_ttl), "a new code") from error
    print(f"Signed in as {signed_in_as(token_client, selection)}.")


def settle(done: Callable[[], bool], seconds: float) -> bool:
    """Whether `done()` comes true within `seconds`, asked twice a second, without output."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if done():
            return True
        time.sleep(0.5)
    return False
