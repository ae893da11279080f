"""requests support: an auth that sends the current access token, and a session using it."""

from __future__ import annotations

from typing import Any

import requests
from requests.exceptions import UnrewindableBodyError
from requests.utils import rewind_body

from ..protocol import DEFAULT_MIN_TTL
from .api import get_access_token, refreshed_after_rejection


class BearerAuth(requests.auth.AuthBase):
    """requests auth: the current access token on each request; on a 401, one refresh and retry.

    Use as `requests.get(url, auth=BearerAuth())`.
    """

    def __init__(self, min_ttl: float = DEFAULT_MIN_TTL) -> None:
        """Send tokens with at least `min_ttl` seconds left."""
        self.min_ttl = min_ttl

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Set the Authorization header, and arm the retry on 401."""
        request.headers["Authorization"] = f"Bearer {get_access_token(self.min_ttl)}"
        request.register_hook("response", self._retry_on_401)
        return request

    def _retry_on_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        request = response.request
        sent = str(request.headers.get("Authorization", ""))
        # No header: requests dropped it on a redirect to another host, which gets no token.
        if response.status_code != 401 or not sent.startswith("Bearer "):
            return response
        retry = request.copy()
        if retry.body is not None and not isinstance(retry.body, (bytes, str)):
            try:
                rewind_body(retry)
            except UnrewindableBodyError:
                return response
        token = refreshed_after_rejection(sent.removeprefix("Bearer "), self.min_ttl)
        # Read and release the refused response so its connection can carry the retry.
        _ = response.content
        response.close()
        retry.deregister_hook("response", self._retry_on_401)
        retry.headers["Authorization"] = f"Bearer {token}"
        again: requests.Response = response.connection.send(retry, **kwargs)  # type: ignore[attr-defined]
        again.history.append(response)
        again.request = retry
        return again


def session(min_ttl: float = DEFAULT_MIN_TTL) -> requests.Session:
    """A requests.Session that sends the current access token (see BearerAuth)."""
    http = requests.Session()
    http.auth = BearerAuth(min_ttl)
    return http
