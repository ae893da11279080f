"""Deprecated (dropped in 0.3.0): use `jupyter_nevis_auth.hub.refresh_hook`."""

from __future__ import annotations

from .._deprecated import warn_moved

warn_moved("jupyter_nevis_auth.hubservice.hook", "jupyter_nevis_auth.hub.refresh_hook")

from ..hub.refresh_hook import *  # noqa: E402, F403
from ..hub.refresh_hook import refresh_user_hook  # noqa: E402, F401
