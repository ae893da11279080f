"""What every handler of the service shares: the AuthService, its prefix, errors, the log."""

from __future__ import annotations

import logging
from typing import Any

from jinja2 import Environment
from jupyterhub.services.auth import HubOAuth, HubOAuthenticated
from tornado import web

from .. import urls
from ..service import AuthService
from ..web.base import NevisAPIMixin, NevisHandlerMixin, NevisPageMixin
from .auth import ServerCaller, identify_server
from .authstate import AuthStateService

LOGIN = "login"
CALLBACK = "callback"
LOGOUT = "logout"
DONE = "done"
OAUTH_CALLBACK = "oauth_callback"


def log_request(handler: web.RequestHandler) -> None:
    """The access log: method, path and status; never the query (code, state) or a header."""
    request = handler.request
    status = handler.get_status()
    log = handler.settings["nevis_auth_log"]
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    if status < 300 and request.path.endswith(("/api/token", "/api/token/wait")):
        level = logging.DEBUG  # servers ask often; the refreshes behind them are logged anyway
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
    def nevis(self) -> AuthService:
        """The service's AuthService."""
        return self.settings["nevis_auth"]  # type: ignore[no-any-return]

    def path_of(self, page: str) -> str:
        """The absolute path of one of the service's pages."""
        return self.base_url + page

    def login_url(self, next_url: str | None = None) -> str:
        """Where a person starts a sign-in at the service."""
        return urls.with_query(self.path_of(LOGIN), {"next": next_url} if next_url else {})

    def service_login_url(self, url: str) -> str:
        """A sign-in URL shaped as the extension's (<prefix>nevis/login?...), as the service's."""
        made = urls.join(self.base_url, urls.LOGIN_PATH)
        return self.path_of(LOGIN) + url[len(made) :] if url.startswith(made) else url

    async def take_over(self, user: str) -> None:
        """Sign in once: when the service holds no sign-in of `user`, start from the hub's."""
        if isinstance(self.nevis, AuthStateService):
            await self.nevis.take_over(user)

    async def status_of(self, user: str, *, refresh: bool = False) -> dict[str, Any]:
        """The user's Status JSON, every sign-in link pointing at the service."""
        await self.take_over(user)
        status = await self.nevis.status(user, self.base_url, refresh=refresh)
        parts = [status, *status.get("providers", {}).values(), *status.get("apis", {}).values()]
        for part in parts:
            if "login_url" in part:
                part["login_url"] = self.service_login_url(part["login_url"])
        return status


class HomeHandler(ServiceHandler):
    """The prefix itself (which JupyterHub checks at start): the "signed in?" page."""

    def get(self) -> None:
        """Send the browser to the done page."""
        self.redirect(self.path_of(DONE))


class ServicePage(HubOAuthenticated, NevisPageMixin, ServiceHandler):
    """Base of the browser's pages: the hub user, by JupyterHub's OAuth; one-sentence errors."""

    @property
    def hub_auth(self) -> HubOAuth:
        """The service's one HubOAuth (its cache and OAuth states are shared by all pages)."""
        return self.settings["hub_auth"]

    def hub_user(self) -> str:
        """The name of the signed-in hub user; services and anyone else are refused."""
        model = self.current_user
        if not model or model.get("kind", "user") != "user":
            raise web.HTTPError(403, "Only JupyterHub users can sign in here.")
        return str(model["name"])

    def next_url(self) -> str:
        """The request's `next`, a path on the hub; else the service's "signed in" page."""
        given = self.get_argument("next", None)
        return urls.safe_next(given, "/") if given else self.path_of(DONE)

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
