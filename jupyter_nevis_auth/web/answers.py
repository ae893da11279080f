"""One builder per JSON answer of the kernel-facing APIs, for both apps.

The fields are the contract in protocol.py (and, for the hub's refresh_user, AuthStateAnswer
below): a field added to an answer is added here, once, and both apps send it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypedDict

from ..claims import public_claims
from ..core.apis import ApiSpec
from ..core.device_signin import DeviceSignIn
from ..core.tokens import TokenSet
from ..protocol import (
    LOGIN_REQUIRED,
    ApisAnswer,
    DeviceAnswer,
    DeviceProgress,
    ErrorAnswer,
    LinkAnswer,
    TokenAnswer,
    WaitAnswer,
)


class AuthStateAnswer(TypedDict):
    """The JSON of the hub service's api/auth_state: what the hub keeps in a user's auth_state."""

    access_token: str
    token_type: str
    expires_in: float | None
    refresh_token: str | None
    id_token: str | None
    scope: str


def api_name(api: ApiSpec | None) -> str | None:
    """The name of the API a token or sign-in is for; None for a provider's own or ad hoc."""
    return api.name if api and api.name else None


def token_answer(tokens: TokenSet, provider: str, api: ApiSpec | None) -> dict[str, Any]:
    """A kernel's token: the access token with its lifetime, never the refresh token."""
    answer: TokenAnswer = {
        "access_token": tokens.access_token,
        "token_type": tokens.token_type,
        "expires_at": tokens.expires_at,
        "expires_in": tokens.expires_in(),
        "scope": " ".join(tokens.scope),
        "id_token": tokens.id_token,
        "claims": public_claims(tokens.claims),
        "api": api_name(api),
        "provider": provider,
    }
    if tokens.dpop_jwk:
        # The kernel signs each request's proof itself (SECURITY.md, DPoP-bound tokens).
        answer["dpop_jwk"] = dict(tokens.dpop_jwk)
    return dict(answer)


def error_answer(error: str, message: str) -> dict[str, Any]:
    """A failed request: the error's code (protocol.py) and one sentence for a person."""
    answer: ErrorAnswer = {"error": error, "message": message}
    return dict(answer)


def login_required_answer(
    message: str, provider: str, api: ApiSpec | None, login_url: str, refusal: ErrorAnswer
) -> dict[str, Any]:
    """No sign-in for the token: what it is for, where to sign in, and a refusal since, if any."""
    answer: ErrorAnswer = {
        "error": LOGIN_REQUIRED,
        "message": message,
        "provider": provider,
        "api": api_name(api),
        "scopes": list(api.scopes) if api else [],
        "login_url": login_url,
        **refusal,
    }
    return dict(answer)


def apis_answer(apis: Iterable[ApiSpec], default_for_unlisted_urls: bool) -> dict[str, Any]:
    """The configured APIs (names, URL prefixes, scopes; never a secret) and the unlisted rule."""
    answer: ApisAnswer = {
        "apis": [spec.info() for spec in apis],
        "default_for_unlisted_urls": default_for_unlisted_urls,
    }
    return dict(answer)


def link_answer(url: str, ttl: float, note: str | None, device_flow: bool) -> dict[str, Any]:
    """A one-time sign-in link; without a note its URL is the one browsers use."""
    answer: LinkAnswer = {
        "url": url,
        "expires_in": ttl,
        "public": note is None,
        "note": note,
        "device_flow": device_flow,
    }
    return dict(answer)


def wait_answer(ready: bool, refusal: str | None = None) -> dict[str, Any]:
    """How a cell's wait ended: the token can be had, or not yet, or a sign-in was refused."""
    answer: WaitAnswer = {"ready": ready}
    if refusal is not None:
        answer["refusal"] = refusal
    return dict(answer)


def device_answer(sign_in: DeviceSignIn) -> dict[str, Any]:
    """What the person needs to sign in on another device; never the device code."""
    code = sign_in.code
    answer: DeviceAnswer = {
        "id": sign_in.id,
        "verification_uri": code.verification_uri,
        "verification_uri_complete": code.verification_uri_complete,
        "user_code": code.user_code,
        "expires_in": code.expires_in,
        "interval": code.interval,
    }
    return dict(answer)


def device_progress(sign_in: DeviceSignIn) -> dict[str, Any]:
    """How a device sign-in goes: pending, done, or failed and why."""
    answer: DeviceProgress = {"status": sign_in.status, "message": sign_in.message}
    return dict(answer)


def jwk_set_answer(keys: list[dict[str, Any]]) -> dict[str, Any]:
    """A JWK Set (RFC 7517 5): the public keys of the client's key files, for providers."""
    return {"keys": keys}


def auth_state_answer(tokens: TokenSet) -> dict[str, Any]:
    """The tokens the hub keeps in a user's auth_state, in the token endpoint's own names."""
    answer: AuthStateAnswer = {
        "access_token": tokens.access_token,
        "token_type": tokens.token_type,
        "expires_in": tokens.expires_in(),
        "refresh_token": tokens.refresh_token,
        "id_token": tokens.id_token,
        "scope": " ".join(tokens.scope),
    }
    return dict(answer)
