"""Deprecated (dropped in 0.3.0): use `jupyter_nevis_auth.core.file_store`."""

from __future__ import annotations

from ._deprecated import warn_moved

warn_moved("jupyter_nevis_auth.filestore", "jupyter_nevis_auth.core.file_store")

from .core.file_store import *  # noqa: E402, F403
from .core.file_store import EncryptedFileTokenStore  # noqa: E402, F401

if __name__ == "__main__":
    from .core.store_key import old_command

    old_command()
