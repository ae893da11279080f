"""URL helpers: safe next-URLs, provider URL checks, query-free URLs for logs (stdlib only)."""

from __future__ import annotations

import ipaddress
from urllib.parse import quote, unquote, urlencode, urlparse, urlsplit, urlunparse

#: The extension's paths below the server's base URL.
LOGIN_PATH = "nevis/login"
CALLBACK_PATH = "nevis/callback"
DONE_PATH = "nevis/done"
LOGOUT_PATH = "nevis/logout"
STATUS_PATH = "nevis/api/status"
#: Where the sign-in cookies live: every page that reads them is below it.
COOKIE_PATH = "nevis/"


def join(base_url: str, path: str) -> str:
    """`path` below `base_url`, which ends with a slash."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def with_query(url: str, params: dict[str, str]) -> str:
    """`url` with `params` added to its query (which it may already have)."""
    if not params:
        return url
    separator = "&" if urlparse(url).query else "?"
    return url + separator + urlencode(params, quote_via=quote)


def login_url(base_url: str, next_url: str | None = None) -> str:
    """Where a person starts a sign-in, coming back to `next_url` afterwards."""
    return with_query(join(base_url, LOGIN_PATH), {"next": next_url} if next_url else {})


def strip_query(url: str) -> str:
    """The URL without query string and fragment, safe to log."""
    return urlunparse(urlparse(url)._replace(query="", fragment=""))


def safe_next(next_url: str | None, base_url: str) -> str:
    """`next_url` when it is a path on this server, else `base_url` (no open redirect)."""
    # Control characters cannot go into the Location header (tornado raises on them).
    if not next_url or any(c == "\\" or c < " " or c == "\x7f" for c in next_url):
        return base_url
    try:
        # urlsplit, not urlparse: urlparse moves ";..." out of the path, out of the checks below.
        parsed = urlsplit(next_url)
    except ValueError:  # e.g. "//" and a fullwidth slash: a netloc invalid after NFKC
        return base_url
    if parsed.scheme or parsed.netloc or next_url.startswith("//"):
        return base_url
    # Browsers resolve %2e%2e as "..": check the path as they will see it.
    path = unquote(parsed.path)
    if not (parsed.path + "/").startswith(base_url) or "/../" in path + "/" or "/./" in path:
        return base_url
    return next_url


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine (localhost or a loopback address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(value: str, option: str) -> str | None:
    """A sentence saying why `value` is not a usable provider URL, or None."""
    try:
        parsed = urlparse(value)
        parsed.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        return f"{option} is not a valid URL: {value!r}."
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        return f"{option} must be an https:// URL, not {value!r}."
    if parsed.scheme == "http" and not is_loopback(parsed.hostname):
        return f"{option} must use https:// (plain http is only allowed on loopback addresses)."
    if parsed.query or parsed.fragment:
        return f"{option} must not contain a query string or fragment."
    return None


def is_endpoint(url: str) -> bool:
    """Whether `url` is an https URL (http only on loopback), as every endpoint must be."""
    try:
        parsed = urlsplit(url)
        parsed.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        return False
    # An authorization endpoint may carry a query of its own (OIDC Discovery 3).
    return check_url(parsed._replace(query="").geturl(), "endpoint") is None
