"""requests support: an auth that sends the current access token, and a session using it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests
from requests.exceptions import UnrewindableBodyError
from requests.utils import rewind_body

from ..protocol import DEFAULT_MIN_TTL
from .api import refreshed_after_rejection, selection_for_url, token_for
from .challenges import demand_of, token_for_demand
from .selection import ChosenToken, Selection


class BearerAuth(ChosenToken, requests.auth.AuthBase):
    """requests auth: the current access token on each request; on a 401, one refresh and retry;
    on an API's step-up or insufficient_scope challenge, the sign-in it asks for and one retry.

    Use as `requests.get(url, auth=BearerAuth())`: each request gets the token of the API
    whose URL prefix it matches (see NevisAuth.apis). `api=` names the API instead;
    `scopes=`, `resource=`, `audience=` and `provider=` ask for a token ad hoc.
    """

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Set the Authorization header, and arm the retry on 401."""
        selection = self.selection or selection_for_url(str(request.url))
        request.headers["Authorization"] = f"Bearer {token_for(selection, self.min_ttl)}"
        request.register_hook("response", _RetryOn401(selection, self.min_ttl))
        return request


class _RetryOn401:
    """A response hook: after a 401, one new token of the same selection and one retry; after
    a step-up (401) or insufficient_scope (403) challenge, the token it asks for."""

    def __init__(self, selection: Selection, min_ttl: float) -> None:
        self.selection = selection
        self.min_ttl = min_ttl

    def __call__(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        request = response.request
        sent = str(request.headers.get("Authorization", ""))
        # No header: requests dropped it on a redirect to another host, which gets no token.
        if response.status_code not in (401, 403) or not sent.startswith("Bearer "):
            return response
        demand = demand_of(response.status_code, response.headers.get("WWW-Authenticate", ""))
        if demand is None and response.status_code != 401:
            return response
        retry = request.copy()
        if retry.body is not None and not isinstance(retry.body, (bytes, str)):
            try:
                rewind_body(retry)
            except UnrewindableBodyError:
                return response
        if demand is not None:
            token = token_for_demand(self.selection, demand, self.min_ttl, str(request.url))
        else:
            rejected = sent.removeprefix("Bearer ")
            token = refreshed_after_rejection(rejected, self.min_ttl, self.selection)
        # Read and release the refused response so its connection can carry the retry.
        _ = response.content
        response.close()
        retry.deregister_hook("response", self)
        retry.headers["Authorization"] = f"Bearer {token}"
        again: requests.Response = response.connection.send(retry, **kwargs)  # type: ignore[attr-defined]
        again.history.append(response)
        again.request = retry
        return again


def session(
    min_ttl: float = DEFAULT_MIN_TTL,
    *,
    api: str | None = None,
    scopes: str | Iterable[str] | None = None,
    resource: str | None = None,
    audience: str | None = None,
    provider: str | None = None,
) -> requests.Session:
    """A requests.Session that sends the current access token (see BearerAuth)."""
    http = requests.Session()
    http.auth = BearerAuth(
        min_ttl, api=api, scopes=scopes, resource=resource, audience=audience, provider=provider
    )
    return http
