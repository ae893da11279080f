"""Hub mode: an API's step-up challenge answered in the cell, through the hub's service.

A real JupyterHub runs the service against the real test provider; alice has signed in at
the service with her password. A console kernel of her hub-mode server calls an API that
asks for the second factor: the cell prints the service's one-time link, she signs in in
Chromium with the second factor, and the request is sent once more and accepted.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator

import pytest

from tests.hub.console import ConsoleCell
from tests.hub.harness import HubBrowser, query
from tests.hub.service_harness import SERVICE, ServiceHub, service_api
from tests.support.browser import chromium_or_skip
from tests.support.hub import HubSpec
from tests.support.provider import OIDCTestProvider, provider_login
from tests.support.resource_server import ResourceServer
from tests.test_frontends import in_fresh_browser
from tests.test_step_up import SECOND_FACTOR
from tests.test_step_up_frontends import CALL, DONE, sign_in_with_factor

pytestmark = [pytest.mark.hub, pytest.mark.browser]

#: The cell: the API called through session(), after what the tests' kernels import.
CELL = """
import json
from jupyter_nevis_auth import session

def out(**values):
    print(json.dumps(values))
""" + textwrap.dedent(CALL)
LINK = re.compile(r"http://127\.0\.0\.1:\d+/services/nevis-auth/link\?link_token=[\w-]{40,}")


@pytest.fixture(scope="module")
def vault_api(oidc_provider: OIDCTestProvider) -> Iterator[ResourceServer]:
    """An API that takes only tokens of a sign-in with the second factor (RFC 9470)."""
    with ResourceServer(oidc_provider.issuer, acr=SECOND_FACTOR) as api:
        yield api


@pytest.fixture(scope="module")
def hub_spec(vault_api: ResourceServer) -> HubSpec:
    """The hub with the service, which knows the API and asks nothing of the sign-in up front."""
    return HubSpec(kind="service", name="step-up-hub", apis={"vault": {"url": vault_api.url}})


def test_a_step_up_challenge_in_hub_mode_waits_for_the_second_factor_and_retries_once(
    hub: ServiceHub, alice: HubBrowser, vault_api: ResourceServer
) -> None:
    chromium_or_skip()
    response, _ = alice.follow(SERVICE + "login?next=" + SERVICE + "done")
    callback = provider_login(
        response.headers["Location"],
        "alice",
        redirect_prefix=hub.redirect_uri,
        session=alice.provider,
    )
    assert alice.follow(callback)[0].status_code == 200
    before = service_api(hub, "GET", "api/token", hub.server_token("alice")).json()

    server = alice.start_server("hubmode")  # in hub mode: it asks the service
    with ConsoleCell(alice, server, CELL.format(url=vault_api.hello_url)) as cell:
        url = cell.shows(LINK)
        in_fresh_browser(url, sign_in_with_factor("alice", "code", DONE))
        output = cell.result()

    assert not cell.errors, cell.errors
    result = json.loads(output.splitlines()[-1])
    assert (result["status"], result["history"]) == (200, [401])
    assert result["body"]["sub"] == "alice"
    # The service holds the second factor's sign-in now, in place of the password's.
    after = service_api(hub, "GET", "api/token", hub.server_token("alice")).json()
    assert after["access_token"] != before["access_token"]
    for token in (before["access_token"], after["access_token"]):
        assert token not in output and token not in hub.log()
    assert query(url)["link_token"] not in hub.log()
