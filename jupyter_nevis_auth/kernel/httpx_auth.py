"""httpx support (httpx is optional): an auth that sends the current access token."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator

try:
    import anyio.to_thread
    import httpx
except ImportError as e:
    raise ImportError("HTTPXBearerAuth needs httpx; install it with `pip install httpx`.") from e

from .api import refreshed_after_rejection, routed, selection_for_url, token_for
from .challenges import demand_of, token_for_demand
from .client import cached_routes, cached_token
from .dpop_auth import auth_headers, wants_nonce
from .selection import ChosenToken, Selection
from .token import Token


class HTTPXBearerAuth(ChosenToken, httpx.Auth):
    """httpx auth: the current access token on each request; on a 401, one refresh and retry;
    on an API's step-up or insufficient_scope challenge, the sign-in it asks for and one retry.
    A DPoP-bound token goes as `Authorization: DPoP` with a new proof for every request, and
    an API's use_dpop_nonce answer is retried once with its nonce.

    Use as `httpx.get(url, auth=HTTPXBearerAuth())` or `httpx.AsyncClient(auth=...)`; the
    token is chosen as BearerAuth chooses it: by the request's URL, or by the keywords.
    """

    # The body is buffered so that the retry can send it again.
    requires_request_body = True

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Send the request with the token; once more with a new one after a 401."""
        selection = self.selection or selection_for_url(str(request.url))
        token = token_for(selection, self.min_ttl)
        _authorize(request, token)
        response = yield request
        if wants_nonce(token, str(request.url), response.status_code, response.headers):
            _authorize(request, token)
            response = yield request
        demand = demand_of(response.status_code, response.headers.get_list("WWW-Authenticate"))
        if demand is not None:
            token = token_for_demand(selection, demand, self.min_ttl, str(request.url))
        elif response.status_code == 401:
            token = refreshed_after_rejection(token, self.min_ttl, selection)
        else:
            return
        _authorize(request, token)
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """As sync_auth_flow; a call to the server runs in a worker thread."""
        selection = await self._selection(str(request.url))
        token = cached_token(self.min_ttl, selection)
        if token is None:
            token = await anyio.to_thread.run_sync(token_for, selection, self.min_ttl)
        _authorize(request, token)
        response = yield request
        if wants_nonce(token, str(request.url), response.status_code, response.headers):
            _authorize(request, token)
            response = yield request
        demand = demand_of(response.status_code, response.headers.get_list("WWW-Authenticate"))
        if demand is not None:
            url = str(request.url)
            token = await anyio.to_thread.run_sync(
                token_for_demand, selection, demand, self.min_ttl, url
            )
        elif response.status_code == 401:
            token = await anyio.to_thread.run_sync(
                refreshed_after_rejection, token, self.min_ttl, selection
            )
        else:
            return
        _authorize(request, token)
        yield request

    async def _selection(self, url: str) -> Selection:
        if self.selection is not None:
            return self.selection
        routes = cached_routes()
        if routes is not None:
            return routed(url, routes)
        return await anyio.to_thread.run_sync(selection_for_url, url)


def _authorize(request: httpx.Request, token: Token) -> None:
    """Put `token` (and for a DPoP-bound one, a new proof) on `request`."""
    # A bearer token after a DPoP-bound one must not carry the old token's proof.
    request.headers.pop("DPoP", None)
    request.headers.update(auth_headers(token, request.method, str(request.url)))
