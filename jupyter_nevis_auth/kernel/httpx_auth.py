"""httpx support (httpx is optional): an auth that sends the current access token."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator

try:
    import anyio.to_thread
    import httpx
except ImportError as e:
    raise ImportError("HTTPXBearerAuth needs httpx; install it with `pip install httpx`.") from e

from ..protocol import DEFAULT_MIN_TTL
from .api import get_access_token, refreshed_after_rejection
from .client import cached_token


class HTTPXBearerAuth(httpx.Auth):
    """httpx auth: the current access token on each request; on a 401, one refresh and retry.

    Use as `httpx.get(url, auth=HTTPXBearerAuth())` or `httpx.AsyncClient(auth=...)`.
    """

    # The body is buffered so that the retry can send it again.
    requires_request_body = True

    def __init__(self, min_ttl: float = DEFAULT_MIN_TTL) -> None:
        """Send tokens with at least `min_ttl` seconds left."""
        self.min_ttl = min_ttl

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Send the request with the token; once more with a new one after a 401."""
        token = get_access_token(self.min_ttl)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            token = refreshed_after_rejection(token, self.min_ttl)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """As sync_auth_flow; a call to the server runs in a worker thread."""
        token = cached_token(self.min_ttl)
        if token is None:
            token = await anyio.to_thread.run_sync(get_access_token, self.min_ttl)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            token = await anyio.to_thread.run_sync(refreshed_after_rejection, token, self.min_ttl)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request
