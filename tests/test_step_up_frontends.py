"""An API's challenge answered in the cell, end to end: a real kernel calls APIs through
session(), an API answers with an RFC 9470 step-up or an RFC 6750 insufficient_scope
challenge, the cell waits with a one-time link, a person signs in at the real provider in
Chromium (with its second factor, or skipping it), and the request is sent once more.

The kernel is driven as `jupyter console` drives it (text only: the one-time link), or as
nbclient does (nobody to sign in: LoginRequiredError).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests import test_frontends
from tests.conftest import Browser
from tests.kernel.conftest import stored
from tests.support.provider import OIDCTestProvider, RegisteredClient
from tests.support.resource_server import ResourceServer
from tests.test_frontends import LINK, Cell, Console, in_fresh_browser, sign_in_at_provider
from tests.test_step_up import PASSWORD, SECOND_FACTOR

pytestmark = pytest.mark.browser

# A kernel of the test server driven as jupyter console drives it.
console = test_frontends.console


@pytest.fixture(scope="module")
def vault_api(oidc_provider: OIDCTestProvider) -> Iterator[ResourceServer]:
    """An API that takes only tokens of a sign-in with the second factor (RFC 9470)."""
    with ResourceServer(oidc_provider.issuer, acr=SECOND_FACTOR) as api:
        yield api


@pytest.fixture(scope="module")
def ledger_api(oidc_provider: OIDCTestProvider) -> Iterator[ResourceServer]:
    """An API that takes only tokens with the scope api (RFC 6750 insufficient_scope)."""
    with ResourceServer(oidc_provider.issuer, scope="api") as api:
        yield api


@pytest.fixture
def nevis_config(
    oidc_provider: OIDCTestProvider,
    oidc_client: RegisteredClient,
    jp_http_port: int,
    vault_api: ResourceServer,
    ledger_api: ResourceServer,
) -> Any:
    """The test server with both APIs, neither asking anything of the sign-in up front, and
    a sign-in without the scope api.

    It knows its public address, so a text frontend gets a one-time link.
    """
    return oidc_client.nevis_settings(
        oidc_provider.issuer,
        http_timeout=5.0,
        public_url=f"http://127.0.0.1:{jp_http_port}",
        scopes=["openid", "offline_access", "profile"],
        apis={"vault": {"url": vault_api.url + "/"}, "ledger": {"url": ledger_api.url + "/"}},
    )


def sign_in_with_factor(username: str, factor: str, until: str) -> Any:
    """Steps for in_fresh_browser: the link's page, the provider's login form, its second-factor
    page (Verify with a code, or Skip), its consent page, then the server's page saying `until`."""

    def steps(page: Any) -> None:
        page.get_by_role("button", name="Continue to sign in").click()
        page.locator('input[name="login"]').fill(username)
        page.locator('input[name="password"]').fill("secret")
        page.locator('button[type="submit"]').click()
        page.get_by_text("Code from your authenticator").wait_for()
        page.locator('input[name="code"]').fill("123456")
        page.get_by_role("button", name="Verify" if factor == "code" else "Skip").click()
        page.get_by_role("button", name="Continue").click()
        page.get_by_text(until).first.wait_for()

    return steps


async def signed_in(browser: Browser, username: str, redirect_uri: str) -> None:
    """A plain sign-in (the password alone) at the real provider, as the browser makes it."""
    assert (await browser.sign_in(username, redirect_uri=redirect_uri)).code == 302


def plain_sign_in(username: str) -> Any:
    """Steps for in_fresh_browser: the link's page, the provider's login form and consent page."""

    def steps(page: Any) -> None:
        page.get_by_role("button", name="Continue to sign in").click()
        sign_in_at_provider(page, username)
        page.get_by_text(DONE).wait_for()

    return steps


DONE = "You can close this window"
REFUSED = "This sign-in is not used"
CALL = """
    response = session().get({url!r})
    out(status=response.status_code, history=[r.status_code for r in response.history],
        body=response.json())
"""
#: The same call through httpx with HTTPXBearerAuth: its retry is in the response's history.
HTTPX_CALL = """
    import httpx
    from jupyter_nevis_auth import HTTPXBearerAuth
    response = httpx.get({url!r}, auth=HTTPXBearerAuth(), timeout=None)
    out(status=response.status_code, history=[r.status_code for r in response.history],
        body=response.json())
"""
CALLS = {"session": CALL, "httpx": HTTPX_CALL}


@pytest.mark.parametrize("client", ["session", "httpx"])
async def test_a_step_up_challenge_waits_for_the_second_factor_and_retries_once(
    client: str,
    console: Console,
    browser: Browser,
    redirect_uri: str,
    username: str,
    vault_api: ResourceServer,
    jp_serverapp: Any,
):
    await signed_in(browser, username, redirect_uri)
    vault_api.reset()
    cell = Cell(console, CALLS[client].format(url=vault_api.hello_url))
    url = await cell.shows(LINK)
    # The provider shows its second-factor page only to a request with that acr_values.
    await asyncio.to_thread(in_fresh_browser, url, sign_in_with_factor(username, "code", DONE))

    output = await cell.result()
    assert not cell.errors, cell.errors
    result = json.loads(output.splitlines()[-1])
    assert (result["status"], result["history"]) == (200, [401])
    assert result["body"]["sub"] == username
    assert vault_api.stats() == {"requests": 2, "unauthorized": 1}
    tokens = await stored(jp_serverapp)
    assert tokens.claims["acr"] == SECOND_FACTOR
    assert tokens.access_token not in output and tokens.refresh_token not in output


@pytest.mark.parametrize("client", ["session", "httpx"])
async def test_an_insufficient_scope_challenge_waits_for_a_sign_in_with_the_scope(
    client: str,
    console: Console,
    browser: Browser,
    redirect_uri: str,
    username: str,
    ledger_api: ResourceServer,
):
    await signed_in(browser, username, redirect_uri)
    ledger_api.reset()
    cell = Cell(console, CALLS[client].format(url=ledger_api.hello_url))
    url = await cell.shows(LINK)
    await asyncio.to_thread(in_fresh_browser, url, plain_sign_in(username))

    output = await cell.result()
    assert not cell.errors, cell.errors
    result = json.loads(output.splitlines()[-1])
    assert (result["status"], result["history"]) == (200, [403])
    assert "api" in result["body"]["scope"].split()
    assert ledger_api.stats() == {"requests": 2, "unauthorized": 0, "forbidden": 1}


async def test_a_sign_in_that_skips_the_second_factor_ends_the_cell_with_a_sentence(
    console: Console,
    browser: Browser,
    redirect_uri: str,
    username: str,
    vault_api: ResourceServer,
    jp_serverapp: Any,
):
    await signed_in(browser, username, redirect_uri)
    before = await stored(jp_serverapp)
    vault_api.reset()
    cell = Cell(console, CALL.format(url=vault_api.hello_url))
    url = await cell.shows(LINK)
    text = await asyncio.to_thread(
        in_fresh_browser, url, sign_in_with_factor(username, "skip", REFUSED)
    )

    refusal = (
        f"{REFUSED}: a sign-in at the level {SECOND_FACTOR} was asked for, and the provider "
        f"signed you in at the level {PASSWORD}; sign in again and complete the stronger "
        "sign-in the provider offers (a second factor, say)."
    )
    assert refusal in " ".join(text.split())
    await cell.result()
    assert cell.errors == [
        f"LoginRequiredError: The API at {vault_api.hello_url} asked for a sign-in at the level "
        f"{SECOND_FACTOR}. {refusal}"
    ]
    # Not sent again, and the sign-in held is the one from before.
    assert vault_api.stats() == {"requests": 1, "unauthorized": 1}
    assert (await stored(jp_serverapp)).access_token == before.access_token


async def test_where_nobody_can_sign_in_the_error_names_what_the_api_asked_for(
    console: Console,
    browser: Browser,
    redirect_uri: str,
    username: str,
    vault_api: ResourceServer,
    ledger_api: ResourceServer,
):
    await signed_in(browser, username, redirect_uri)
    vault_api.reset()
    # As nbclient runs a cell: no stdin, so nobody is there to sign in.
    values = await console.values(f"""
        errors = {{}}
        for name, url in [("vault", {vault_api.hello_url!r}), ("ledger", {ledger_api.hello_url!r})]:
            try:
                session().get(url)
            except LoginRequiredError as e:
                errors[name] = [str(e), e.login_url, e.api, e.request]
        out(errors=errors)
    """)

    vault, ledger = values["errors"]["vault"], values["errors"]["ledger"]
    assert vault[0].startswith(
        f"The API at {vault_api.hello_url} asked for a sign-in at the level {SECOND_FACTOR}. "
    )
    assert vault[0].endswith(f"Sign in for the API vault at {vault[1]}, then run this again.")
    assert parse_qs(urlparse(vault[1]).query) == {"api": ["vault"], "acr_values": [SECOND_FACTOR]}
    assert vault[2:] == ["vault", {"api": "vault", "acr_values": SECOND_FACTOR}]
    assert ledger[0].startswith(f"The API at {ledger_api.hello_url} asked for the scope api. ")
    assert parse_qs(urlparse(ledger[1]).query) == {"api": ["ledger"], "scope": ["api"]}
    assert ledger[2:] == ["ledger", {"api": "ledger", "scope": "api"}]
    assert vault_api.stats() == {"requests": 1, "unauthorized": 1}
