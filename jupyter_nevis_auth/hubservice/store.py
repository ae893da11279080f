"""Deprecated (dropped in 0.3.0): use `jupyter_nevis_auth.hub.service.sql_store`."""

from __future__ import annotations

from .._deprecated import warn_moved

warn_moved("jupyter_nevis_auth.hubservice.store", "jupyter_nevis_auth.hub.service.sql_store")

from ..hub.service.sql_store import *  # noqa: E402, F403
from ..hub.service.sql_store import SQLTokenStore  # noqa: E402, F401
