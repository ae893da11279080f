"""The browser's pages of the service: login, callback, logout, done, and the hub's OAuth."""

from __future__ import annotations

import json
from typing import Any

from jupyterhub.services.auth import HubOAuthCallbackHandler
from tornado import web

from .. import urls
from ..claims import display_name
from ..errors import AccessDeniedError, CallbackError, NevisAuthError
from ..flow import PendingLogin, cookie_name
from ..links import WAIT_ENDED, failed_sentence
from ..protocol import DEFAULT_PROVIDER
from ..web.pages import CALLBACK_PARAMS, remember_link_sign_in
from ..web.sign_out import SignOutPageMixin
from .base import CALLBACK, LOGOUT, ServicePage

#: The pages of one-time sign-in links at the service, below its prefix.
LINK = "link"
LINK_DONE = "link/done"

OTHER_USER = "This sign-in was started by another JupyterHub user; start the sign-in again."


def browser_binding(raw: bytes | None) -> tuple[str | None, str | None]:
    """The hub user and browser key of a sign-in's cookie (which the service signed)."""
    try:
        starter, key = json.loads(raw or b"")
    except (ValueError, TypeError):
        return None, None
    return (starter, key) if isinstance(starter, str) and isinstance(key, str) else (None, None)


def bind_to_hub_user(handler: ServicePage, login: PendingLogin, user: str) -> None:
    """Bind `login` to this browser and to the hub user `user`: the callback checks both."""
    handler.set_secure_cookie(
        cookie_name(login.state),
        json.dumps([user, login.browser_key]),
        expires_days=None,
        max_age=int(handler.nevis.config.state_ttl),
        path=handler.path_of(CALLBACK),
        httponly=True,
        secure=handler.request.protocol == "https",
        samesite="Lax",
    )


def service_redirect_uri(handler: ServicePage, provider: str = DEFAULT_PROVIDER) -> str:
    """The configured redirect URI, else the service's callback at the request's origin."""
    nevis = handler.nevis
    configured = nevis.providers[provider].config.redirect_uri or nevis.config.redirect_uri
    return configured or handler.origin() + handler.path_of(CALLBACK)


class LoginHandler(ServicePage):
    """login: starts the Authorization Code flow for the signed-in hub user."""

    @web.authenticated
    async def get(self) -> None:
        """Redirect to the provider with fresh state, nonce and PKCE challenge."""
        user = self.hub_user()
        try:
            provider, api = self.nevis.selection(self.selection_params())
            login, url = await self.nevis.start_login(
                service_redirect_uri(self, provider), self.next_url(), provider, api, owner=user
            )
        except NevisAuthError as e:
            self.log.warning("Sign-in for %s not started: %s", user, e)
            self.page("Sign-in is not available", str(e), e.status_code)
            return
        bind_to_hub_user(self, login, user)
        self.redirect(url)


class CallbackHandler(ServicePage):
    """callback: the redirect URI registered at the provider; finishes the flow.

    A sign-in started from a one-time link finishes for the link's user in the browser that
    opened it, without a hub login; every other sign-in needs the hub user who started it.
    """

    async def get(self) -> None:
        """Check the response, trade the code, store the tokens, go to `next`."""
        params: dict[str, str] = {}
        for name in CALLBACK_PARAMS:
            values = self.get_query_arguments(name, strip=False)
            if len(values) > 1:  # RFC 6749 3.1: parameters must not repeat
                self.fail(CallbackError(f"The sign-in response repeats {name}; sign in again."))
                return
            if values:
                params[name] = values[0]
        if self.nevis.pending.ended(params.get("state")):
            # The cell that asked for the link stopped waiting: nothing is traded or kept.
            self.binding(params)
            self.log.info("A sign-in from a link refused: its cell stopped waiting.")
            self.page("Sign-in ended", WAIT_ENDED, 410)
        elif self.nevis.started_from_link(params.get("state")):
            await self._finish_link(params)
        else:
            await self._finish_for_hub_user(params)  # type: ignore[misc]

    def binding(self, params: dict[str, str]) -> tuple[str | None, str | None]:
        """The hub user and browser key the sign-in's cookie holds; the cookie is used up."""
        if not params.get("state"):
            return None, None
        name = cookie_name(params["state"])
        raw = self.get_secure_cookie(name, max_age_days=1)
        self.clear_cookie(name, path=self.path_of(CALLBACK))
        return browser_binding(raw)

    @web.authenticated
    async def _finish_for_hub_user(self, params: dict[str, str]) -> None:
        user = self.hub_user()
        starter, key = self.binding(params)
        if starter is not None and starter != user:
            self.log.warning("Sign-in started by another hub user refused for %s.", user)
            self.fail(AccessDeniedError(OTHER_USER))
            return
        try:
            login = await self.nevis.finish_login(user, params, key)
        except NevisAuthError as e:
            self.log.warning("Sign-in for %s failed: %s", user, e)
            self.fail(e)
            return
        self.redirect(login.next_url)

    async def _finish_link(self, params: dict[str, str]) -> None:
        """For the link's user, whom the sign-in names; in the browser that pressed its button.

        Without that browser's cookie there is no key, and the sign-in is refused.
        """
        pending = self.nevis.pending.peek(params.get("state") or "")
        user = pending.owner if pending else ""
        _starter, key = self.binding(params)
        try:
            login = await self.nevis.finish_login(user, params, key)
        except NevisAuthError as e:
            self.log.warning("Sign-in from a link for %s failed: %s", user or "nobody", e)
            self.page("Sign-in failed", failed_sentence(e), e.status_code)
            return
        await remember_link_sign_in(self, user, login, self.path_of(LINK_DONE))
        self.redirect(login.next_url)


class LogoutHandler(SignOutPageMixin, ServicePage):
    """logout: drops and revokes the user's tokens, optionally ends the provider session too."""

    where = "on your servers"

    async def user_status(self) -> tuple[str, dict[str, Any]]:
        """The hub user and their status."""
        user = self.hub_user()
        return user, await self.status_of(user)

    def back_link(self) -> tuple[str, str]:
        """Back to JupyterHub."""
        return "/", "go back to JupyterHub"

    def form(self) -> dict[str, str]:
        """This page, and `next` when the request gives one (else the form ends here)."""
        given = self.get_argument("next", None)
        return {"action": self.path_of(LOGOUT), "next": self.next_url() if given else ""}

    def return_url(self, provider: str | None) -> str:
        """This page (naming `provider`), unless one is configured."""
        configured = self.nevis.providers[provider or DEFAULT_PROVIDER].config
        page = self.origin() + self.path_of(LOGOUT)
        named = urls.with_query(page, {"provider": provider}) if provider else page
        return configured.post_logout_redirect_uri or named

    @web.authenticated
    async def get(self) -> None:
        """A form to confirm signing out, or the signed-out page."""
        await self.show_form()

    @web.authenticated
    async def post(self) -> None:
        """Sign out, then go on."""
        await self.sign_out_and_go_on()


class DoneHandler(ServicePage):
    """done: where a sign-in started from a notebook ends."""

    @web.authenticated
    async def get(self) -> None:
        """Say who is signed in, and close the window where the browser allows it."""
        status = await self.status_of(self.hub_user())
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
        )


class OAuthCallbackHandler(HubOAuthCallbackHandler, ServicePage):
    """oauth_callback: JupyterHub's own OAuth into the service; its failures as one sentence."""
