"""A device sign-in (RFC 8628) with DPoP on: the cell shows the device code, a person confirms
it at the provider's own pages in Chromium, and the token the kernel gets is bound to the
sign-in's key, which its requests prove."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests import test_frontends
from tests.kernel.conftest import stored
from tests.support.provider import DEVICE_CODE, OIDCTestProvider, RegisteredClient
from tests.support.resource_server import ResourceServer
from tests.test_frontends import DEVICE_LINK, Cell, Console, in_fresh_browser, sign_in_at_provider

pytestmark = pytest.mark.browser

# A kernel of the test server driven as jupyter console drives it, and the device flow's
# client at the provider.
console = test_frontends.console
client_options = test_frontends.client_options
oidc_client = test_frontends.oidc_client


@pytest.fixture(scope="module")
def device_provider() -> Iterator[OIDCTestProvider]:
    """A provider with the device flow that binds tokens to DPoP keys (with its nonces)."""
    with OIDCTestProvider(device_flow=True, dpop=True) as provider:
        yield provider


@pytest.fixture(scope="module")
def dpop_api(device_provider: OIDCTestProvider) -> Iterator[ResourceServer]:
    """The API in DPoP mode: bound tokens only, each proof with its current nonce."""
    with ResourceServer(device_provider.issuer, dpop=True) as api:
        yield api


@pytest.fixture
def nevis_config(
    device_provider: OIDCTestProvider, oidc_client: RegisteredClient, jp_http_port: int
) -> Any:
    """Device sign-ins offered (a text frontend gets a device code), DPoP on."""
    return oidc_client.nevis_settings(
        device_provider.issuer,
        http_timeout=5.0,
        device_flow=True,
        dpop=True,
        public_url=f"http://127.0.0.1:{jp_http_port}",
    )


CALL = """
nevis.login(method='device')
response = session().get({url!r}, timeout=10)
out(code=response.status_code, scheme=response.request.headers["Authorization"].split()[0],
    sub=response.json().get("sub"), bound=get_access_token().dpop is not None)
"""


async def test_a_device_sign_in_is_bound_to_a_key_the_kernels_requests_prove(
    console: Console,
    username: str,
    device_provider: OIDCTestProvider,
    oidc_client: RegisteredClient,
    dpop_api: ResourceServer,
    jp_serverapp: Any,
):
    cell = Cell(console, CALL.format(url=dpop_api.hello_url))
    complete = await cell.shows(DEVICE_LINK)

    def confirm(page: Any) -> None:
        page.get_by_role("button", name="Continue").first.click()
        sign_in_at_provider(page, username)
        page.get_by_text("Sign-in Success").wait_for()

    await asyncio.to_thread(in_fresh_browser, complete, confirm)
    output = await cell.result()
    assert not cell.errors, cell.errors
    values = json.loads(output.splitlines()[-1])
    assert values == {"code": 200, "scheme": "DPoP", "sub": username, "bound": True}
    # The device grant's token request carried the proof: the provider bound the tokens.
    tokens = await stored(jp_serverapp)
    assert tokens.token_type == "DPoP" and tokens.dpop_jwk is not None
    assert device_provider.stats(oidc_client.client_id)["token"][DEVICE_CODE]["ok"] == 1
    for secret in (tokens.dpop_jwk["d"], tokens.access_token, tokens.refresh_token):
        assert secret not in output
