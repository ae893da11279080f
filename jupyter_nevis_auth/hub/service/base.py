"""What every handler of the service shares: the AuthCore, its prefix, errors, the log."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from jinja2 import Environment
from jupyterhub.services.auth import HubOAuth, HubOAuthenticated
from tornado import web

from ...core import urls
from ...core.auth import AuthCore
from ...core.pending import PendingLogin, cookie_name
from ...web.base import NevisAPIMixin, NevisHandlerMixin
from ...web.pages import NevisPageMixin
from .auth_state import AuthStateCore
from .caller import ServerCaller, identify_server

#: The service's pages, right below its prefix: the extension's names.
LOGIN = urls.LOGIN
CALLBACK = urls.CALLBACK
LOGOUT = urls.LOGOUT
DONE = urls.DONE
LINK = urls.LINK
LINK_DONE = urls.LINK_DONE
OAUTH_CALLBACK = "oauth_callback"
Method = TypeVar("Method", bound=Callable[..., Any])


def hub_user_only(method: Method) -> Method:
    """`method` for a user signed in to JupyterHub (else sent to the hub's login)."""
    return cast(Method, web.authenticated(method))


def shows(log: logging.Logger, level: int) -> bool:
    """Whether a line of `level` logged to `log` is written by one of its handlers.

    traitlets keeps an application's logger at DEBUG and filters in its handler: a DEBUG
    line is made (a LogRecord per call) even when the handler then drops it.
    """
    if not log.isEnabledFor(level):
        return False
    logger: logging.Logger | None = log
    while logger is not None:
        if any(h.level <= level for h in logger.handlers):
            return True
        logger = logger.parent if logger.propagate else None
    return False


def log_request(handler: web.RequestHandler) -> None:
    """The access log: method, path and status; never the query (code, state) or a header."""
    request = handler.request
    status = handler.get_status()
    log = handler.settings["nevis_auth_log"]
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    probe = request.path.endswith(("/health", "/health/live"))
    if probe and status >= 500:
        level = logging.WARNING  # a stopping replica's, or one whose database is away: said
    if status < 300 and (probe or request.path.endswith(("/api/token", "/api/token/wait"))):
        # Servers and probes ask often; the refreshes behind token answers are logged
        # anyway. The line is made only when the log level shows it: not a LogRecord per
        # answer for nothing.
        if not handler.settings.get("nevis_auth_access_debug", True):
            return
        level = logging.DEBUG
    log.log(
        level,
        "%d %s %s %.1fms",
        status,
        request.method,
        request.path,
        1000 * request.request_time(),
    )


class ServiceHandler(NevisHandlerMixin, web.RequestHandler):
    """Base of the service's handlers: settings, prefix, headers, failures logged redacted."""

    def initialize(self) -> None:
        """Read the service's prefix and log from the application's settings."""
        self.base_url: str = self.settings["nevis_auth_prefix"]
        self.log: logging.Logger = self.settings["nevis_auth_log"]

    @property
    def nevis(self) -> AuthCore:
        """The service's AuthCore."""
        return self.settings["nevis_auth"]  # type: ignore[no-any-return]

    @property
    def page_paths(self) -> urls.PagePaths:
        """The service's pages, right below its prefix."""
        return urls.PagePaths(self.base_url)

    def path_of(self, page: str) -> str:
        """The absolute path of one of the service's pages."""
        return self.page_paths.url(page)

    async def take_over(self, user: str) -> None:
        """Sign in once: when the service holds no sign-in of `user`, start from the hub's."""
        if isinstance(self.nevis, AuthStateCore):
            await self.nevis.take_over(user)


class HomeHandler(ServiceHandler):
    """The prefix itself (which JupyterHub checks at start): the "signed in?" page."""

    def get(self) -> None:
        """Send the browser to the done page."""
        self.redirect(self.path_of(DONE))


class ServicePage(HubOAuthenticated, NevisPageMixin, ServiceHandler):
    """Base of the browser's pages: the hub user, by JupyterHub's OAuth; the service's paths;
    a sign-in bound to the browser and to the hub user it is for."""

    @property
    def hub_auth(self) -> HubOAuth:
        """The service's one HubOAuth (its cache and OAuth states are shared by all pages)."""
        return self.settings["hub_auth"]

    async def prepare(self) -> None:
        """Ask JupyterHub who the browser's user is without blocking the service.

        Tornado's current_user (HubOAuthenticated) asks synchronously, which stops the event
        loop until JupyterHub answers; after Authenticator.auth_refresh_age JupyterHub first
        refreshes the user, and with sign-in once its refresh asks this service: both then
        waited for the hook's timeout, every user's requests with them. Asked here, the
        answer is kept on the request, where current_user finds it.
        """
        await self.hub_auth.get_user(self, sync=False)

    def hub_user(self) -> str:
        """The name of the signed-in hub user; services and anyone else are refused."""
        model = self.current_user
        if not model or model.get("kind", "user") != "user":
            raise web.HTTPError(403, "Only JupyterHub users can sign in here.")
        return str(model["name"])

    def signer(self) -> str:
        """The signed-in hub user."""
        return self.hub_user()

    def next_url(self) -> str:
        """The request's `next`, a path on the hub; else the service's "signed in" page."""
        given = self.get_argument("next", None)
        return urls.safe_next(given, "/") if given else self.path_of(DONE)

    def bind_sign_in(self, login: PendingLogin, user: str) -> None:
        """Bind `login` to this browser and to the hub user `user`: the callback checks both."""
        self.set_secure_cookie(
            cookie_name(login.state),
            json.dumps([user, login.browser_key]),
            expires_days=None,
            max_age=int(self.nevis.config.state_ttl),
            path=self.path_of(CALLBACK),
            httponly=True,
            secure=self.request.protocol == "https",
            samesite="Lax",
        )

    def sign_in_binding(self, state: str | None) -> tuple[str | None, str | None]:
        """The hub user and browser key the sign-in's cookie holds; the cookie is used up."""
        if not state:
            return None, None
        name = cookie_name(state)
        raw = self.get_secure_cookie(name, max_age_days=1)
        self.clear_cookie(name, path=self.path_of(CALLBACK))
        try:
            user, key = json.loads(raw or b"")
        except (ValueError, TypeError):
            return None, None
        return (user, key) if isinstance(user, str) and isinstance(key, str) else (None, None)

    def render_page(self, **namespace: Any) -> str:
        """The page template, from the service's own templates."""
        templates: Environment = self.settings["nevis_auth_templates"]
        page = templates.get_template("nevis_page.html")
        return page.render(xsrf_form_html=self.xsrf_form_html, **namespace)


class ServiceAPI(NevisAPIMixin, ServiceHandler):
    """Base of the server API: only a user server's own token, answered in JSON."""

    caller: ServerCaller

    async def prepare(self) -> None:
        """Refuse anything but a user server's own JUPYTERHUB_API_TOKEN."""
        self.caller = await identify_server(self.settings["server_tokens"], self.request)

    def check_xsrf_cookie(self) -> None:
        """No XSRF check: the token travels in a header, and cookies are never read here."""
