"""JupyterHub side of sign-in once: the hub's refresh_user asks the service, never the provider.

`c.OAuthenticator.refresh_user_hook = refresh_user_hook` (OAuthenticator 17.3 or newer).
When the hub refreshes a user's auth (`Authenticator.auth_refresh_age`, `refresh_pre_spawn`),
the user's auth_state takes the tokens of the grant the service refreshes, so a rotated
refresh token is only ever used by one party. Whatever the service answers, the hub never
calls the provider's token endpoint itself, and never sends the user to log in again
because of the service.

Runs inside the hub, so it imports nothing from Jupyter Server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import jwt

from ..errors import UpstreamError
from ..oidc.http import parse_json
from .rest import HubHTTP

#: The service's name in c.JupyterHub.services, as docs/jupyterhub.md configures it.
SERVICE_NAME = "nevis-auth"
#: The path below the service's prefix where it answers the hub (hubtokens.py).
PATH = "api/auth_state"
TIMEOUT = 20.0
#: OAuthenticator's auth_state keys of the tokens (build_auth_state_dict).
TOKEN_KEYS = ("access_token", "refresh_token", "id_token")

RefreshUserHook = Callable[[Any, Any, Any], Awaitable[Any]]


def auth_model(user: Any, authenticator: Any, auth_state: Any, tokens: dict[str, Any]) -> Any:
    """The auth model refresh_user returns: auth_state with the service's current tokens."""
    state = dict(auth_state) if isinstance(auth_state, dict) else {}
    previous = state.get("token_response")
    response = dict(previous) if isinstance(previous, dict) else {}
    fresh = {k: tokens.get(k) for k in (*TOKEN_KEYS, "token_type", "expires_in", "scope")}
    response.update({k: v for k, v in fresh.items() if v is not None})
    state.update({k: response.get(k) for k in TOKEN_KEYS})
    state["scope"] = str(response.get("scope") or "").split()
    state["token_response"] = response
    model: dict[str, Any] = {"name": user.name, "auth_state": state}
    if getattr(authenticator, "manage_groups", False):
        model["groups"] = None  # unchanged: JupyterHub wants the key when it manages groups
    return model


def same_person(auth_state: Any, tokens: dict[str, Any]) -> bool:
    """Whether the service's ID token names the person of auth_state's, where both have one.

    Read without checking signatures: this only ever refuses to write, and the service
    checked its tokens when it got them.
    """
    state = auth_state if isinstance(auth_state, dict) else {}
    response = state.get("token_response")
    held = state.get("id_token") or (
        response.get("id_token") if isinstance(response, dict) else None
    )
    new = tokens.get("id_token")
    if not isinstance(held, str) or not isinstance(new, str):
        return True
    try:
        before = jwt.decode(held, options={"verify_signature": False})
        after = jwt.decode(new, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return (before.get("iss"), before.get("sub")) == (after.get("iss"), after.get("sub"))


def service_refresher(name: str = SERVICE_NAME) -> RefreshUserHook:
    """A refresh_user_hook asking the service called `name` for the user's current tokens."""

    async def refresh_user_hook(authenticator: Any, user: Any, auth_state: Any) -> Any:
        """The auth model with the service's tokens; True (keep auth_state) when it has none."""
        service = (user.settings.get("services") or {}).get(name)
        if service is None or not service.url or not service.api_token:
            authenticator.log.warning(
                "No JupyterHub service %r to refresh %s's auth from.", name, user.name
            )
            return True
        url = service.url.rstrip("/") + service.prefix
        what = f"the {name} service"
        api = HubHTTP(url, service.api_token, authenticator.log, what=what, timeout=TIMEOUT)
        try:
            response = await api.call("GET", PATH, {"user": user.name})
        except UpstreamError as e:
            authenticator.log.warning("%s's auth_state is kept as it is: %s", user.name, e)
            return True
        tokens = parse_json(response.body)
        if response.code != 200 or not isinstance(tokens, dict):
            message = tokens.get("message") if isinstance(tokens, dict) else None
            authenticator.log.info(
                "The %s service holds no tokens of %s (%s): %s",
                name,
                user.name,
                response.code,
                message,
            )
            return True
        if not same_person(auth_state, tokens):
            authenticator.log.warning(
                "The %s service answered tokens of another person than %s's JupyterHub "
                "login; auth_state is kept as it is.",
                name,
                user.name,
            )
            return True
        return auth_model(user, authenticator, auth_state, tokens)

    return refresh_user_hook


#: For the service named "nevis-auth".
refresh_user_hook = service_refresher()
