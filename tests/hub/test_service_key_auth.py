"""The hub service signs in with private_key_jwt and pushed authorization requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from jupyter_nevis_auth.core.client_keys import new_client_key
from tests.hub.harness import HubBrowser
from tests.hub.service_harness import SERVICE, ServiceHub
from tests.support.client_key_files import write_client_keys
from tests.support.hub import HubSpec
from tests.support.provider import OIDCTestProvider, RegisteredClient, provider_login


@pytest.fixture(scope="module")
def private_key() -> dict[str, Any]:
    """The service's client key."""
    return new_client_key("ES256")


@pytest.fixture(scope="module")
def hub_provider() -> Iterator[OIDCTestProvider]:
    """A provider that takes pushed authorization requests and private_key_jwt."""
    with OIDCTestProvider(par=True, key_auth=True) as provider:
        yield provider


@pytest.fixture(scope="module")
def hub_spec(tmp_path_factory: pytest.TempPathFactory, private_key: dict[str, Any]) -> HubSpec:
    """The service with a key file, its client registered with the public key only."""
    key_file = tmp_path_factory.mktemp("client-key") / "client-key.json"
    public = write_client_keys(key_file, private_key)
    return HubSpec(
        kind="service",
        name="key-auth-hub",
        service_env={"NEVIS_AUTH_CLIENT_KEY_FILE": str(key_file)},
        client_options={"token_endpoint_auth_method": "private_key_jwt", "jwks": public},
    )


@pytest.fixture(scope="module")
def alice(hub: ServiceHub) -> Iterator[HubBrowser]:
    """alice's browser, signed in to the hub."""
    with hub.browser("alice") as browser:
        browser.log_in()
        yield browser


def test_a_sign_in_at_the_service_pushes_its_request_and_authenticates_with_the_key(
    hub: ServiceHub,
    client: RegisteredClient,
    hub_provider: OIDCTestProvider,
    alice: HubBrowser,
    private_key: dict[str, Any],
) -> None:
    response, visited = alice.follow(SERVICE + "login?next=" + SERVICE + "done")
    assert response.is_redirect, f"{response.status_code} at {visited[-1]}: {response.text}"
    authorize = response.headers["Location"]
    assert authorize.startswith(hub_provider.authorization_endpoint + "?")
    assert set(parse_qs(urlparse(authorize).query)) == {"client_id", "request_uri"}
    callback = provider_login(
        authorize, "alice", redirect_prefix=hub.redirect_uri, session=alice.provider
    )
    page, visited = alice.follow(callback)
    assert visited[-1].endswith(SERVICE + "done"), f"{page.status_code}: {page.text}"
    assert "Signed in as" in page.text

    stats = hub_provider.stats(client.client_id)
    assert stats["par"]["ok"] == 1
    assert stats["token"]["authorization_code"]["ok"] == 1
    assert set(stats["client_auth"]) == {"private_key_jwt"}
    assert private_key["d"] not in hub.log()


def test_the_service_publishes_the_public_key_to_anyone(
    hub: ServiceHub, private_key: dict[str, Any]
) -> None:
    response = requests.get(hub.url + SERVICE + "jwks.json", timeout=10)
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert [k["kid"] for k in keys] == [private_key["kid"]]
    assert "d" not in keys[0]
