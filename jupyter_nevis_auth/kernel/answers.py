"""The server's answers, read: tokens into a TokenReply, refusals into the errors they stand for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from ..errors import (
    KernelSecretRejectedError,
    LoginRequiredError,
    TokenServiceError,
    TokenServiceTimeoutError,
)
from ..protocol import ErrorAnswer, TokenAnswer
from .selection import DEFAULT, Selection
from .token import Token


@dataclass(frozen=True)
class TokenReply:
    """One answer of the token endpoint, with the kernel's own clock readings."""

    access_token: Token
    id_token: Token | None
    claims: dict[str, Any] = field(repr=False)
    #: time.monotonic() at which the access token expires, None when unknown.
    deadline: float | None
    #: time.monotonic() at which the request for this answer was sent.
    asked_at: float


def token_answer(data: TokenAnswer, asked_at: float) -> TokenReply:
    """The Answer of a TokenAnswer to a request sent at `asked_at` (time.monotonic())."""
    expires_in = data.get("expires_in")
    id_token = data.get("id_token")
    claims = dict(data.get("claims") or {})
    access_token = Token(data["access_token"], "access token", data.get("expires_at"))
    dpop_jwk = data.get("dpop_jwk")
    if dpop_jwk:
        from ..dpop import DPoPKey  # cryptography: loaded only for DPoP-bound tokens

        access_token.dpop = DPoPKey.from_jwk(dpop_jwk)
    return TokenReply(
        access_token=access_token,
        id_token=Token(id_token, "ID token", claims.get("exp")) if id_token else None,
        claims=claims,
        deadline=None if expires_in is None else asked_at + float(expires_in),
        asked_at=asked_at,
    )


def checked(
    response: requests.Response, url: str, login_url: str, selection: Selection = DEFAULT
) -> dict[str, Any]:
    """The JSON of a 200 answer; any other answer raised as the error it stands for.

    `url` is the token endpoint's, `login_url` where to sign in when the server does not
    say, and `selection` the token asked for, if one was.
    """
    data = json_of(response)
    if response.status_code == 200:
        return data
    message = str(data.get("message") or "")
    if response.status_code == 401:
        raise login_required(data, login_url, selection)  # type: ignore[arg-type]
    if response.status_code == 403:
        # A server restarted since the kernel started has a new secret; one that still runs
        # code from before an upgrade reads the secret from another header.
        raise KernelSecretRejectedError(
            "The Jupyter server refused this kernel's secret (the server was probably "
            "restarted after the kernel started); restart the kernel, or the server if "
            "jupyter-nevis-auth was upgraded after the server started."
        )
    if response.status_code == 404:
        raise TokenServiceError(
            f"The Jupyter server has no token endpoint at {url}; check that the "
            "jupyter_nevis_auth server extension is enabled, then restart the kernel."
        )
    if response.status_code == 504:
        raise TokenServiceTimeoutError(
            message or "The sign-in provider did not answer in time; try again later."
        )
    raise TokenServiceError(
        message
        or f"The Jupyter server answered {response.status_code} to a token request; "
        "look at the server's log."
    )


def login_required(data: ErrorAnswer, login_url: str, selection: Selection) -> LoginRequiredError:
    """The error for a 401: what to sign in for, and where (the server's word first)."""
    login_url = data.get("login_url") or login_url
    # Older servers name neither; the request still says what it asked for.
    api = data.get("api") or selection.api
    scopes = [str(scope) for scope in data.get("scopes") or ()]
    if not scopes and selection.scope:
        scopes = selection.scope.split()
    if api is not None:
        what = f" for the API {api}" + (f" ({' '.join(scopes)})" if scopes else "")
    elif selection != DEFAULT:
        what = f" for {selection.describe()}"
    else:
        what = ""
    message = data.get("message") or "You are not signed in."
    return LoginRequiredError(
        f"{message} Sign in{what} at {login_url}, then run this again.",
        login_url,
        api=api,
        provider=data.get("provider") or selection.provider,
        scopes=scopes,
        request=selection.params(),
    )


def json_of(response: requests.Response) -> dict[str, Any]:
    """The JSON object of an answer; {} for a 404 without one."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        if response.status_code == 404:
            return {}
        raise TokenServiceError(
            f"The Jupyter server answered a token request with {response.status_code} "
            "and no JSON; check that the jupyter_nevis_auth server extension is enabled."
        )
    return data
