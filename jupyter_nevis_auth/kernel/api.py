"""What notebooks call for tokens; a cell a person runs waits for their sign-in if need be."""

from __future__ import annotations

from typing import Any

from ..errors import LoginRequiredError
from ..protocol import DEFAULT_MIN_TTL
from . import client, frontend
from .client import Answer
from .token import Token


def answer_or_wait(min_ttl: float, *, rejected: str | None = None) -> Answer:
    """The server's answer; when signed out, first the wait for a sign-in if a person can do one."""
    token_client = client.default_client()
    try:
        return token_client.cached_or_fetched(min_ttl, rejected=rejected)
    except LoginRequiredError as error:
        if not frontend.has_interactive_frontend():
            raise
        frontend.wait_for_login(error, client.login_timeout())
    return token_client.cached_or_fetched(min_ttl)


def get_access_token(min_ttl: float = DEFAULT_MIN_TTL) -> Token:
    """The user's access token, with at least `min_ttl` seconds left (refreshed when needed)."""
    return client.cached_token(min_ttl) or answer_or_wait(min_ttl).access_token


def get_id_token() -> Token | None:
    """The user's ID token, None when the provider issued none."""
    return answer_or_wait(0.0).id_token


def whoami() -> dict[str, Any]:
    """The claims of the signed-in user's ID token (sub, name, email...)."""
    return dict(answer_or_wait(0.0).claims)


def refreshed_after_rejection(rejected: str, min_ttl: float) -> Token:
    """A token to retry with after the resource server refused `rejected`."""
    return answer_or_wait(min_ttl, rejected=rejected).access_token
