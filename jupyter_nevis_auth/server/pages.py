"""The browser's pages: nevis/login, nevis/callback and nevis/done (nevis/logout: sign_out.py).

The pages' work is web/pages.py's; here each keeps Jupyter's login and authorizer, and under
JupyterHub the callback says why a link's sign-in for another user's server cannot end here.
"""

from __future__ import annotations

import os
from urllib.parse import quote, unquote

from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from tornado import web

from ..core import urls
from ..core.pending import PendingLogin, cookie_name
from ..web.pages import CallbackPageMixin, DonePageMixin, LoginPageMixin
from .base import NevisPageHandler, jupyter_user_only

#: Under JupyterHub: tells every server of the hub whose server a link's sign-in is for.
LINK_FOR_COOKIE = "nevis_auth_link_for_"
OTHER_HUB_USER = (
    "This sign-in came from a one-time link to {owner}'s server, but JupyterHub sent it to "
    "{user}'s because this browser is signed in to JupyterHub as {user}; sign out of "
    "JupyterHub here (or use a browser signed in as {owner}) and run the cell again for a "
    "new link."
)


def hub_servers_path() -> str:
    """The path below which JupyterHub serves every user's servers; "" without a hub."""
    base = os.environ.get("JUPYTERHUB_BASE_URL")
    return urls.join(base, "user/") if base else ""


def link_for_cookie(state: str) -> str:
    """The name of the cookie telling whose server the link's sign-in `state` is for."""
    return LINK_FOR_COOKIE + cookie_name(state)[-16:]


def name_link_owner(handler: NevisPageHandler, login: PendingLogin) -> None:
    """Under JupyterHub, let the user's other servers say whose link's sign-in this is.

    The hub's user-redirect sends the callback to the server of whoever is signed in to the
    hub in this browser: another user's server then knows why it does not know the sign-in.
    """
    path = hub_servers_path()
    if path:
        handler.set_cookie(
            link_for_cookie(login.state),
            quote(handler.owner, safe=""),
            expires_days=None,
            max_age=int(handler.nevis.config.state_ttl),
            path=path,
            httponly=True,
            secure=handler.request.protocol == "https",
            samesite="Lax",
        )


class LoginHandler(LoginPageMixin, NevisPageHandler):
    """nevis/login: starts the Authorization Code flow."""

    get = jupyter_user_only(LoginPageMixin.get)


class CallbackHandler(CallbackPageMixin, NevisPageHandler):
    """nevis/callback: the redirect URI; finishes the flow.

    A link's sign-in is bound to the browser that opened the link (its state cookie), so it
    needs no Jupyter session; every other sign-in needs the owner's.
    """

    get = allow_unauthenticated(CallbackPageMixin.get)

    async def finish_for_signer(self, params: dict[str, str]) -> None:
        """Under JupyterHub, refuse a link's sign-in for another user's server; else finish
        it for the owner, signed in to Jupyter."""
        owner = self.link_owner(params.get("state"))
        if owner and owner != self.owner:
            self.log.warning("A link's sign-in for %s refused at %s's server.", owner, self.owner)
            self.page("Sign-in failed", OTHER_HUB_USER.format(owner=owner, user=self.owner), 403)
            return
        await self._finish_for_jupyter_user(params)  # type: ignore[misc]

    @web.authenticated
    @authorized
    async def _finish_for_jupyter_user(self, params: dict[str, str]) -> None:
        await super().finish_for_signer(params)

    def link_owner(self, state: str | None) -> str:
        """Under JupyterHub, whose server the link's sign-in `state` is for; "" if unknown."""
        raw = self.get_cookie(link_for_cookie(state)) if state and hub_servers_path() else None
        name = unquote(raw or "")
        return name if name.isprintable() and len(name) <= 255 else ""


class DoneHandler(DonePageMixin, NevisPageHandler):
    """nevis/done: where a sign-in started from the notebook widget ends."""

    get = jupyter_user_only(DonePageMixin.get)
