"""What the hub test modules share: their hub users, and what passed through the hub.

Each module starts its own hub (a `hub` fixture of its own); these fixtures use it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hub.harness import HubBrowser, JupyterHub


@pytest.fixture(scope="module")
def seen() -> list[str]:
    """Links, codes, states and tokens that passed through the hub, to look for in its log."""
    return []


@pytest.fixture(scope="module")
def alice(hub: JupyterHub) -> Iterator[HubBrowser]:
    """alice, signed in to the module's hub, her default server running."""
    yield from hub.user("alice")


@pytest.fixture(scope="module")
def bob(hub: JupyterHub) -> Iterator[HubBrowser]:
    """bob, signed in to the module's hub, his default server running."""
    yield from hub.user("bob")
