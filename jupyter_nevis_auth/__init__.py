"""jupyter-nevis-auth: OpenID Connect sign-in for Jupyter, and fresh access tokens in notebooks."""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .errors import (
    LoginRequiredError,
    NevisAuthError,
    NotConfiguredError,
    TokenServiceError,
)

__all__ = [
    "LoginRequiredError",
    "NevisAuthError",
    "NotConfiguredError",
    "TokenServiceError",
    "__version__",
]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    # Imported here so that `import jupyter_nevis_auth` in a kernel stays light.
    from .app import NevisAuthApp

    return [{"module": "jupyter_nevis_auth.app", "app": NevisAuthApp}]
