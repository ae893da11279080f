"""What notebooks call for tokens; a cell a person runs waits for their sign-in if need be."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable
from typing import Any

from ..errors import LoginRequiredError, NoAPIForURLError
from ..protocol import DEFAULT_MIN_TTL
from . import client, frontend
from .answers import TokenReply
from .routing import Routes, without_query
from .selection import DEFAULT, Selection, for_api, select
from .token import Token

#: Seconds a token may have fewer than min_ttl left without a warning: it was answered with
#: min_ttl left, a moment ago.
MIN_TTL_SLACK = 2.0
MIN_TTL_NOT_KEPT = (
    "get_access_token(min_ttl={min_ttl:g}) answered a token with {left:.0f} s left: a "
    "min_ttl above 90% of the provider's token lifetime is not kept (nearly every request "
    "would need a refresh; such a token is renewed at half its lifetime), and a token the "
    "provider could not renew just now is handed out while it is valid. Ask for less, or "
    "let BearerAuth() or session() renew the token as you go."
)


def answer_or_wait(
    min_ttl: float, selection: Selection = DEFAULT, *, rejected: str | None = None
) -> TokenReply:
    """The server's answer; when signed out, first the wait for a sign-in if a person can do one."""
    token_client = client.default_client()
    try:
        return token_client.cached_or_fetched(min_ttl, selection, rejected=rejected)
    except LoginRequiredError as error:
        if not frontend.has_interactive_frontend():
            raise
        frontend.wait_for_login(error, client.login_timeout())
    return token_client.cached_or_fetched(min_ttl, selection)


def get_access_token(
    min_ttl: float = DEFAULT_MIN_TTL,
    *,
    api: str | None = None,
    scopes: str | Iterable[str] | None = None,
    resource: str | None = None,
    audience: str | None = None,
    provider: str | None = None,
) -> Token:
    """An access token with at least `min_ttl` seconds left: the API's, ad hoc, or the default.

    `api` names an API of NevisAuth.apis; `scopes`, `resource` and `audience` ask for a token
    of the default provider (or of `provider`) for just those; none of them: the token of
    the default sign-in.
    """
    selection = select(api, scopes, resource, audience, provider) or DEFAULT
    token = token_for(selection, min_ttl)
    if token.expires_at is not None:
        left = token.expires_at - time.time()
        if left < min_ttl - MIN_TTL_SLACK:
            warnings.warn(MIN_TTL_NOT_KEPT.format(min_ttl=min_ttl, left=left), stacklevel=2)
    return token


def token_for(selection: Selection, min_ttl: float) -> Token:
    """The access token of `selection` with `min_ttl` seconds left; no request if one is cached."""
    return (
        client.cached_token(min_ttl, selection) or answer_or_wait(min_ttl, selection).access_token
    )


def get_id_token(provider: str | None = None) -> Token | None:
    """The ID token of the sign-in at `provider` (the default one), None when it issued none."""
    return answer_or_wait(0.0, select(provider=provider) or DEFAULT).id_token


def whoami(provider: str | None = None) -> dict[str, Any]:
    """The claims of the user's ID token at `provider` (the default one): sub, name, email..."""
    return dict(answer_or_wait(0.0, select(provider=provider) or DEFAULT).claims)


def refreshed_after_rejection(
    rejected: str, min_ttl: float, selection: Selection = DEFAULT
) -> Token:
    """A token to retry with after the resource server refused `rejected`."""
    return answer_or_wait(min_ttl, selection, rejected=rejected).access_token


def routed(url: str, routes: Routes) -> Selection:
    """The token for a request to `url`: its API's, or the default one if the server allows."""
    name = routes.api_for(url)
    if name is not None:
        return for_api(name)
    if not routes.configured or routes.default_for_unlisted_urls:
        return DEFAULT
    raise NoAPIForURLError(
        f"No API of this server serves {without_query(url)}, so no token was sent; pass "
        "api= to choose one, or add its prefix to the url of an API in NevisAuth.apis.",
        without_query(url),
    )


def selection_for_url(url: str) -> Selection:
    """The token for a request to `url`, by the server's APIs (asked for once)."""
    return routed(url, client.default_client().routes())
