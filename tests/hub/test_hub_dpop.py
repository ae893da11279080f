"""DPoP through the hub service: the service keeps each sign-in's key, a user's hub-mode
kernels get it with her token and prove it per request, and nobody else's server gets it.
A sign-in made in Chromium from a cell's one-time link is bound to a key as well."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
import requests

from jupyter_nevis_auth.dpop import DPoPKey
from tests.hub.console import ConsoleCell
from tests.hub.harness import HubBrowser, query
from tests.hub.service_harness import SERVICE, ServiceHub, service_api, stop_server
from tests.support.browser import chromium_or_skip
from tests.support.hub import HubSpec
from tests.support.provider import OIDCTestProvider, provider_login
from tests.support.resource_server import ResourceServer
from tests.test_frontends import in_fresh_browser
from tests.test_step_up_frontends import plain_sign_in

pytestmark = pytest.mark.hub
#: A one-time link of the service, as a cell with nobody signed in prints it.
LINK = re.compile(r"http://127\.0\.0\.1:\d+/services/nevis-auth/link\?link_token=[\w-]{40,}")

#: Kernel code: a GET through session() and what the kernel's token is bound to.
KERNEL_CALLS_API = """
import json
from jupyter_nevis_auth import get_access_token, session
response = session().get({url!r}, timeout=10)
print(json.dumps({{"code": response.status_code,
                  "history": [r.status_code for r in response.history],
                  "scheme": response.request.headers["Authorization"].split()[0],
                  "sub": response.json().get("sub"),
                  "jkt": get_access_token().dpop.thumbprint}}))
"""


def bound_answer(hub: ServiceHub, user: str, output: str) -> dict:
    """The service's token answer for `user`'s server, after checking that the kernel's
    request (KERNEL_CALLS_API's `output`) passed with a proof of the key it names."""
    values = json.loads(output.splitlines()[-1])
    assert values["code"] == 200 and values["history"] == [401]
    assert values["scheme"] == "DPoP" and values["sub"] == user
    answer = service_api(hub, "GET", "api/token", hub.server_token(user))
    assert answer.status_code == 200, answer.text
    body: dict = answer.json()
    assert body["token_type"] == "DPoP"
    assert DPoPKey.from_jwk(body["dpop_jwk"]).thumbprint == values["jkt"]
    return body


@pytest.fixture(scope="module")
def hub_provider() -> Iterator[OIDCTestProvider]:
    """A provider that binds tokens to DPoP keys and requires its nonce in every proof."""
    with OIDCTestProvider(dpop=True) as provider:
        yield provider


@pytest.fixture(scope="module")
def hub_spec() -> HubSpec:
    """The hub with the service, whose sign-ins are DPoP-bound."""
    return HubSpec(kind="service", name="dpop-hub", service_env={"NEVIS_AUTH_DPOP": "true"})


@pytest.fixture(scope="module")
def dpop_api(hub_provider: OIDCTestProvider) -> Iterator[ResourceServer]:
    """The API in DPoP mode: bound tokens only, each proof with its current nonce."""
    with ResourceServer(hub_provider.issuer, dpop=True) as api:
        yield api


def test_a_hub_mode_kernel_proves_the_services_key_and_only_its_user_gets_it(
    hub: ServiceHub, alice: HubBrowser, bob: HubBrowser, dpop_api: ResourceServer
) -> None:
    response, _ = alice.follow(SERVICE + "login?next=" + SERVICE + "done")
    callback = provider_login(
        response.headers["Location"],
        "alice",
        redirect_prefix=hub.redirect_uri,
        session=alice.provider,
    )
    assert alice.follow(callback)[0].status_code == 200

    # kernel → her hub-mode server → the service → the API, with a proof of the sign-in's key.
    server = alice.start_server("hubmode")
    output = alice.run_code(server, KERNEL_CALLS_API.format(url=dpop_api.hello_url))
    stop_server(alice, "hubmode")
    # The key the service gave her server is the one her tokens are bound to.
    body = bound_answer(hub, "alice", output)
    secret = body["dpop_jwk"]["d"]

    # Her token without the key is refused by the API.
    stolen = {"Authorization": f"DPoP {body['access_token']}"}
    assert requests.get(dpop_api.hello_url, headers=stolen, timeout=10).status_code == 401

    # bob's server gets no key of hers: he has not signed in, so no token and no key at all.
    refused = service_api(hub, "GET", "api/token", hub.server_token("bob"))
    assert refused.status_code == 401
    assert "dpop_jwk" not in refused.json() and secret not in refused.text
    assert secret not in hub.log() and secret not in output


@pytest.mark.browser
def test_a_cell_waits_for_a_chromium_sign_in_then_proves_the_new_sign_ins_key(
    hub: ServiceHub, bob: HubBrowser, dpop_api: ResourceServer
) -> None:
    chromium_or_skip()
    # bob has not signed in: the cell prints the service's one-time link and waits.
    server = bob.start_server("hubmode")
    with ConsoleCell(bob, server, KERNEL_CALLS_API.format(url=dpop_api.hello_url)) as cell:
        url = cell.shows(LINK)
        in_fresh_browser(url, plain_sign_in("bob"))
        output = cell.result()
    stop_server(bob, "hubmode")

    assert not cell.errors, cell.errors
    body = bound_answer(hub, "bob", output)
    for secret in (body["dpop_jwk"]["d"], body["access_token"]):
        assert secret not in output and secret not in hub.log()
    assert query(url)["link_token"] not in hub.log()
