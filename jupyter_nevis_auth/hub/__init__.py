"""What runs with JupyterHub: the hooks the hub calls, and the hub service (`service/`)."""

from __future__ import annotations

from typing import Any

_MOVED = {"user_redirect_hook": "jupyter_nevis_auth.hub.redirect_hook"}


def __getattr__(name: str) -> Any:
    """`jupyter_nevis_auth.hub.user_redirect_hook`, the old path, with a warning."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    from .._deprecated import warn_moved

    warn_moved(f"{__name__}.{name}", f"{_MOVED[name]}.{name}")
    return getattr(import_module(_MOVED[name]), name)
