"""The sign-in status as the widget shows it: HTML built from a Status, never from a token."""

from __future__ import annotations

import html
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..claims import display_name
from ..errors import LoginRequiredError
from ..protocol import DEFAULT_PROVIDER, ApiStatus, ProviderStatus, Status

_DOT = '<span style="color:{color};font-size:1.1em" aria-hidden="true">&#9679;</span> '
ON = _DOT.format(color="var(--jp-success-color1, #388e3c)")
OFF = _DOT.format(color="var(--jp-ui-font-color3, #8a8a8a)")
WARN = _DOT.format(color="var(--jp-warn-color1, #f57c00)")
# A link, not a Python callback: a cell that waits for the sign-in blocks the
# kernel, so a button click would only reach it after the wait. rel="opener" lets
# the nevis/done page close the window it opened.
_SIGN_IN_BUTTON = (
    '<a href="{href}" target="_blank" rel="opener" class="nevis-sign-in jupyter-widgets '
    'jupyter-button widget-button mod-primary" style="display:inline-flex;align-items:center;'
    'justify-content:center;text-decoration:none;width:auto;padding:0 8px"><i '
    'class="fa fa-sign-in" aria-hidden="true" style="margin-right:4px"></i>{label}</a>'
)
_SIGN_IN_LINK = '<a href="{href}" target="_blank" rel="opener" class="nevis-sign-in">{label}</a>'
# A link in the text, not a button: the widget's own Sign in is the button. Widget HTML
# carries no link colour of its own, so it is set here; rel="noopener" since the link may
# be opened anywhere.
_ONE_TIME_LINK = (
    '<a href="{href}" target="_blank" rel="noopener noreferrer" class="nevis-one-time-link" '
    'style="color:var(--jp-content-link-color,#1976d2);text-decoration:underline">{label}</a>'
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
    """The sign-in link: the server's login (for what it names), ending on its nevis/done page."""
    base, _, query = login_url.partition("?")
    if not base.endswith("nevis/login"):
        return login_url
    done = base[: -len("login")] + "done"
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "next"]
    # The done page then speaks of the sign-in that ended there.
    named = [(k, v) for k, v in kept if k in ("provider", "api")][:1]
    done += f"?{urlencode(named)}" if named else ""
    return f"{base}?{urlencode([*kept, ('next', done)], safe='/')}"


def on_this_server(url: str) -> str:
    """`url` without its scheme and host: a page of this server, at the address in use."""
    parts = urlsplit(url)
    return urlunsplit(("", "", parts.path, parts.query, parts.fragment)) if parts.netloc else url


def one_time_link(url: str, label: str) -> str:
    """A one-time sign-in link in the text, looking like a link."""
    return _ONE_TIME_LINK.format(href=html.escape(url), label=html.escape(label))


def sign_in_button(login_url: str, label: str = "Sign in") -> str:
    """The primary sign-in control, for `login_url`."""
    return _SIGN_IN_BUTTON.format(
        href=html.escape(sign_in_href(login_url)), label=html.escape(label)
    )


def sign_in_label(error: LoginRequiredError) -> str:
    """What the sign-in a waiting cell needs is for: "Sign in for sales (sales.read)"."""
    scopes = " ".join(error.scopes)
    if error.api:
        return f"Sign in for {error.api}" + (f" ({scopes})" if scopes else "")
    if error.provider and error.provider != DEFAULT_PROVIDER:
        return f"Sign in to {error.provider}" + (f" ({scopes})" if scopes else "")
    # Ad hoc scopes of the default provider; its own sign-in is just "Sign in".
    return f"Sign in for {scopes}" if error.request and scopes else "Sign in"


def user_name(status: ProviderStatus | Status) -> str:
    """What to call the user signed in at a provider (the server's word first)."""
    return status.get("display_name") or display_name(status.get("claims") or {})


def lifetime(status: ProviderStatus | Status) -> str:
    """The access token's time left, and what happens then."""
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


def _time_left(expires_at: float | None) -> str:
    if expires_at is None:
        return "no expiry given"
    seconds = expires_at - time.time()
    return f"expires in {format_duration(seconds)}" if seconds > 0 else "expired"


def other_providers(status: Status, remote: bool = False) -> str:
    """A line for each provider but the default one: who is signed in, for how long; a
    `remote` frontend (VS Code) gets the call that makes a one-time link, not a link."""
    lines = []
    for name, provider in (status.get("providers") or {}).items():
        if name == DEFAULT_PROVIDER:
            continue
        label = f"<b>{html.escape(name)}</b>: "
        if provider.get("logged_in"):
            who = html.escape(user_name(provider))
            left = _time_left(provider.get("expires_at"))
            lines.append(f"{ON}{label}signed in as {who}, {left}")
            continue
        reason = provider.get("signed_out_reason")
        why = f" &mdash; {html.escape(reason)}" if reason else ""
        link = _link(provider.get("login_url"), "Sign in", remote and f"provider={name!r}")
        lines.append(f"{OFF}{label}signed out{why} {link}")
    return "<br>".join(lines)


def apis(status: Status, remote: bool = False) -> str:
    """A heading and a line for each API: its scopes, whether a token is ready, its time left
    (a `remote` frontend gets the call that makes a one-time link, as other_providers)."""
    found: dict[str, ApiStatus] = status.get("apis") or {}
    lines = []
    providers: dict[str, Any] = status.get("providers") or {DEFAULT_PROVIDER: status}
    for name, api in found.items():
        scopes = html.escape(" ".join(api.get("scopes") or ()))
        label = f"<b>{html.escape(name)}</b>" + (f" <code>{scopes}</code>" if scopes else "")
        if api.get("ready"):
            lines.append(f"{ON}{label}: token ready, {_time_left(api.get('expires_at'))}")
            continue
        provider = providers.get(api.get("provider") or DEFAULT_PROVIDER) or {}
        if provider.get("logged_in"):
            lines.append(f"{OFF}{label}: no token yet; one is fetched when a cell needs it")
        else:
            link = _link(api.get("login_url"), "Sign in", remote and f"api={name!r}")
            lines.append(f"{OFF}{label}: no token yet, not signed in {link}")
    return "APIs:<br>" + "<br>".join(lines) if lines else ""


def _link(login_url: str | None, label: str, call: str | bool = False) -> str:
    """A link to the server's sign-in; with `call` (a remote frontend, where a link to this
    server's pages leads nowhere), the login() call that gives a one-time link instead."""
    if call:
        return f"&mdash; <code>jupyter_nevis_auth.login({html.escape(str(call))})</code>"
    if not login_url:
        return ""
    return _SIGN_IN_LINK.format(href=html.escape(sign_in_href(login_url)), label=label)


def plain_link(label: str, link: str, note: str | None) -> str:
    """A one-time `link` as text: for any browser, or as the server's `note` says (a link
    from a server that does not know its public address works only on its machine)."""
    if note:
        return f"{label} with this one-time link: {link}\n{note}"
    return f"{label} with this one-time link, in any browser: {link}"


def plain_sign_in(
    waiting: LoginRequiredError | None, link: str | None, login_url: str, note: str | None = None
) -> str:
    """Where to sign in, as text: a waiting cell's one-time `link` first, else `login_url`."""
    if waiting is not None and link:
        return plain_link(sign_in_label(waiting), link, note)
    if waiting is not None and waiting.login_url:
        return f"{sign_in_label(waiting)} at {waiting.login_url}"
    return f"Sign in at {login_url}" if login_url else ""


def wait_text(
    deadline: float | None, link: str | None, remote: bool, note: str | None = None
) -> str:
    """The waiting cell's countdown to `deadline` (time.monotonic()), and what its link is:
    for any browser, or as the server's `note` says."""
    if deadline is None:
        return ""
    left = int(max(0.0, deadline - time.monotonic()))
    text = (
        '<i class="fa fa-hourglass-half" aria-hidden="true"></i> This cell waits for you to '
        f"sign in: <b>{left // 60}:{left % 60:02d}</b> left."
    )
    where = html.escape(note) if note else "It works once, in any browser."
    if link and remote:
        text += f"<br>The sign-in button is a one-time link. {where}"
    elif link:
        # For a frontend that is not a browser signed in to this server (VS Code...).
        text += (
            "<br>Jupyter not open in your browser? Use this "
            f"{one_time_link(link, 'one-time sign-in link')}. {where}"
        )
    return text
