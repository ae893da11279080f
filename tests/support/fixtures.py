"""Pytest fixtures for the OIDC test providers and the protected test APIs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.provider import OIDCTestProvider
from tests.support.resource_server import MODELS_AUDIENCE, SALES_AUDIENCE, ResourceServer

__all__ = [
    "models_api",
    "oidc_provider",
    "resource_server",
    "sales_api",
    "second_oidc_provider",
]


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OIDCTestProvider]:
    """One oidc-provider for the whole test session; register clients with add_client()."""
    with OIDCTestProvider() as provider:
        yield provider


@pytest.fixture(scope="session")
def second_oidc_provider() -> Iterator[OIDCTestProvider]:
    """Another provider for the session: its own issuer, port, keys, clients and counters."""
    with OIDCTestProvider() as provider:
        yield provider


@pytest.fixture(scope="session")
def resource_server(oidc_provider: OIDCTestProvider) -> Iterator[ResourceServer]:
    """The protected API (`GET /api/hello`) trusting the session's provider."""
    with ResourceServer(oidc_provider.issuer) as server:
        yield server


@pytest.fixture(scope="session")
def sales_api(oidc_provider: OIDCTestProvider) -> Iterator[ResourceServer]:
    """An API for https://sales.test tokens with scope sales.read from the session's provider."""
    with ResourceServer(oidc_provider.issuer, audience=SALES_AUDIENCE, scope="sales.read") as api:
        yield api


@pytest.fixture(scope="session")
def models_api(second_oidc_provider: OIDCTestProvider) -> Iterator[ResourceServer]:
    """An API for https://models.test tokens with scope models.read from the second provider."""
    with ResourceServer(
        second_oidc_provider.issuer, audience=MODELS_AUDIENCE, scope="models.read"
    ) as api:
        yield api
