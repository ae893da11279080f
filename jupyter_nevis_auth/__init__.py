"""jupyter-nevis-auth: OpenID Connect sign-in for Jupyter, and fresh access tokens in notebooks."""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .errors import (
    LoginRequiredError,
    NevisAuthError,
    NoAPIForURLError,
    NotConfiguredError,
    TokenServiceError,
)

#: The kernel API, imported on first use so that loading the server extension stays light.
_KERNEL_API = (
    "BearerAuth",
    "HTTPXBearerAuth",
    "Token",
    "dpop_headers",
    "get_access_token",
    "get_id_token",
    "has_interactive_frontend",
    "session",
    "whoami",
)
#: The sign-in widget, imported on first use too: it needs ipywidgets.
_WIDGET_API = ("LoginWidget", "login")

__all__ = [
    "BearerAuth",
    "LoginRequiredError",
    "LoginWidget",
    "NevisAuthError",
    "NoAPIForURLError",
    "NotConfiguredError",
    "Token",
    "TokenServiceError",
    "__version__",
    "dpop_headers",
    "get_access_token",
    "get_id_token",
    "has_interactive_frontend",
    "login",
    "session",
    "whoami",
]


def __getattr__(name: str) -> Any:
    if name in _KERNEL_API:
        from . import kernel

        value = getattr(kernel, name)
    elif name in _WIDGET_API:
        from . import widget

        value = getattr(widget, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    # Imported here so that `import jupyter_nevis_auth` in a kernel stays light.
    from .server.app import NevisAuthApp

    return [{"module": "jupyter_nevis_auth.server.app", "app": NevisAuthApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    # The JupyterLab extension built into labextension/ (for `jupyter labextension develop`).
    return [{"src": "labextension", "dest": "jupyter-nevis-auth"}]
