"""The browser's sign-in pages of both apps: login, callback and done, and what every page shares.

The app's handler classes say who the user is, where the pages are, how a sign-in is bound to
the browser that starts it, and whom each page lets in (Jupyter's login and authorizer, or
JupyterHub's OAuth); the pages' work is here, once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..claims import display_name
from ..core import urls
from ..core.links import WAIT_ENDED, failed_sentence
from ..core.pending import PendingLogin, cookie_name
from ..errors import AccessDeniedError, CallbackError, NevisAuthError
from ..protocol import DEFAULT_PROVIDER
from .base import NevisHandlerMixin, error_sentence

#: The authorization-response parameters the callback reads; each at most once.
CALLBACK_PARAMS = ("state", "code", "iss", "error", "error_description")
#: Holds, signed, whom a link's sign-in signed in, for the page it ends on.
LINK_DONE_COOKIE = "nevis_auth_link_done"
#: Seconds that cookie lives: the redirect follows at once.
LINK_DONE_TTL = 60
OTHER_USER = "This sign-in was started by another JupyterHub user; start the sign-in again."


class NevisPageMixin(NevisHandlerMixin):
    """Base of the browser's pages: the extension's page template; errors are one sentence.

    The defaults are a single-user server's; the hub service's pages override them.
    """

    set_status: Callable[..., None]
    finish: Callable[..., Any]
    get_argument: Callable[..., Any]
    get_secure_cookie: Callable[..., bytes | None]
    set_secure_cookie: Callable[..., Any]
    clear_cookie: Callable[..., None]
    redirect: Callable[..., None]

    def render_page(self, **namespace: Any) -> str:
        """The page template filled in, by the app's own template machinery."""
        raise NotImplementedError

    def page(self, title: str, message: str, status: int = 200, **parts: Any) -> None:
        """Answer with the extension's page: a title, a sentence, and optional parts."""
        self.set_status(status)
        parts.setdefault("notes", [])
        parts.setdefault("links", [])
        self.finish(self.render_page(title=title, message=message, **parts))

    def fail(self, error: NevisAuthError) -> None:
        """Answer a failed sign-in with its sentence and a link to try again."""
        self.page(
            "Sign-in failed",
            str(error),
            error.status_code,
            links=[(self.login_url(), "Sign in again")],
        )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Any other error: a sentence for a person, no traceback."""
        self.page("Error", error_sentence(status_code, kwargs), status_code)

    def signer(self) -> str:
        """The user whose sign-in this page is about: the server's owner."""
        return self.require_owner()

    async def user_status(self) -> tuple[str, dict[str, Any]]:
        """The user and their status, every sign-in link pointing at this app's pages."""
        user = self.signer()
        return user, await self.status_of(user)

    def next_url(self) -> str:
        """Where a sign-in started here ends: the request's `next`, a path on this server."""
        return urls.safe_next(self.get_argument("next", None), self.base_url)

    def callback_url(self, provider: str) -> str:
        """The redirect URI of a sign-in at `provider`."""
        return self.nevis.redirect_uri(self.origin(), self.page_paths, provider)

    def link_done(self) -> str:
        """The path of the page a link's sign-in ends on."""
        return self.page_paths.url(urls.LINK_DONE)

    def bind_sign_in(self, login: PendingLogin, user: str) -> None:
        """Set the cookie that only lets this browser finish `login` (for `user`)."""
        self.set_secure_cookie(
            cookie_name(login.state),
            login.browser_key,
            expires_days=None,
            max_age=int(self.nevis.config.state_ttl),
            path=urls.join(self.base_url, urls.COOKIE_PATH),
            httponly=True,
            secure=self.request.protocol == "https",
            samesite="Lax",
        )

    def sign_in_binding(self, state: str | None) -> tuple[str | None, str | None]:
        """Whom the sign-in `state` was started for here (None: not said) and its browser key;
        the cookie holding them is used up."""
        if not state:
            return None, None
        name = cookie_name(state)
        raw = self.get_secure_cookie(name, max_age_days=1)
        self.clear_cookie(name, path=urls.join(self.base_url, urls.COOKIE_PATH))
        return None, raw.decode() if raw else None


class LoginPageMixin(NevisPageMixin):
    """The login page: starts the Authorization Code flow."""

    async def get(self) -> None:
        """Redirect to the provider with fresh state, nonce and PKCE challenge."""
        user = self.signer()
        try:
            provider, api = self.nevis.selection(self.selection_params())
            login, url = await self.nevis.start_login(
                self.callback_url(provider), self.next_url(), provider, api, owner=user
            )
        except NevisAuthError as e:
            self.log.warning("Sign-in for %s not started: %s", user, e)
            self.page("Sign-in is not available", str(e), e.status_code)
            return
        self.bind_sign_in(login, user)
        self.redirect(url)


class CallbackPageMixin(NevisPageMixin):
    """The callback, the redirect URI registered at the provider: finishes the flow.

    A sign-in started from a one-time link finishes for the link's user in the browser that
    opened it, without a login to the app; every other sign-in needs the app's user who
    started it, which `finish_for_signer` asks for as the app's handler says.
    """

    get_query_arguments: Callable[..., list[str]]

    async def get(self) -> None:
        """Check the response, trade the code, store the tokens, go on."""
        params = self.callback_params()
        if params is None:
            return
        state = params.get("state")
        if self.nevis.pending.ended(state):
            self.ended_link_sign_in(state or "")
        elif self.nevis.started_from_link(state):
            await self.finish_sign_in(self.link_user(state or ""), params, via_link=True)
        else:
            await self.finish_for_signer(params)

    def callback_params(self) -> dict[str, str] | None:
        """The response's parameters; None once a repeated one is answered."""
        params: dict[str, str] = {}
        for name in CALLBACK_PARAMS:
            values = self.get_query_arguments(name, strip=False)
            if len(values) > 1:  # RFC 6749 3.1: parameters must not repeat
                self.fail(CallbackError(f"The sign-in response repeats {name}; sign in again."))
                return None
            if values:
                params[name] = values[0]
        return params

    def link_user(self, state: str) -> str:
        """Whose sign-in the link's sign-in `state` is: the server's owner; "" if unknown."""
        return self.owner

    def ended_link_sign_in(self, state: str) -> None:
        """Refuse a link's sign-in whose cell stopped waiting: nothing is traded or kept."""
        self.sign_in_binding(state)
        user = self.link_user(state)
        whose = f" for {user}" if user else ""
        self.log.info("A sign-in from a link%s refused: its cell stopped waiting.", whose)
        self.page("Sign-in ended", WAIT_ENDED, 410)

    async def finish_for_signer(self, params: dict[str, str]) -> None:
        """Finish a sign-in for the signed-in user (the app's handler says who may)."""
        await self.finish_sign_in(self.signer(), params, via_link=False)

    async def finish_sign_in(self, user: str, params: dict[str, str], *, via_link: bool) -> None:
        """Trade the code and store the tokens for `user`, in the browser bound to the sign-in."""
        starter, key = self.sign_in_binding(params.get("state"))
        if not via_link and starter is not None and starter != user:
            self.log.warning("Sign-in started by another hub user refused for %s.", user)
            self.fail(AccessDeniedError(OTHER_USER))
            return
        try:
            login = await self.nevis.finish_login(user, params, key)
        except NevisAuthError as e:
            if via_link:
                self.log.warning("Sign-in from a link for %s failed: %s", user or "nobody", e)
                self.page("Sign-in failed", failed_sentence(e), e.status_code)
            else:
                self.log.warning("Sign-in for %s failed: %s", user, e)
                self.fail(e)
            return
        if via_link:
            await remember_link_sign_in(self, user, login, self.link_done())
        self.redirect(login.next_url)


class DonePageMixin(NevisPageMixin):
    """The done page: where a sign-in started from a notebook ends."""

    async def get(self) -> None:
        """Say who is signed in, and close the window where the browser allows it."""
        _user, status = await self.user_status()
        asked = self.get_argument("provider", "")
        api = status["apis"].get(self.get_argument("api", "")) or {}
        name, shown = signed_in_to(status, asked or api.get("provider") or "")
        if not shown["logged_in"]:
            reason = shown.get("signed_out_reason") or "You are not signed in."
            self.page("Not signed in", reason, links=[(shown["login_url"], "Sign in")])
            return
        who = display_name(shown["claims"])
        at = f" to {name}" if name != DEFAULT_PROVIDER else ""
        warnings = shown["warnings"]
        # Browsers only let a script close a window that a page opened; elsewhere it stays,
        # and so does a page with a warning to read.
        self.page(
            "Signed in",
            f"Signed in{at} as {who}. You can close this window.",
            notes=warnings,
            close_window=not warnings,
            broadcast=True,
        )


def signed_in_to(status: dict[str, Any], asked: str) -> tuple[str, dict[str, Any]]:
    """The provider the done page speaks of, and its status: the one `asked` for when it
    is configured; else the default provider when it is signed in, else the first that is
    (a sign-in at a second provider ends here too, whatever the first's state)."""
    providers: dict[str, dict[str, Any]] = status["providers"]
    if asked in providers:
        return asked, providers[asked]
    if status["logged_in"]:
        return DEFAULT_PROVIDER, providers[DEFAULT_PROVIDER]
    signed_in = [name for name, p in providers.items() if p["logged_in"]]
    name = signed_in[0] if signed_in else DEFAULT_PROVIDER
    return name, providers[name]


async def remember_link_sign_in(
    handler: NevisHandlerMixin, user: str, login: PendingLogin, done_page: str
) -> None:
    """Tell `done_page`, where a link's sign-in ends, whom it signed in and whether a cell of
    theirs waits for it (a signed cookie)."""
    cell_waits = handler.nevis.links.cells.waits(user)
    status = await handler.nevis.status(user, handler.page_paths)
    claims = status["providers"][login.provider].get("claims") or {}
    handler.set_secure_cookie(  # type: ignore[attr-defined]
        LINK_DONE_COOKIE,
        json.dumps([display_name(claims), cell_waits]),
        expires_days=None,
        max_age=LINK_DONE_TTL,
        path=done_page,
        httponly=True,
        secure=handler.request.protocol == "https",
        samesite="Lax",
    )


def link_sign_in_done(raw: bytes | None) -> tuple[str, bool] | None:
    """Whom a link's sign-in signed in, and whether a cell waited: what remember_link_sign_in
    kept; None without it."""
    try:
        name, cell_waits = json.loads(raw or b"")
    except (ValueError, TypeError):
        return None
    return (name, cell_waits) if isinstance(name, str) and isinstance(cell_waits, bool) else None
