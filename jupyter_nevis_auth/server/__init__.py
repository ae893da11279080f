"""The extension's tornado handlers, thin: parse the request, call the AuthCore, answer."""

from __future__ import annotations

from tornado.web import RequestHandler

from ..core import urls
from ..core.links import LINK_DONE_PATH, LINK_PAGE_PATH
from ..protocol import APIS_PATH, DEVICE_PATH, LINK_PATH, TOKEN_PATH, TOKEN_STATUS_PATH, WAIT_PATH
from ..web.client_jwks import CLIENT_JWKS_PATH
from .client_jwks import ClientJwksHandler
from .kernel_api import KernelApisHandler, KernelStatusHandler, KernelTokenHandler
from .link_pages import LinkDoneHandler, LinkHandler
from .pages import CallbackHandler, DoneHandler, LoginHandler
from .sign_out import LogoutHandler
from .signin_api import KernelDeviceHandler, KernelLinkHandler, KernelWaitHandler
from .status_api import StatusHandler

#: Every handler, by its path below the server's base URL.
default_handlers: list[tuple[str, type[RequestHandler]]] = [
    ("/" + urls.LOGIN_PATH, LoginHandler),
    ("/" + urls.CALLBACK_PATH, CallbackHandler),
    ("/" + urls.DONE_PATH, DoneHandler),
    ("/" + urls.LOGOUT_PATH, LogoutHandler),
    ("/" + urls.STATUS_PATH, StatusHandler),
    ("/" + TOKEN_PATH, KernelTokenHandler),
    ("/" + TOKEN_STATUS_PATH, KernelStatusHandler),
    ("/" + APIS_PATH, KernelApisHandler),
    ("/" + LINK_PAGE_PATH, LinkHandler),
    ("/" + LINK_DONE_PATH, LinkDoneHandler),
    ("/" + LINK_PATH, KernelLinkHandler),
    ("/" + DEVICE_PATH, KernelDeviceHandler),
    ("/" + WAIT_PATH, KernelWaitHandler),
    ("/" + CLIENT_JWKS_PATH, ClientJwksHandler),
]
