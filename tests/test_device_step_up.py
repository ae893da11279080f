"""An API's step-up challenge answered with a device code: a text frontend of a server that
has no public address gets a device code, the sign-in it starts asks the provider for the
level the API named, and the person's second factor at the provider's pages ends the wait."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests import test_frontends
from tests.conftest import Browser
from tests.kernel.conftest import stored
from tests.support.provider import OIDCTestProvider, RegisteredClient
from tests.support.resource_server import ResourceServer
from tests.test_frontends import DEVICE_LINK, Cell, Console, in_fresh_browser
from tests.test_step_up import SECOND_FACTOR

pytestmark = pytest.mark.browser

# The device flow's provider and client, and a kernel driven as jupyter console drives it.
device_provider = test_frontends.device_provider
client_options = test_frontends.client_options
oidc_client = test_frontends.oidc_client
console = test_frontends.console


@pytest.fixture(scope="module")
def vault_api(device_provider: OIDCTestProvider) -> Iterator[ResourceServer]:
    """An API that takes only tokens of a sign-in with the second factor (RFC 9470)."""
    with ResourceServer(device_provider.issuer, acr=SECOND_FACTOR) as api:
        yield api


@pytest.fixture
def nevis_config(
    device_provider: OIDCTestProvider, oidc_client: RegisteredClient, vault_api: ResourceServer
) -> Any:
    """Device sign-ins offered, and no public address: a text frontend gets a device code."""
    return oidc_client.nevis_settings(
        device_provider.issuer,
        http_timeout=5.0,
        device_flow=True,
        apis={"vault": {"url": vault_api.url + "/"}},
    )


def confirm_with_second_factor(username: str) -> Any:
    """Steps for in_fresh_browser at the device code's page: confirm the code, the login form,
    the second-factor page with a code, the consent page."""

    def steps(page: Any) -> None:
        page.get_by_role("button", name="Continue").first.click()
        page.locator('input[name="login"]').fill(username)
        page.locator('input[name="password"]').fill("secret")
        page.locator('button[type="submit"]').click()
        page.get_by_text("Code from your authenticator").wait_for()
        page.locator('input[name="code"]').fill("123456")
        page.get_by_role("button", name="Verify").click()
        page.get_by_role("button", name="Continue").click()
        page.get_by_text("Sign-in Success").wait_for()

    return steps


CALL = """
response = session().get({url!r})
out(status=response.status_code, history=[r.status_code for r in response.history])
"""


async def test_a_step_up_challenge_waits_for_a_device_sign_in_with_the_second_factor(
    console: Console,
    browser: Browser,
    redirect_uri: str,
    username: str,
    vault_api: ResourceServer,
    jp_serverapp: Any,
):
    assert (await browser.sign_in(username, redirect_uri=redirect_uri)).code == 302
    vault_api.reset()
    cell = Cell(console, CALL.format(url=vault_api.hello_url))
    complete = await cell.shows(DEVICE_LINK)
    # The provider shows its second-factor page only to a sign-in asked with acr_values.
    await asyncio.to_thread(in_fresh_browser, complete, confirm_with_second_factor(username))

    output = await cell.result()
    assert not cell.errors, cell.errors
    assert json.loads(output.splitlines()[-1]) == {"status": 200, "history": [401]}
    assert vault_api.stats() == {"requests": 2, "unauthorized": 1}
    assert (await stored(jp_serverapp)).claims["acr"] == SECOND_FACTOR
