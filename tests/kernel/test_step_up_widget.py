"""An API's step-up challenge answered in a notebook with widgets: the cell's wait shows the
login widget, whose sign-in link asks the provider for the level the API named (acr_values);
the sign-in with the second factor ends the wait and the request is sent once more."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests import test_links
from tests.conftest import Browser
from tests.kernel.conftest import stored
from tests.kernel.test_widget_link import sign_in_with_link
from tests.kernel.view import KernelView
from tests.support.provider import OIDCTestProvider, RegisteredClient
from tests.support.resource_server import ResourceServer
from tests.test_links import LinkBrowser
from tests.test_step_up import SECOND_FACTOR, sign_in_with_factor

# A browser that has only the widget's one-time link, no Jupyter token or cookie.
anonymous_fetch = test_links.anonymous_fetch
link_browser = test_links.link_browser


@pytest.fixture(scope="module")
def vault_api(oidc_provider: OIDCTestProvider) -> Iterator[ResourceServer]:
    """An API that takes only tokens of a sign-in with the second factor (RFC 9470)."""
    with ResourceServer(oidc_provider.issuer, acr=SECOND_FACTOR) as api:
        yield api


@pytest.fixture
def nevis_config(
    oidc_provider: OIDCTestProvider, oidc_client: RegisteredClient, vault_api: ResourceServer
) -> dict[str, Any]:
    """The test server with the vault API, which asks nothing of the sign-in up front."""
    return oidc_client.nevis_settings(
        oidc_provider.issuer, http_timeout=5.0, apis={"vault": {"url": vault_api.url + "/"}}
    )


async def test_the_widget_of_a_step_up_wait_asks_for_the_apis_level(
    kernel_view: KernelView,
    browser: Browser,
    link_browser: LinkBrowser,
    redirect_uri: str,
    username: str,
    vault_api: ResourceServer,
    jp_base_url: str,
    jp_serverapp: Any,
):
    assert (await browser.sign_in(username, redirect_uri=redirect_uri)).code == 302
    vault_api.reset()
    cell = kernel_view.start_execute(
        "import json\n"
        f"response = jupyter_nevis_auth.session().get({vault_api.hello_url!r}, timeout=60)\n"
        "print(json.dumps({'status': response.status_code, "
        "'history': [r.status_code for r in response.history]}))"
    )
    # The server's sign-in page shows first, the one-time link once the wait has begun.
    widget, link = await sign_in_with_link(kernel_view)
    assert urlparse(link).path == f"{jp_base_url}nevis/link"
    assert not cell.done()

    # The person follows the widget's link: the sign-in it starts asks the provider for the
    # API's level, and the provider shows its second-factor page.
    authorize = await link_browser.follow_link(link)
    assert parse_qs(urlparse(authorize).query)["acr_values"] == [SECOND_FACTOR]
    callback = await asyncio.to_thread(
        sign_in_with_factor, authorize, username, redirect_uri, "code"
    )
    assert (await link_browser.callback(callback)).code == 302

    reply = await asyncio.wait_for(cell, 30)
    assert reply["status"] == "ok", reply
    # The cell's output: the widget's text (for frontends without widgets), then the print.
    output = reply["output"]
    result = json.loads(output[output.rindex('{"status"') :])
    assert (result["status"], result["history"]) == (200, [401])
    assert vault_api.stats() == {"requests": 2, "unauthorized": 1}
    assert "Signed in as" in kernel_view.text(widget)
    # The server holds the second factor's sign-in now, in place of the password's.
    assert (await stored(jp_serverapp)).claims["acr"] == SECOND_FACTOR
