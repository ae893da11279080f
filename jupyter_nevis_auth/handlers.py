"""Tornado handlers: thin, parse the request, call the AuthService, answer."""

from __future__ import annotations

import html
import json
import logging
import os
import traceback
from http.client import responses
from typing import Any

from jupyter_server.base.handlers import APIHandler, JupyterHandler
from tornado import web
from tornado.httputil import HTTPServerRequest

from .errors import LoginError, NevisAuthError
from .flow import cookie_name
from .kernel import SECRET_HEADER
from .service import AuthService, safe_next

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;
line-height:1.5}}</style></head>
<body><h1>{title}</h1><p>{message}</p>{extra}</body></html>
"""


#: What a person reads when something unforeseen went wrong.
UNEXPECTED = (
    "Something unexpected went wrong in jupyter-nevis-auth; try again, and if it happens "
    "again, ask your administrator to look at the server's log."
)


class NevisHandlerMixin:
    """Shared access to the extension's service, and its page and error rendering."""

    settings: dict[str, Any]
    base_url: str
    current_user: Any
    request: HTTPServerRequest
    log: logging.Logger

    def log_exception(
        self, typ: type[BaseException] | None, value: BaseException | None, tb: Any
    ) -> None:
        """Log a failure with the path only: the query of nevis/callback holds code and state."""
        where = f"{self.request.method} {self.request.path}"
        if isinstance(value, web.HTTPError):
            if value.log_message:
                message = value.log_message % value.args if value.args else value.log_message
                self.log.warning("%d %s: %s", value.status_code, where, message)
            return
        text = "".join(traceback.format_exception(typ, value, tb))
        self.log.error("Unexpected error in %s:\n%s", where, self._redact(text))

    def _redact(self, text: str) -> str:
        """`text` without any value the request carried: query, body, cookies, credentials."""
        request = self.request
        values = [v.decode("utf-8", "replace") for vs in request.arguments.values() for v in vs]
        values += [m.value for m in request.cookies.values()]
        values += [request.headers.get(h, "") for h in ("Authorization", SECRET_HEADER)]
        for value in sorted(set(values), key=len, reverse=True):
            if len(value) >= 4:
                text = text.replace(value, "[redacted]")
        return text

    @property
    def nevis(self) -> AuthService:
        """The extension's AuthService."""
        return self.settings["nevis_auth"]  # type: ignore[no-any-return]

    def user_key(self) -> str:
        """The name the server's tokens are kept under: the server owner's."""
        owner = self.settings["nevis_auth_owner"]
        hub_user = os.environ.get("JUPYTERHUB_USER")
        name = getattr(self.current_user, "username", None)
        # Under JupyterHub an admin may reach another user's server: their sign-in
        # would hand that user's kernels the admin's tokens.
        if hub_user and name != hub_user:
            raise web.HTTPError(403, "Only the owner of this server can use its sign-in.")
        return owner  # type: ignore[no-any-return]

    async def current_status(self, user: str) -> dict[str, Any]:
        """The status JSON, after a refresh when the token is about to expire."""
        try:
            await self.nevis.tokens.current(user)
        except NevisAuthError as e:
            self.log.debug("Status for %s: %s", user, e)  # type: ignore[attr-defined]
        status = await self.nevis.tokens.status(user)
        status["login_url"] = self.login_url()
        return status

    def login_url(self, next_url: str | None = None) -> str:
        """Where a person starts a sign-in."""
        url = self.base_url + "nevis/login"
        return url + ("?" + web.urlencode({"next": next_url}) if next_url else "")


class NevisPageHandler(NevisHandlerMixin, JupyterHandler):
    """Base of the browser-facing pages: errors are one sentence, never a traceback."""

    def page(self, title: str, message: str, extra: str = "", status: int = 200) -> None:
        """Answer with a small HTML page."""
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(
            PAGE.format(title=html.escape(title), message=html.escape(message), extra=extra)
        )

    def fail(self, error: NevisAuthError) -> None:
        """Answer a failed sign-in with its sentence and a link to try again."""
        link = f'<p><a href="{html.escape(self.login_url())}">Sign in again</a></p>'
        self.page("Sign-in failed", str(error), link, status=error.status_code)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Any other error: a sentence for a person, no traceback."""
        self.page("Error", error_sentence(status_code, kwargs), status=status_code)


class NevisAPIHandler(NevisHandlerMixin, APIHandler):
    """Base of the JSON endpoints: errors are one sentence in JSON, never a traceback."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Answer any error as {"error", "message"} JSON."""
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        error = "internal_error" if status_code >= 500 else "request_refused"
        self.finish(json.dumps({"error": error, "message": error_sentence(status_code, kwargs)}))


def error_sentence(status_code: int, kwargs: dict[str, Any]) -> str:
    """The sentence for an error answer: an HTTPError's own, else UNEXPECTED."""
    exc = kwargs.get("exc_info", (None, None))[1]
    if isinstance(exc, web.HTTPError) and exc.log_message:
        return exc.log_message % exc.args if exc.args else exc.log_message
    if exc is None and status_code < 500:
        return responses.get(status_code, "The request was refused") + "."
    return UNEXPECTED


class LoginHandler(NevisPageHandler):
    """nevis/login: starts the Authorization Code flow."""

    @web.authenticated
    async def get(self) -> None:
        """Redirect to the provider with fresh state, nonce and PKCE challenge."""
        self.set_header("Cache-Control", "no-store")
        user = self.user_key()
        next_url = safe_next(self.get_argument("next", None), self.base_url)
        redirect_uri = self.nevis.config.redirect_uri or (
            f"{self.request.protocol}://{self.request.host}{self.base_url}nevis/callback"
        )
        try:
            login, url = await self.nevis.start_login(redirect_uri, next_url)
        except NevisAuthError as e:
            self.log.warning("Sign-in for %s not started: %s", user, e)
            self.page("Sign-in is not available", str(e), status=e.status_code)
            return
        self.set_secure_cookie(
            cookie_name(login.state),
            login.browser_key,
            expires_days=None,
            max_age=int(self.nevis.config.state_ttl),
            path=self.base_url + "nevis/",
            httponly=True,
            secure=self.request.protocol == "https",
            samesite="Lax",
        )
        self.redirect(url)


class CallbackHandler(NevisPageHandler):
    """nevis/callback: the redirect URI; finishes the flow."""

    def set_default_headers(self) -> None:
        """Keep the code out of caches and out of the Referer of the next page."""
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")

    @web.authenticated
    async def get(self) -> None:
        """Check the response, trade the code, store the tokens, go to `next`."""
        user = self.user_key()
        params: dict[str, str] = {}
        for name in ("state", "code", "iss", "error", "error_description"):
            values = self.get_query_arguments(name, strip=False)
            if len(values) > 1:  # RFC 6749 3.1: parameters must not repeat
                self.fail(LoginError(f"The sign-in response repeats {name}; sign in again."))
                return
            if values:
                params[name] = values[0]
        state = params.get("state", "")
        key = None
        if state:
            name = cookie_name(state)
            raw = self.get_secure_cookie(name, max_age_days=1)
            key = raw.decode() if raw else None
            self.clear_cookie(name, path=self.base_url + "nevis/")
        try:
            login = await self.nevis.finish_login(user, params, key)
        except NevisAuthError as e:
            self.log.warning("Sign-in for %s failed: %s", user, e)
            self.fail(e)
            return
        self.redirect(login.next_url)


class LogoutHandler(NevisPageHandler):
    """nevis/logout: drops and revokes the tokens, optionally ends the provider session too."""

    def set_default_headers(self) -> None:
        """Never cached: the page says who is signed in."""
        super().set_default_headers()
        self.set_header("Cache-Control", "no-store")

    def signed_out_page(self, message: str, status: int = 200) -> None:
        """The page saying the user is signed out, with the ways on."""
        links = (
            f'<p><a href="{html.escape(self.login_url())}">Sign in again</a> or '
            f'<a href="{html.escape(self.base_url)}">go back to Jupyter</a>.</p>'
        )
        self.page("Signed out", message, links, status=status)

    @web.authenticated
    async def get(self) -> None:
        """A form to confirm signing out (POST, with the xsrf token), or the signed-out page."""
        status = await self.nevis.tokens.status(self.user_key())
        if not status["logged_in"]:
            self.signed_out_page(status["signed_out_reason"] or "You are signed out.")
            return
        claims = status["claims"]
        who = claims.get("preferred_username") or claims.get("name") or claims.get("sub")
        next_url = self.get_argument("next", None)
        # Without a next, the form lands on the signed-out page.
        next_field = ""
        if next_url:
            next_url = html.escape(safe_next(next_url, self.base_url))
            next_field = f'<input type="hidden" name="next" value="{next_url}">'
        form = (
            f'<form method="post" action="{html.escape(self.base_url)}nevis/logout">'
            f"{self.xsrf_form_html()}{next_field}"
            '<button type="submit">Sign out</button></form>'
        )
        self.page(
            "Sign out",
            f"You are signed in as {who}. After signing out, notebooks on this server can no "
            "longer call APIs on your behalf.",
            form,
        )

    @web.authenticated
    async def post(self) -> None:
        """Sign out, then go to the provider's logout, or to `next`, or the signed-out page."""
        user = self.user_key()
        tokens = await self.nevis.logout(user)
        config = self.nevis.config
        if config.logout_at_provider:
            return_url = config.post_logout_redirect_uri or (
                f"{self.request.protocol}://{self.request.host}{self.base_url}nevis/logout"
            )
            try:
                url = await self.nevis.provider_logout_url(tokens, return_url)
            except NevisAuthError as e:
                self.log.warning("Provider logout for %s not started: %s", user, e)
                self.signed_out_page(
                    f"You are signed out here, but not at the provider: {e}", e.status_code
                )
                return
            if url:
                self.redirect(url)
                return
        next_url = self.get_argument("next", None)
        self.redirect(safe_next(next_url, self.base_url) if next_url else self.request.path)


class DoneHandler(NevisPageHandler):
    """nevis/done: where a sign-in started from the notebook widget ends."""

    @web.authenticated
    async def get(self) -> None:
        """Say who is signed in, and close the window where the browser allows it."""
        self.set_header("Cache-Control", "no-store")
        status = await self.nevis.tokens.status(self.user_key())
        if not status["logged_in"]:
            link = f'<p><a href="{html.escape(self.login_url())}">Sign in</a></p>'
            reason = status.get("signed_out_reason") or "You are not signed in."
            self.page("Not signed in", reason, link)
            return
        claims = status.get("claims", {})
        name = claims.get("name") or claims.get("preferred_username") or claims.get("sub")
        warnings = "".join(f"<p>{html.escape(w)}</p>" for w in status.get("warnings", []))
        # Browsers only let a script close a window that a page opened; elsewhere it stays,
        # and so does a page with a warning to read.
        self.page(
            "Signed in",
            f"Signed in as {name}. You can close this window.",
            warnings or "<script>window.close()</script>",
        )


class StatusHandler(NevisAPIHandler):
    """nevis/api/status: who is signed in, until when; never a raw token."""

    @web.authenticated
    async def get(self) -> None:
        """Answer the status JSON, refreshing first when the token is about to expire."""
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(await self.current_status(self.user_key())))


default_handlers = [
    (r"/nevis/login", LoginHandler),
    (r"/nevis/callback", CallbackHandler),
    (r"/nevis/done", DoneHandler),
    (r"/nevis/logout", LogoutHandler),
    (r"/nevis/api/status", StatusHandler),
]
