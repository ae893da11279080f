"""Who is asking: a user server, proved by its own JUPYTERHUB_API_TOKEN, and whose it is.

JupyterHub gives each server a token of its own, with the scopes of the `server` role
(Spawner.server_token_scopes) resolved to that one server: `access:servers!server=
<user>/<server name>`. A token a user makes for themselves holds their own scopes,
`access:servers!user=<user>` among them, and an admin's holds `access:servers`: either
opens every server of the user, which is what tells it from a server's own token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jupyterhub.services.auth import HubAuth
from tornado import web
from tornado.httputil import HTTPServerRequest

SERVER_SCOPE = "access:servers!server="
#: Scopes that reach every server of a user, or of several: a person's token, never a server's.
WIDE_ACCESS = re.compile(r"access:servers(!(user|group)=.*)?")
AUTHORIZATION = re.compile(r"(?:token|bearer)\s+(\S+)", re.IGNORECASE)

NO_CREDENTIAL = (
    "This endpoint answers only user servers, with their own JUPYTERHUB_API_TOKEN in an "
    "Authorization header."
)
NOT_KNOWN_TO_HUB = "JupyterHub does not know this token: it was revoked or its server stopped."
NOT_A_SERVER = (
    "This token is not a user server's own JUPYTERHUB_API_TOKEN, and only a server's gets "
    "tokens here."
)
HUB_UNREACHABLE = "JupyterHub could not be asked whose token this is; try again shortly."


@dataclass(frozen=True)
class ServerCaller:
    """A user server that proved itself: its owner and its name ("" for the default server)."""

    user: str
    server: str


def server_of(model: dict[str, Any]) -> ServerCaller | None:
    """The server whose own token JupyterHub's `model` of a token describes, or None."""
    if model.get("kind", "user") != "user" or not isinstance(model.get("name"), str):
        return None
    user = model["name"]
    scopes = [s for s in model.get("scopes", []) if isinstance(s, str)]
    if any(WIDE_ACCESS.fullmatch(s) for s in scopes):
        return None
    # A token may also reach servers shared with its owner: only the owner's own count.
    own = [s[len(SERVER_SCOPE) :] for s in scopes if s.startswith(f"{SERVER_SCOPE}{user}/")]
    if len(own) != 1:
        return None
    return ServerCaller(user, own[0][len(user) + 1 :])


def request_token(request: HTTPServerRequest) -> str:
    """The token of the request's Authorization header; never one from a URL or a cookie."""
    match = AUTHORIZATION.fullmatch(request.headers.get("Authorization", "").strip())
    return match.group(1) if match else ""


async def identify_server(hub_auth: HubAuth, request: HTTPServerRequest) -> ServerCaller:
    """The user server making `request`, or a 403 (502 when JupyterHub cannot be asked)."""
    token = request_token(request)
    if not token:
        raise web.HTTPError(403, NO_CREDENTIAL)
    try:
        model = await hub_auth.user_for_token(token, sync=False)
    except web.HTTPError as e:
        raise web.HTTPError(502, HUB_UNREACHABLE) from e
    if model is None:
        raise web.HTTPError(403, NOT_KNOWN_TO_HUB)
    caller = server_of(model)
    if caller is None:
        raise web.HTTPError(403, NOT_A_SERVER)
    return caller
