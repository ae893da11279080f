"""What the hub test modules share: their hub, its users, and what passed through the hub.

Each module starts a hub of its own: a module says which by overriding `hub_spec` (and
`hub_provider`, for another provider than the session's); `hub_and_client`, `hub` and
`client` start it and stop it after the module's last test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.hub.harness import HubBrowser, JupyterHub
from tests.support.hub import HubSpec, running_hub
from tests.support.provider import OIDCTestProvider, RegisteredClient


@pytest.fixture(scope="module")
def hub_spec() -> HubSpec:
    """Which hub the module runs: a per-server hub unless the module says otherwise."""
    return HubSpec()


@pytest.fixture(scope="module")
def hub_provider(oidc_provider: OIDCTestProvider) -> OIDCTestProvider:
    """The provider the module's hub signs in at: the session's unless the module says so."""
    return oidc_provider


@pytest.fixture(scope="module")
def hub_and_client(
    hub_spec: HubSpec, hub_provider: OIDCTestProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, RegisteredClient]]:
    """The module's running hub and its client; stopped with its proxy and servers at the end."""
    with running_hub(hub_spec, hub_provider, tmp_path_factory.mktemp(hub_spec.name)) as running:
        yield running


@pytest.fixture(scope="module")
def hub(hub_and_client: tuple[Any, RegisteredClient]) -> Any:
    """The module's running hub."""
    return hub_and_client[0]


@pytest.fixture(scope="module")
def client(hub_and_client: tuple[Any, RegisteredClient]) -> RegisteredClient:
    """The provider's client of the module's hub (and its service)."""
    return hub_and_client[1]


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
