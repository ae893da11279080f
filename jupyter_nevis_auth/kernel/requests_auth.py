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
from .dpop_auth import auth_headers, sent_token, wants_nonce
from .selection import ChosenToken, Selection
from .token import Token


class BearerAuth(ChosenToken, requests.auth.AuthBase):
    """requests auth: the current access token on each request; on a 401, one refresh and retry;
    on an API's step-up or insufficient_scope challenge, the sign-in it asks for and one retry.
    A DPoP-bound token goes as `Authorization: DPoP` with a new proof for every request, and
    an API's use_dpop_nonce answer is retried once with its nonce.

    Use as `requests.get(url, auth=BearerAuth())`: each request gets the token of the API
    whose URL prefix it matches (see NevisAuth.apis). `api=` names the API instead;
    `scopes=`, `resource=`, `audience=` and `provider=` ask for a token ad hoc.
    """

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Set the Authorization header (and a DPoP proof), and arm the retry on 401."""
        selection = self.selection or selection_for_url(str(request.url))
        token = token_for(selection, self.min_ttl)
        _authorize(request, token)
        request.register_hook("response", _RetryOn401(selection, self.min_ttl, token))
        return request


def _authorize(request: requests.PreparedRequest, token: Token) -> None:
    """Put `token` (and for a DPoP-bound one, a new proof) on `request`."""
    # A bearer token after a DPoP-bound one must not carry the old token's proof.
    request.headers.pop("DPoP", None)
    request.headers.update(auth_headers(token, str(request.method), str(request.url)))


class _RetryOn401:
    """A response hook: after a 401, one new token of the same selection and one retry; after
    a step-up (401) or insufficient_scope (403) challenge, the token it asks for; after a
    DPoP use_dpop_nonce challenge, the same token with a proof carrying the API's nonce."""

    def __init__(self, selection: Selection, min_ttl: float, token: Token) -> None:
        self.selection = selection
        self.min_ttl = min_ttl
        self.token = token
        self.nonce_sent = False

    def __call__(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        request = response.request
        # No header: requests dropped it on a redirect to another host, which gets no token.
        sent = sent_token(str(request.headers.get("Authorization", "")))
        if sent is None:
            return response
        url = str(request.url)
        asks_nonce = wants_nonce(self.token, url, response.status_code, response.headers)
        if asks_nonce and not self.nonce_sent:
            self.nonce_sent = True
            retry = _copy(request)
            if retry is None:
                return response
            _authorize(retry, self.token)
            # The answer to the nonce's retry may still be a challenge this hook takes.
            return self(_send(response, retry, kwargs), **kwargs)
        if response.status_code not in (401, 403) or asks_nonce:
            return response
        demand = demand_of(response.status_code, response.headers.get("WWW-Authenticate", ""))
        if demand is None and response.status_code != 401:
            return response
        retry = _copy(request)
        if retry is None:
            return response
        if demand is not None:
            token = token_for_demand(self.selection, demand, self.min_ttl, url)
        else:
            token = refreshed_after_rejection(sent, self.min_ttl, self.selection)
        retry.deregister_hook("response", self)
        _authorize(retry, token)
        return _send(response, retry, kwargs)


def _copy(request: requests.PreparedRequest) -> requests.PreparedRequest | None:
    """A copy of `request` to send again; None when its body cannot be sent twice."""
    retry = request.copy()
    if retry.body is not None and not isinstance(retry.body, (bytes, str)):
        try:
            rewind_body(retry)
        except UnrewindableBodyError:
            return None
    return retry


def _send(
    response: requests.Response, retry: requests.PreparedRequest, kwargs: dict[str, Any]
) -> requests.Response:
    """Send `retry` on `response`'s connection; the refused answer goes into its history."""
    # Read and release the refused response so its connection can carry the retry.
    _ = response.content
    response.close()
    again: requests.Response = response.connection.send(retry, **kwargs)  # type: ignore[attr-defined]
    again.history = [*response.history, response]
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
