"""The extension's tornado handlers, thin: parse the request, call the AuthService, answer."""

from __future__ import annotations

from tornado.web import RequestHandler

from .. import urls
from ..protocol import APIS_PATH, TOKEN_PATH, TOKEN_STATUS_PATH
from .api import StatusHandler
from .kernel_api import KernelApisHandler, KernelStatusHandler, KernelTokenHandler
from .pages import CallbackHandler, DoneHandler, LoginHandler, LogoutHandler

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
]
