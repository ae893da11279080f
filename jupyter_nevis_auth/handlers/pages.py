"""The browser's pages: nevis/login, nevis/callback and nevis/done (nevis/logout: sign_out.py)."""

from __future__ import annotations

import os
from urllib.parse import quote, unquote

from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from tornado import web

from .. import urls
from ..claims import display_name
from ..errors import CallbackError, NevisAuthError
from ..flow import PendingLogin, cookie_name
from ..links import LINK_DONE_PATH, WAIT_ENDED, failed_sentence
from ..web.pages import CALLBACK_PARAMS, remember_link_sign_in
from .base import NevisPageHandler

#: Under JupyterHub: tells every server of the hub whose server a link's sign-in is for.
LINK_FOR_COOKIE = "nevis_auth_link_for_"
OTHER_HUB_USER = (
    "This sign-in came from a one-time link to {owner}'s server, but JupyterHub sent it to "
    "{user}'s because this browser is signed in to JupyterHub as {user}; sign out of "
    "JupyterHub here (or use a browser signed in as {owner}) and run the cell again for a "
    "new link."
)


def bind_to_browser(handler: NevisPageHandler, login: PendingLogin) -> None:
    """Set the cookie that only lets this browser finish `login`."""
    handler.set_secure_cookie(
        cookie_name(login.state),
        login.browser_key,
        expires_days=None,
        max_age=int(handler.nevis.config.state_ttl),
        path=urls.join(handler.base_url, urls.COOKIE_PATH),
        httponly=True,
        secure=handler.request.protocol == "https",
        samesite="Lax",
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


class LoginHandler(NevisPageHandler):
    """nevis/login: starts the Authorization Code flow."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Redirect to the provider with fresh state, nonce and PKCE challenge."""
        user = self.require_owner()
        next_url = urls.safe_next(self.get_argument("next", None), self.base_url)
        try:
            provider, api = self.nevis.selection(self.selection_params())
            redirect_uri = self.nevis.redirect_uri(self.origin(), self.base_url, provider)
            login, url = await self.nevis.start_login(
                redirect_uri, next_url, provider, api, owner=user
            )
        except NevisAuthError as e:
            self.log.warning("Sign-in for %s not started: %s", user, e)
            self.page("Sign-in is not available", str(e), e.status_code)
            return
        bind_to_browser(self, login)
        self.redirect(url)


class CallbackHandler(NevisPageHandler):
    """nevis/callback: the redirect URI; finishes the flow."""

    @allow_unauthenticated
    async def get(self) -> None:
        """Finish a sign-in: one started from a one-time link in any browser, others for the owner.

        A link's sign-in is bound to the browser that opened the link (its state cookie), so
        it needs no Jupyter session; every other sign-in needs the owner's.
        """
        params: dict[str, str] = {}
        for name in CALLBACK_PARAMS:
            values = self.get_query_arguments(name, strip=False)
            if len(values) > 1:  # RFC 6749 3.1: parameters must not repeat
                self.fail(CallbackError(f"The sign-in response repeats {name}; sign in again."))
                return
            if values:
                params[name] = values[0]
        owner = self.link_owner(params.get("state"))
        if self.nevis.pending.ended(params.get("state")):
            self.ended_link_sign_in(params["state"])
        elif self.nevis.started_from_link(params.get("state")):
            await self._finish(self.owner, params, via_link=True)
        elif owner and owner != self.owner:
            self.log.warning("A link's sign-in for %s refused at %s's server.", owner, self.owner)
            self.page("Sign-in failed", OTHER_HUB_USER.format(owner=owner, user=self.owner), 403)
        else:
            await self._finish_for_jupyter_user(params)  # type: ignore[misc]

    def ended_link_sign_in(self, state: str) -> None:
        """Refuse a link's sign-in whose cell stopped waiting: nothing is traded or kept."""
        self.clear_cookie(cookie_name(state), path=urls.join(self.base_url, urls.COOKIE_PATH))
        self.log.info("A sign-in from a link for %s refused: its cell stopped waiting.", self.owner)
        self.page("Sign-in ended", WAIT_ENDED, 410)

    def link_owner(self, state: str | None) -> str:
        """Under JupyterHub, whose server the link's sign-in `state` is for; "" if unknown."""
        raw = self.get_cookie(link_for_cookie(state)) if state and hub_servers_path() else None
        name = unquote(raw or "")
        return name if name.isprintable() and len(name) <= 255 else ""

    @web.authenticated
    @authorized
    async def _finish_for_jupyter_user(self, params: dict[str, str]) -> None:
        await self._finish(self.require_owner(), params, via_link=False)

    async def _finish(self, user: str, params: dict[str, str], *, via_link: bool) -> None:
        """Check the response, trade the code, store the tokens, go on."""
        key = None
        if params.get("state"):
            name = cookie_name(params["state"])
            raw = self.get_secure_cookie(name, max_age_days=1)
            key = raw.decode() if raw else None
            self.clear_cookie(name, path=urls.join(self.base_url, urls.COOKIE_PATH))
        try:
            login = await self.nevis.finish_login(user, params, key)
        except NevisAuthError as e:
            self.log.warning("Sign-in for %s failed: %s", user, e)
            if via_link:
                self.page("Sign-in failed", failed_sentence(e), e.status_code)
            else:
                self.fail(e)
            return
        if via_link:
            await remember_link_sign_in(self, user, login, urls.join(self.base_url, LINK_DONE_PATH))
        self.redirect(login.next_url)


class DoneHandler(NevisPageHandler):
    """nevis/done: where a sign-in started from the notebook widget ends."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Say who is signed in, and close the window where the browser allows it."""
        status = await self.nevis.status(self.require_owner(), self.base_url)
        if not status["logged_in"]:
            reason = status.get("signed_out_reason") or "You are not signed in."
            self.page("Not signed in", reason, links=[(self.login_url(), "Sign in")])
            return
        warnings = status["warnings"]
        # Browsers only let a script close a window that a page opened; elsewhere it stays,
        # and so does a page with a warning to read.
        self.page(
            "Signed in",
            f"Signed in as {display_name(status['claims'])}. You can close this window.",
            notes=warnings,
            close_window=not warnings,
            broadcast=True,
        )
