"""JupyterHub side: send the provider's redirect to the server that started the sign-in.

Runs inside the hub, so it imports nothing from Jupyter Server.
"""

from __future__ import annotations

from typing import Any

from ..core.pending import state_server_name

#: The path after /hub/user-redirect/ of the redirect URI registered for a hub.
CALLBACK_PATH = "nevis/callback"


def user_redirect_hook(path: str, request: Any, user: Any, base_url: str) -> str | None:
    """`c.JupyterHub.user_redirect_hook`: nevis/callback goes to the server named in its state.

    Without it JupyterHub sends every callback to the user's default server (and
    passes the code through /hub/spawn's `next`, which the hub's log prints). The
    target is always a server of the signed-in hub user: a state naming someone
    else's server, or none of the user's, cannot send the callback anywhere else.
    """
    if path.strip("/") != CALLBACK_PATH:
        return None
    states = request.query_arguments.get("state") or [b""]
    server_name = state_server_name(states[-1].decode("utf-8", "replace"))
    if server_name not in user.orm_spawners:
        server_name = ""
    url: str = user.server_url(server_name) + CALLBACK_PATH
    return url + "?" + request.query if request.query else url
