"""What notebooks import: the current access token, and HTTP clients that send it.

This package imports only the standard library and requests, never Jupyter, so it is
cheap to import; httpx and ipywidgets are imported when a name needing them is first used.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..protocol import (
    DEFAULT_MIN_TTL,
    ENV_CA,
    ENV_ERROR,
    ENV_LOGIN_TIMEOUT,
    ENV_LOGIN_URL,
    ENV_SECRET,
    ENV_TIMEOUT,
    ENV_URL,
    SECRET_HEADER,
    SERVER_ENV,
)
from .api import get_access_token, get_id_token, whoami
from .client import (
    CONNECT_TIMEOUT,
    DEFAULT_LOGIN_TIMEOUT,
    DEFAULT_TIMEOUT,
    MAX_CACHE_AGE,
    NOT_IN_SERVER,
)
from .dpop_auth import dpop_headers
from .frontend import has_interactive_frontend
from .requests_auth import BearerAuth, session
from .token import Token

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_LOGIN_TIMEOUT",
    "DEFAULT_MIN_TTL",
    "DEFAULT_TIMEOUT",
    "ENV_CA",
    "ENV_ERROR",
    "ENV_LOGIN_TIMEOUT",
    "ENV_LOGIN_URL",
    "ENV_SECRET",
    "ENV_TIMEOUT",
    "ENV_URL",
    "MAX_CACHE_AGE",
    "NOT_IN_SERVER",
    "SECRET_HEADER",
    "SERVER_ENV",
    "BearerAuth",
    "LoginWidget",
    "Token",
    "dpop_headers",
    "get_access_token",
    "get_id_token",
    "has_interactive_frontend",
    "login",
    "session",
    "whoami",
]

#: Names imported on first use, by module: httpx is optional, ipywidgets is heavy.
_LAZY = {"HTTPXBearerAuth": "httpx_auth", "LoginWidget": "widget", "login": "widget"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
