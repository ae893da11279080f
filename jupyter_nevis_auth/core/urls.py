"""URL helpers: safe next-URLs, provider URL checks, query-free URLs for logs (stdlib only)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlencode, urlparse, urlsplit, urlunparse

#: The browser's pages of both apps, below PagePaths.root.
LOGIN = "login"
CALLBACK = "callback"
DONE = "done"
LOGOUT = "logout"
LINK = "link"
LINK_DONE = "link/done"
#: Where the extension's pages are below the server's base URL (the hub service's are right
#: below its prefix).
PAGES_PATH = "nevis/"
#: The extension's paths below the server's base URL.
LOGIN_PATH = PAGES_PATH + LOGIN
CALLBACK_PATH = PAGES_PATH + CALLBACK
DONE_PATH = PAGES_PATH + DONE
LOGOUT_PATH = PAGES_PATH + LOGOUT
STATUS_PATH = "nevis/api/status"
#: Where the sign-in cookies live: every page that reads them is below it.
COOKIE_PATH = PAGES_PATH


def join(base_url: str, path: str) -> str:
    """`path` below `base_url`, which ends with a slash."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def with_query(url: str, params: dict[str, str]) -> str:
    """`url` with `params` added to its query (which it may already have)."""
    if not params:
        return url
    separator = "&" if urlparse(url).query else "?"
    return url + separator + urlencode(params, quote_via=quote)


@dataclass(frozen=True)
class PagePaths:
    """Where one app's pages are: the extension's below <base_url>nevis/, the hub service's
    below its prefix. Every URL of a page (sign-in links, the redirect URI) is made here."""

    #: The path every page is below, ending with a slash.
    root: str

    def url(self, page: str, params: Mapping[str, str] | None = None, origin: str = "") -> str:
        """The path of `page` (an absolute URL with `origin`), with `params` in its query."""
        return with_query(origin + self.root + page, dict(params or {}))

    def login(self, next_url: str | None = None) -> str:
        """Where a person starts a sign-in, coming back to `next_url` afterwards."""
        return self.url(LOGIN, {"next": next_url} if next_url else {})


def extension_pages(base_url: str) -> PagePaths:
    """Where the pages of the Jupyter server extension at `base_url` are."""
    return PagePaths(join(base_url, PAGES_PATH))


def login_url(base_url: str, next_url: str | None = None) -> str:
    """Where a person starts a sign-in at the server at `base_url`, coming back to `next_url`."""
    return extension_pages(base_url).login(next_url)


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
