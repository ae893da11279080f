"""Old paths that configuration files name: they keep working, with a warning, for a while."""

from __future__ import annotations

import warnings

#: The release that drops the old paths.
DROPPED_IN = "0.3.0"


def warn_moved(old: str, new: str, stacklevel: int = 3) -> None:
    """Warn that `old` is deprecated, naming `new` and the release that drops `old`."""
    # FutureWarning, not DeprecationWarning: the reader is an admin with a config file, and
    # Python hides DeprecationWarnings raised outside __main__.
    warnings.warn(
        f"{old} is deprecated and is dropped in jupyter-nevis-auth {DROPPED_IN}; use {new}.",
        FutureWarning,
        stacklevel=stacklevel,
    )
