"""What every handler of both apps shares: the service, the owner, JSON, errors and headers."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from http.client import responses
from typing import Any

from tornado import web
from tornado.httputil import HTTPServerRequest

from ..core import urls
from ..core.auth import AuthCore
from ..errors import NevisAuthError, ProviderTimeoutError, RequestError, StoreUnavailableError
from ..protocol import (
    ACR_VALUES_PARAM,
    API_PARAM,
    AUDIENCE_PARAM,
    MAX_AGE_PARAM,
    PROVIDER_ERROR,
    PROVIDER_PARAM,
    PROVIDER_TIMEOUT,
    RESOURCE_PARAM,
    SCOPE_PARAM,
    SECRET_HEADER,
    STORE_UNAVAILABLE,
)
from .answers import error_answer

#: What a person reads when something unforeseen went wrong.
UNEXPECTED = (
    "Something unexpected went wrong in jupyter-nevis-auth; try again, and if it happens "
    "again, ask your administrator to look at the server's log."
)
#: A 403 that Jupyter Server or JupyterHub gave without a reason: no credentials it takes.
NOT_LET_IN = "The request was refused before jupyter-nevis-auth saw it: sign in to Jupyter first."
#: What a request may name to choose a token or a sign-in.
SELECTION_PARAMS = (
    API_PARAM,
    PROVIDER_PARAM,
    SCOPE_PARAM,
    RESOURCE_PARAM,
    AUDIENCE_PARAM,
    ACR_VALUES_PARAM,
    MAX_AGE_PARAM,
)


def error_sentence(status_code: int, kwargs: dict[str, Any]) -> str:
    """The sentence for an error answer: an HTTPError's or our error's own, else UNEXPECTED."""
    exc = kwargs.get("exc_info", (None, None))[1]
    if isinstance(exc, NevisAuthError):
        return str(exc)
    if isinstance(exc, web.HTTPError) and exc.log_message:
        return exc.log_message % exc.args if exc.args else exc.log_message
    if status_code < 500 and (exc is None or isinstance(exc, web.HTTPError)):
        if status_code == 403:
            return NOT_LET_IN
        return responses.get(status_code, "The request was refused") + "."
    return UNEXPECTED


def error_code(status_code: int, kwargs: dict[str, Any]) -> str:
    """The `error` of a JSON error answer."""
    if isinstance(kwargs.get("exc_info", (None, None))[1], StoreUnavailableError):
        return STORE_UNAVAILABLE
    return "internal_error" if status_code >= 500 else "request_refused"


def token_failure(error: NevisAuthError, log: logging.Logger, whose: str) -> tuple[int, str]:
    """The status and `error` of a token request that failed with `error`, logged once.

    A store that is down says so itself when it goes away and when it is back.
    """
    if isinstance(error, StoreUnavailableError):
        return error.status_code, STORE_UNAVAILABLE
    log.warning("No token for %s: %s", whose, error)
    if isinstance(error, ProviderTimeoutError):
        return error.status_code, PROVIDER_TIMEOUT
    return error.status_code, PROVIDER_ERROR


class NevisHandlerMixin:
    """The service, the owner, no caching, and failures logged without the query string."""

    settings: dict[str, Any]
    base_url: str
    current_user: Any
    request: HTTPServerRequest
    log: logging.Logger

    def set_default_headers(self) -> None:
        """Never cached and never in a Referer: every answer is about one person's sign-in."""
        super().set_default_headers()  # type: ignore[misc]
        self.set_header("Cache-Control", "no-store")  # type: ignore[attr-defined]
        self.set_header("Referrer-Policy", "no-referrer")  # type: ignore[attr-defined]

    @property
    def nevis(self) -> AuthCore:
        """The extension's AuthCore."""
        return self.settings["nevis_auth"]  # type: ignore[no-any-return]

    @property
    def owner(self) -> str:
        """The user this server's tokens belong to."""
        return self.settings["nevis_auth_owner"]  # type: ignore[no-any-return]

    def require_owner(self) -> str:
        """The owner, once the signed-in Jupyter user is known to be the owner."""
        hub_user = self.settings.get("nevis_auth_hub_user")
        # Under JupyterHub an admin may reach another user's server: their sign-in
        # would hand that user's kernels the admin's tokens.
        if hub_user and getattr(self.current_user, "username", None) != hub_user:
            raise web.HTTPError(403, "Only the owner of this server can use its sign-in.")
        return self.owner

    def selection_params(self) -> dict[str, str]:
        """The request's api, provider, scope, resource and audience arguments."""
        return {k: self.get_argument(k, "") for k in SELECTION_PARAMS}  # type: ignore[attr-defined]

    async def signed_out(self, user: str, return_url: str) -> bool:
        """Sign out as the page's form asks; False when that already wrote the answer."""
        try:
            url = await self.nevis.sign_out(user, self.selection_params(), return_url)
        except RequestError as e:
            self.signed_out_page(str(e), e.status_code)  # type: ignore[attr-defined]
            return False
        except NevisAuthError as e:
            self.log.warning("Provider logout for %s not started: %s", user, e)
            message = f"You are signed out here, but not at the provider: {e}"
            self.signed_out_page(message, e.status_code)  # type: ignore[attr-defined]
            return False
        if url:
            self.redirect(url)  # type: ignore[attr-defined]
            return False
        return True

    @property
    def page_paths(self) -> urls.PagePaths:
        """Where this app's pages are: a server's below its nevis/ (the hub service's below
        its prefix); every URL of a page is made from it."""
        return urls.extension_pages(self.base_url)

    def login_url(self, next_url: str | None = None) -> str:
        """Where a person starts a sign-in."""
        return self.page_paths.login(next_url)

    async def take_over(self, user: str) -> None:
        """Ready `user`'s tokens before they are read: a server holds its owner's itself (the
        hub service starts from the hub's sign-in)."""

    async def status_of(self, user: str, *, refresh: bool = False) -> dict[str, Any]:
        """The user's status, its sign-in links pointing at this app's pages."""
        await self.take_over(user)
        return await self.nevis.status(user, self.page_paths, refresh=refresh)

    def origin(self) -> str:
        """This server's origin as the browser sees it."""
        return f"{self.request.protocol}://{self.request.host}"

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """Answer an error of ours with its own status (503 while the store is down), not 500."""
        exc = kwargs.get("exc_info", (None, None))[1]
        if isinstance(exc, NevisAuthError):
            status_code = exc.status_code
        super().send_error(status_code, **kwargs)  # type: ignore[misc]

    def log_exception(
        self, typ: type[BaseException] | None, value: BaseException | None, tb: Any
    ) -> None:
        """Log a failure with the path only: the query of nevis/callback holds code and state."""
        where = f"{self.request.method} {self.request.path}"
        if isinstance(value, StoreUnavailableError):
            return  # the store says once when it goes away and once when it is back
        if isinstance(value, NevisAuthError):
            self.log.warning("%d %s: %s", value.status_code, where, value)
            return
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
        # The Authorization header's whole value, and the kernel secret wherever it came from.
        values += [
            request.headers.get(SECRET_HEADER, ""),
            self.settings.get("nevis_auth_kernel_secret", ""),
        ]
        for value in sorted(set(values), key=len, reverse=True):
            if len(value) >= 4:
                text = text.replace(value, "[redacted]")
        return text


class NevisAPIMixin(NevisHandlerMixin):
    """Base of the JSON endpoints: errors are one sentence in JSON, never a traceback."""

    set_status: Callable[..., None]
    set_header: Callable[..., None]
    finish: Callable[..., Any]

    def answer(self, status: int, body: dict[str, Any]) -> None:
        """Finish with JSON."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Answer any error as {"error", "message"} JSON."""
        error = error_code(status_code, kwargs)
        self.answer(status_code, error_answer(error, error_sentence(status_code, kwargs)))
