"""The users' auth_state, read from JupyterHub's REST API, and the grant in it.

`GET /hub/api/users/<name>` shows a user's auth_state only to holders of the
`admin:auth_state` scope (and the user model to holders of `read:users:name` or more),
which the service gets through a role. OAuthenticator keeps there the token answer of the
user's sign-in (build_auth_state_dict): access_token, refresh_token, id_token, scope and
token_response.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jwt

from ...core.tokens import fingerprint
from ...errors import UpstreamError
from ...oidc.http import parse_json
from ..rest import HubHTTP

NO_SCOPE = (
    "JupyterHub does not show this service the users' auth_state: grant it the scopes "
    "admin:auth_state and read:users:name through a role (c.JupyterHub.load_roles)."
)


@dataclass(frozen=True, repr=False)
class HubGrant:
    """The tokens of one user's auth_state, as OAuthenticator keeps them."""

    access_token: str
    refresh_token: str | None
    id_token: str | None
    scope: tuple[str, ...]

    @classmethod
    def from_auth_state(cls, state: Any) -> HubGrant | None:
        """The grant in an auth_state (its top-level keys, else its token_response), or None."""
        if not isinstance(state, dict):
            return None
        response = state.get("token_response")
        response = response if isinstance(response, dict) else {}

        def pick(name: str) -> str | None:
            value = state.get(name) or response.get(name)
            return value if isinstance(value, str) and value else None

        access_token = pick("access_token")
        if access_token is None:
            return None
        scope = state.get("scope") or response.get("scope") or ()
        scopes = scope.split() if isinstance(scope, str) else [s for s in scope if s]
        return cls(access_token, pick("refresh_token"), pick("id_token"), tuple(map(str, scopes)))

    @property
    def issued_at(self) -> float | None:
        """When the provider issued the grant's ID token (its iat, read unverified), if known.

        Only for telling which of two grants is newer; what the token proves is checked
        (IDTokenChecks.auth_state) before the grant is used.
        """
        try:
            iat = jwt.decode(self.id_token or "", options={"verify_signature": False}).get("iat")
        except jwt.PyJWTError:
            return None
        return float(iat) if isinstance(iat, (int, float)) and not isinstance(iat, bool) else None

    @property
    def mark(self) -> str:
        """The fingerprint of the grant's refresh token (else of its access token)."""
        return fingerprint(self.refresh_token or self.access_token)


class HubUsers:
    """Reads users' auth_state from JupyterHub's REST API with the service's own token."""

    def __init__(self, api_url: str, api_token: str, log: logging.Logger, timeout: float) -> None:
        self.hub = HubHTTP(api_url, api_token, log, what="JupyterHub", timeout=timeout)
        self.log = log
        self._warned = False

    @classmethod
    def from_env(cls, log: logging.Logger, timeout: float) -> HubUsers:
        """The hub API the hub gave this service (JUPYTERHUB_API_URL, JUPYTERHUB_API_TOKEN)."""
        api_url = os.environ.get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api")
        return cls(api_url, os.environ.get("JUPYTERHUB_API_TOKEN", ""), log, timeout)

    async def grant(self, user: str) -> HubGrant | None:
        """The grant in `user`'s auth_state; None when there is none or the hub cannot say."""
        try:
            answer = await self.hub.call("GET", f"users/{quote(user, safe='')}")
        except UpstreamError as e:
            self.log.warning("JupyterHub's auth_state of %s could not be read: %s", user, e)
            return None
        if answer.code in (401, 403):
            self._warn_once(NO_SCOPE)
            return None
        if answer.code == 404:
            return None
        model = parse_json(answer.body)
        if answer.code != 200 or not isinstance(model, dict):
            self.log.warning(
                "JupyterHub answered HTTP %s without %s's user model.", answer.code, user
            )
            return None
        if "auth_state" not in model:
            self._warn_once(NO_SCOPE)
            return None
        return HubGrant.from_auth_state(model["auth_state"])

    def _warn_once(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            self.log.error("jupyter-nevis-auth: %s", message)
