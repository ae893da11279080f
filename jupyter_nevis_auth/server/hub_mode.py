"""The handlers of a user server in hub mode: pages send the browser to the hub's service,
the APIs ask the service; nothing here holds a client secret or a refresh token."""

from __future__ import annotations

from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from tornado import web

from ..core import urls
from ..protocol import (
    APIS_PATH,
    DEVICE_ID_PARAM,
    DEVICE_PATH,
    LINK_PATH,
    LINK_TOKEN_PARAM,
    MAX_WAIT,
    TOKEN_PATH,
    TOKEN_STATUS_PATH,
    WAIT_PARAM,
    WAIT_PATH,
    WAIT_SINCE_PARAM,
)
from ..web.base import SELECTION_PARAMS
from .base import NevisAPIHandler, NevisPageHandler
from .hub_client import HubServiceClient
from .kernel_api import KernelAPIHandler


class HubModeMixin:
    """The hub service's client."""

    settings: dict[str, object]

    @property
    def hub(self) -> HubServiceClient:
        """The client of the hub's jupyter-nevis-auth service."""
        return self.settings["nevis_auth_hub"]  # type: ignore[return-value]


class HubPageHandler(HubModeMixin, NevisPageHandler):
    """nevis/login, nevis/logout, nevis/done: the same page at the hub's service."""

    #: The service's page this one stands for.
    service_page = ""
    #: Whether the service's page sends the browser back here when no `next` is given.
    come_back = True

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Send the browser to the service, coming back here afterwards."""
        self.require_owner()
        params = {k: self.get_argument(k, "") for k in SELECTION_PARAMS}
        given = self.get_argument("next", None)
        if given or self.come_back:
            params["next"] = urls.safe_next(given, self.base_url)
        self.redirect(self.hub.page(self.service_page, params))


class HubLoginHandler(HubPageHandler):
    """nevis/login in hub mode."""

    service_page = "login"


class HubLogoutHandler(HubPageHandler):
    """nevis/logout in hub mode: the service's page confirms the sign-out itself."""

    service_page = "logout"
    come_back = False


class HubDoneHandler(HubPageHandler):
    """nevis/done in hub mode."""

    service_page = "done"


class HubCallbackHandler(NevisPageHandler):
    """nevis/callback in hub mode: sign-ins end at the service, never here."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Say where sign-ins end now."""
        self.page(
            "Not here",
            "On this hub, sign-ins end at the hub's sign-in service, not at this server; "
            "start again from nevis/login.",
            404,
            links=[(self.login_url(), "Sign in")],
        )


class HubStatusHandler(HubModeMixin, NevisAPIHandler):
    """nevis/api/status in hub mode: the service's status for this server's owner."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Relay the service's answer."""
        self.require_owner()
        self.answer(*await self.hub.call("GET", "api/status"))


class HubKernelTokenHandler(HubModeMixin, KernelAPIHandler):
    """nevis/api/token in hub mode: the owner's tokens, from the service."""

    @allow_unauthenticated
    async def get(self) -> None:
        """Relay the token request, with the kernel's parameters, to the service."""
        params = {
            k: self.get_argument(k, "") for k in (*SELECTION_PARAMS, "min_ttl", "force_refresh")
        }
        status, answer = await self.hub.call("GET", "api/token", params)
        login_url = answer.get("login_url")
        if isinstance(login_url, str) and login_url.startswith("/"):
            # Absolute where this server knows the hub's address: the message may be read
            # far from the hub (papermill's output, a job's log).
            answer["login_url"] = self.hub.public_origin + login_url
        self.answer(status, answer)

    @allow_unauthenticated
    async def delete(self) -> None:
        """Sign out at the service (all providers, or `provider`)."""
        params = {"provider": self.get_argument("provider", "")}
        self.answer(*await self.hub.call("DELETE", "api/token", params))


class HubKernelStatusHandler(HubModeMixin, KernelAPIHandler):
    """nevis/api/token/status in hub mode."""

    @allow_unauthenticated
    async def get(self) -> None:
        """Relay the service's status."""
        self.answer(*await self.hub.call("GET", "api/status"))


class HubKernelApisHandler(HubModeMixin, KernelAPIHandler):
    """nevis/api/token/apis in hub mode."""

    @allow_unauthenticated
    async def get(self) -> None:
        """Relay the service's API list."""
        self.answer(*await self.hub.call("GET", "api/apis"))


class HubKernelSignInHandler(HubModeMixin, KernelAPIHandler):
    """Sign-ins at another browser or device in hub mode: the service issues and runs them."""

    #: The service's endpoint this one stands for.
    service_path = ""
    #: The parameters relayed, besides those choosing a sign-in.
    relayed: tuple[str, ...] = ()

    async def relay(self, method: str) -> None:
        """Ask the service for this server's owner, with the kernel's parameters."""
        names = SELECTION_PARAMS if method == "POST" else self.relayed
        params = {k: self.get_argument(k, "") for k in names}
        self.answer(*await self.hub.call(method, self.service_path, params))

    @allow_unauthenticated
    async def post(self) -> None:
        """Start one: a one-time link, or a device sign-in."""
        await self.relay("POST")

    @allow_unauthenticated
    async def delete(self) -> None:
        """Give one up: nobody waits for it any more."""
        await self.relay("DELETE")


class HubKernelLinkHandler(HubKernelSignInHandler):
    """nevis/api/token/link in hub mode: links to the service's page, which needs no hub login."""

    service_path = "api/token/link"
    relayed = (LINK_TOKEN_PARAM,)


class HubKernelDeviceHandler(HubKernelSignInHandler):
    """nevis/api/token/device in hub mode: device sign-ins polled by the service."""

    service_path = "api/token/device"
    relayed = (DEVICE_ID_PARAM,)

    @allow_unauthenticated
    async def get(self) -> None:
        """How the device sign-in goes."""
        await self.relay("GET")


class HubKernelWaitHandler(HubModeMixin, KernelAPIHandler):
    """nevis/api/token/wait in hub mode: the cell's wait, relayed to the service."""

    @allow_unauthenticated
    async def get(self) -> None:
        """Wait at the service for the owner's token, as long as the kernel asked (bounded)."""
        params = {
            k: self.get_argument(k, "") for k in (*SELECTION_PARAMS, WAIT_PARAM, WAIT_SINCE_PARAM)
        }
        try:
            wait = min(max(float(params[WAIT_PARAM]), 0.0), MAX_WAIT)
        except ValueError:
            wait = 0.0  # the service answers the sentence
        self.answer(*await self.hub.call("GET", "api/token/wait", params, wait=wait))


#: Every handler of hub mode, by path below the server's base URL.
hub_handlers: list[tuple[str, type[web.RequestHandler]]] = [
    ("/" + urls.LOGIN_PATH, HubLoginHandler),
    ("/" + urls.CALLBACK_PATH, HubCallbackHandler),
    ("/" + urls.DONE_PATH, HubDoneHandler),
    ("/" + urls.LOGOUT_PATH, HubLogoutHandler),
    ("/" + urls.STATUS_PATH, HubStatusHandler),
    ("/" + TOKEN_PATH, HubKernelTokenHandler),
    ("/" + TOKEN_STATUS_PATH, HubKernelStatusHandler),
    ("/" + APIS_PATH, HubKernelApisHandler),
    ("/" + LINK_PATH, HubKernelLinkHandler),
    ("/" + DEVICE_PATH, HubKernelDeviceHandler),
    ("/" + WAIT_PATH, HubKernelWaitHandler),
]
