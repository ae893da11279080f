"""Which configured API serves a URL: the longest URL prefix of the same origin, by path segment.

Origins compare exactly (scheme and host without regard to case, default ports filled in),
paths segment by segment after dot segments are resolved: `https://sales.example/api` covers
`https://sales.example/api/orders`, never `https://sales.example/apiX` or
`https://sales.example.evil.com/api`.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple
from urllib.parse import urlsplit

from ..protocol import ApisAnswer

_DEFAULT_PORTS = {"http": 80, "https": 443}


class Place(NamedTuple):
    """Where a URL points, in a form that compares exactly."""

    scheme: str
    host: str
    port: int
    segments: tuple[str, ...]


def place(url: str) -> Place | None:
    """The place `url` points to; None when it is not an absolute http(s) URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return Place(scheme, _host(host), port or _DEFAULT_PORTS[scheme], _segments(parts.path))


def _host(host: str) -> str:
    # urlsplit lowercases the host already; these are the other spellings of one host.
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def _segments(path: str) -> tuple[str, ...]:
    """The path's segments with `.` and `..` resolved (RFC 3986 5.2.4), as a server reads it."""
    segments: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if segments:
                segments.pop()
        elif segment != ".":
            segments.append(segment)
    # A trailing slash says nothing more: the prefix "/api/" is "/api", and covers "/api".
    if segments and not segments[-1]:
        segments.pop()
    return tuple(segments)


def covers(prefix: Place, target: Place) -> bool:
    """Whether the URL prefix `prefix` covers `target`: same origin, and its leading segments."""
    segments = prefix.segments
    return prefix[:3] == target[:3] and target.segments[: len(segments)] == segments


class Routes:
    """The URL prefixes of the configured APIs, most specific first."""

    def __init__(self, answer: ApisAnswer) -> None:
        """Index the `urls` of every API; a prefix that is no http(s) URL never matches."""
        #: Whether any API is configured, and whether a URL none claims gets the default token.
        self.configured = bool(answer["apis"])
        self.default_for_unlisted_urls = bool(answer["default_for_unlisted_urls"])
        found = [
            (parsed, api["name"])
            for api in answer["apis"]
            for prefix in api.get("urls") or ()
            if (parsed := place(prefix)) is not None
        ]
        # Stable: of two APIs claiming the same prefix, the one listed first wins.
        self._routes = sorted(found, key=lambda route: -len(route[0].segments))

    def api_for(self, url: str) -> str | None:
        """The name of the API whose prefix covers `url` most specifically; None when none does."""
        target = place(url)
        if target is None:
            return None
        return next((name for prefix, name in self._routes if covers(prefix, target)), None)


def without_query(url: str) -> str:
    """`url` without user info, query string or fragment, for a message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unreadable URL)"
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}" if parts.scheme else parts.path
