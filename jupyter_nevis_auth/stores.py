"""Deprecated (dropped in 0.3.0): use `jupyter_nevis_auth.core.stores`."""

from __future__ import annotations

from ._deprecated import warn_moved

warn_moved("jupyter_nevis_auth.stores", "jupyter_nevis_auth.core.stores")

from .core.stores import *  # noqa: E402, F403
from .core.stores import MemoryTokenStore, TokenStore  # noqa: E402, F401
