"""FAPI 2.0 in hub mode: the service signs in with profile "fapi2" (a pushed authorization
request, private_key_jwt, PKCE S256, iss and DPoP), a person signs in in Chromium from a
cell's one-time link, and the cell's request goes with a proof of the sign-in's key."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from jupyter_nevis_auth.core.client_keys import new_client_key
from tests.hub.console import ConsoleCell
from tests.hub.harness import HubBrowser
from tests.hub.service_harness import ServiceHub, service_api, stop_server
from tests.support.browser import chromium_or_skip, launched_chromium, new_context
from tests.support.client_key_files import write_client_keys
from tests.support.hub import HubSpec
from tests.support.provider import OIDCTestProvider, RegisteredClient
from tests.support.resource_server import ResourceServer
from tests.test_frontends import sign_in_at_provider
from tests.test_step_up_frontends import DONE

pytestmark = [pytest.mark.hub, pytest.mark.browser]

LINK = re.compile(r"http://127\.0\.0\.1:\d+/services/nevis-auth/link\?link_token=[\w-]{40,}")
#: Kernel code: a GET through session(), with what went out.
CELL = """
import json
from jupyter_nevis_auth import session
response = session().get({url!r}, timeout=10)
print(json.dumps({{"code": response.status_code,
                  "scheme": response.request.headers["Authorization"].split()[0],
                  "sub": response.json().get("sub")}}))
"""


@pytest.fixture(scope="module")
def private_key() -> dict[str, Any]:
    """The service's client key."""
    return new_client_key("ES256")


@pytest.fixture(scope="module")
def hub_provider() -> Iterator[OIDCTestProvider]:
    """A provider with everything FAPI 2.0 asks for: PAR, private_key_jwt, DPoP, iss, S256."""
    with OIDCTestProvider(par=True, key_auth=True, dpop=True) as provider:
        yield provider


@pytest.fixture(scope="module")
def hub_spec(tmp_path_factory: pytest.TempPathFactory, private_key: dict[str, Any]) -> HubSpec:
    """The service under profile fapi2, its client registered with the public key only."""
    key_file = tmp_path_factory.mktemp("client-key") / "client-key.json"
    public = write_client_keys(key_file, private_key)
    return HubSpec(
        kind="service",
        name="fapi2-hub",
        service_env={
            "NEVIS_AUTH_CLIENT_KEY_FILE": str(key_file),
            "NEVIS_AUTH_PROFILE": "fapi2",
            "NEVIS_AUTH_DPOP": "true",
        },
        client_options={"token_endpoint_auth_method": "private_key_jwt", "jwks": public},
    )


@pytest.fixture(scope="module")
def dpop_api(hub_provider: OIDCTestProvider) -> Iterator[ResourceServer]:
    """The API in DPoP mode: bound tokens only, each proof with its current nonce."""
    with ResourceServer(hub_provider.issuer, dpop=True) as api:
        yield api


def test_a_fapi2_sign_in_from_a_hub_mode_cell_reaches_the_api_with_a_bound_token(
    hub: ServiceHub,
    client: RegisteredClient,
    hub_provider: OIDCTestProvider,
    alice: HubBrowser,
    dpop_api: ResourceServer,
    private_key: dict[str, Any],
) -> None:
    chromium_or_skip()
    authorize_requests: list[str] = []
    server = alice.start_server("hubmode")
    with ConsoleCell(alice, server, CELL.format(url=dpop_api.hello_url)) as cell:
        url = cell.shows(LINK)
        with launched_chromium() as chromium, new_context(chromium) as context:
            page = context.new_page()
            page.on(
                "request",
                lambda r: (
                    authorize_requests.append(r.url)
                    if r.url.startswith(hub_provider.authorization_endpoint + "?")
                    else None
                ),
            )
            page.goto(url)
            page.get_by_role("button", name="Continue to sign in").click()
            sign_in_at_provider(page, "alice")
            page.get_by_text(DONE).wait_for()
        output = cell.result()
    stop_server(alice, "hubmode")

    assert not cell.errors, cell.errors
    assert json.loads(output.splitlines()[-1]) == {"code": 200, "scheme": "DPoP", "sub": "alice"}
    # Chromium went to the provider with the pushed request's reference alone.
    assert authorize_requests, "Chromium never went to the authorization endpoint"
    assert set(parse_qs(urlparse(authorize_requests[0]).query)) == {"client_id", "request_uri"}
    stats = hub_provider.stats(client.client_id)
    assert stats["par"]["ok"] == 1
    assert set(stats["client_auth"]) == {"private_key_jwt"}
    # The token the service holds is bound: without a proof of its key the API refuses it.
    body = service_api(hub, "GET", "api/token", hub.server_token("alice")).json()
    assert body["token_type"] == "DPoP"
    as_bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert requests.get(dpop_api.hello_url, headers=as_bearer, timeout=10).status_code == 401
    for secret in (private_key["d"], body["dpop_jwk"]["d"], body["access_token"]):
        assert secret not in hub.log() and secret not in output
