"""Deprecated: the `jupyter-nevis-auth-hub` command is `jupyter-nevis-auth-service` now."""

from __future__ import annotations

import sys

from .._deprecated import DROPPED_IN


def main() -> None:
    """Run the service, after saying on stderr which command to use now."""
    print(
        f"jupyter-nevis-auth-hub is deprecated and is dropped in jupyter-nevis-auth {DROPPED_IN}; "
        "use jupyter-nevis-auth-service.",
        file=sys.stderr,
    )
    from ..hub.service.app import main as service_main

    service_main()
