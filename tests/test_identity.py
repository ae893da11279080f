"""Sign-ins bound to their person: one naming another subject is refused and changes nothing.

Real server, real provider, two provider users: the server's user (alice) and another one
(mallory) who completes a sign-in meant for alice (an ordinary one, a one-time link's, an
API's) or simply holds another provider session in the browser.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any

import pytest
from tornado.httpclient import HTTPResponse

from jupyter_nevis_auth.protocol import secret_header
from tests import test_links
from tests.conftest import Browser
from tests.support.provider import OIDCTestProvider, RegisteredClient, provider_login
from tests.support.resource_server import SALES_AUDIENCE
from tests.test_links import LinkBrowser

# The link tests' fixtures: a client without any Jupyter credential, and a kernel's link.
anonymous_fetch = test_links.anonymous_fetch
ask_link = test_links.ask_link

Fetch = Callable[..., Awaitable[HTTPResponse]]


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    """NevisAuth settings a test changes."""
    return {}


@pytest.fixture
def partner_client(second_oidc_provider: OIDCTestProvider, redirect_uri: str) -> RegisteredClient:
    """This test server's client at the second provider."""
    return second_oidc_provider.add_client([redirect_uri])


@pytest.fixture
def client_options() -> dict[str, Any]:
    """The client at the main provider: an API's token only by a sign-in of its own."""
    return {"narrow_refresh": False, "token_exchange": False}


@pytest.fixture
def nevis_config(
    nevis_config: dict[str, Any],
    config_overrides: dict[str, Any],
    second_oidc_provider: OIDCTestProvider,
    partner_client: RegisteredClient,
) -> dict[str, Any]:
    """The test server's settings with an API, a second provider and the test's changes."""
    apis = {
        "sales": {
            "url": "https://sales.test/",
            "scopes": ["sales.read"],
            "resource": SALES_AUDIENCE,
        }
    }
    providers = {"partner": partner_client.nevis_settings(second_oidc_provider.issuer)}
    return {**nevis_config, "apis": apis, "providers": providers, **config_overrides}


@pytest.fixture
def mallory(username: str) -> str:
    """Another account at the same provider."""
    return "mallory-" + username


@pytest.fixture
def kernel_fetch(jp_fetch: Fetch, jp_serverapp: Any) -> Callable[..., Awaitable[HTTPResponse]]:
    """A request of one of the server's kernels (with the kernel secret)."""
    secret = jp_serverapp.web_app.settings["nevis_auth_kernel_secret"]

    def fetch(*parts: str, **kwargs: Any) -> Awaitable[HTTPResponse]:
        return jp_fetch(*parts, headers=secret_header(secret), raise_error=False, **kwargs)

    return fetch


async def held(jp_serverapp: Any) -> Any:
    settings = jp_serverapp.web_app.settings
    return await settings["nevis_auth"].tokens.store.get(settings["nevis_auth_owner"])


async def subject(kernel_fetch: Callable[..., Awaitable[HTTPResponse]]) -> str | None:
    """Whom the kernels' tokens name now."""
    response = await kernel_fetch("nevis", "api", "token")
    return json.loads(response.body)["claims"]["sub"] if response.code == 200 else None


async def sign_in_through(browser: Browser, authorize: str, who: str, redirect_uri: str) -> Any:
    callback = await asyncio.to_thread(provider_login, authorize, who, redirect_prefix=redirect_uri)
    return await browser.callback(callback)


def refused_page(response: HTTPResponse, who: str) -> str:
    body = response.body.decode()
    assert response.code == 403, body
    assert response.headers["Cache-Control"] == "no-store"
    assert f"This sign-in is {who.capitalize()} Example (subject {who})&#39;s" in body
    assert "nothing was changed" in body
    assert "Traceback" not in body
    return body


async def test_another_persons_sign_in_is_refused_and_changes_nothing(
    browser: Browser, redirect_uri, username, mallory, kernel_fetch, jp_serverapp, caplog
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    before = await held(jp_serverapp)

    with caplog.at_level(logging.WARNING):
        response = await browser.sign_in(mallory, redirect_uri=redirect_uri)

    body = refused_page(response, mallory)
    assert f"holds the sign-in of {username.capitalize()} Example" in body
    assert "sign out first" in body
    assert await held(jp_serverapp) is before
    assert await subject(kernel_fetch) == username
    status = json.loads((await browser.get("nevis", "api", "status")).body)
    assert status["claims"]["sub"] == username
    line = next(r.getMessage() for r in caplog.records if "refused: it names" in r.getMessage())
    assert repr(mallory) in line and repr(username) in line
    for secret in (before.access_token, before.refresh_token, before.id_token):
        assert secret not in caplog.text and secret not in body


async def test_a_sign_in_of_the_same_person_replaces_the_tokens(
    browser: Browser, redirect_uri, username, jp_serverapp
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    first = await held(jp_serverapp)
    response = await browser.sign_in(username, redirect_uri=redirect_uri)
    assert response.code == 302
    assert (await held(jp_serverapp)).access_token != first.access_token


async def test_after_signing_out_another_person_may_sign_in(
    browser: Browser, redirect_uri, username, mallory, kernel_fetch
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    assert (await kernel_fetch("nevis", "api", "token", method="DELETE")).code == 200

    response = await browser.sign_in(mallory, redirect_uri=redirect_uri)

    assert response.code == 302, response.body
    assert await subject(kernel_fetch) == mallory


async def test_a_one_time_link_completed_by_another_person_is_refused(
    browser: Browser,
    ask_link,
    anonymous_fetch,
    redirect_uri,
    username,
    mallory,
    kernel_fetch,
    jp_serverapp,
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    before = await held(jp_serverapp)
    link_browser = LinkBrowser(anonymous_fetch, SimpleCookie())
    authorize = await link_browser.follow_link((await ask_link())["url"])

    response = await sign_in_through(link_browser, authorize, mallory, redirect_uri)

    body = refused_page(response, mallory)
    # The person is told who they are, not sent for another link that would fail alike.
    assert "for a new sign-in link" not in body
    assert await held(jp_serverapp) is before
    assert await subject(kernel_fetch) == username
    done = await link_browser.get("nevis", "link", "done")
    assert "Signed in" not in done.body.decode()


async def test_an_apis_own_sign_in_by_another_person_is_refused(
    browser: Browser, redirect_uri, username, mallory, kernel_fetch, jp_serverapp
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    assert (await kernel_fetch("nevis", "api", "token", params={"api": "sales"})).code == 401
    authorize = await browser.start_login_for("api", "sales")

    response = await sign_in_through(browser, authorize, mallory, redirect_uri)

    refused_page(response, mallory)
    assert await subject(kernel_fetch) == username
    keys = await jp_serverapp.web_app.settings["nevis_auth"].tokens.store.keys()
    assert keys == [jp_serverapp.web_app.settings["nevis_auth_owner"]]
    # alice's own sign-in for the API works.
    authorize = await browser.start_login_for("api", "sales")
    assert (await sign_in_through(browser, authorize, username, redirect_uri)).code == 302
    assert (await kernel_fetch("nevis", "api", "token", params={"api": "sales"})).code == 200


async def test_each_provider_keeps_the_person_of_its_own_first_sign_in(
    browser: Browser, redirect_uri, username, mallory, kernel_fetch
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    # At the second provider alice has another account: its first sign-in is hers to choose.
    partner_name = "partner-" + username
    authorize = await browser.start_login_for("provider", "partner")
    assert (await sign_in_through(browser, authorize, partner_name, redirect_uri)).code == 302

    authorize = await browser.start_login_for("provider", "partner")
    refused_page(await sign_in_through(browser, authorize, mallory, redirect_uri), mallory)

    answer = await kernel_fetch("nevis", "api", "token", params={"provider": "partner"})
    assert json.loads(answer.body)["claims"]["sub"] == partner_name
    assert await subject(kernel_fetch) == username


@pytest.mark.parametrize("config_overrides", [{"allowed_subjects": ["someone-else"]}])
async def test_allowed_subjects_refuse_even_a_first_sign_in(
    browser: Browser, redirect_uri, username, kernel_fetch
):
    response = await browser.sign_in(username, redirect_uri=redirect_uri)

    body = response.body.decode()
    assert response.code == 403
    assert "NevisAuth.allowed_subjects lists someone-else" in body
    assert await subject(kernel_fetch) is None
    answer = json.loads((await kernel_fetch("nevis", "api", "token")).body)
    assert answer["error"] == "login_required"
    assert "NevisAuth.allowed_subjects" in answer["refusal"]
    assert answer["refused_at"] > 0


async def test_a_kernels_401_carries_the_refusal_only_after_one(
    browser: Browser, redirect_uri, username, mallory, kernel_fetch, jp_serverapp
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    service = jp_serverapp.web_app.settings["nevis_auth"]
    owner = jp_serverapp.web_app.settings["nevis_auth_owner"]
    # The provider ends alice's grant: signed out, but still alice's server.
    await service.tokens.sign_out(owner, "Your session at the provider has ended.")
    answer = json.loads((await kernel_fetch("nevis", "api", "token")).body)
    assert "refusal" not in answer

    response = await browser.sign_in(mallory, redirect_uri=redirect_uri)

    refused_page(response, mallory)
    answer = json.loads((await kernel_fetch("nevis", "api", "token")).body)
    assert answer["error"] == "login_required"
    assert answer["refusal"].startswith(f"This sign-in is {mallory.capitalize()} Example")
    # alice herself still can.
    assert (await browser.sign_in(username, redirect_uri=redirect_uri)).code == 302
    answer = json.loads((await kernel_fetch("nevis", "api", "token")).body)
    assert answer["claims"]["sub"] == username


@pytest.mark.parametrize("config_overrides", [{"allowed_subjects": ["*"]}])
async def test_any_subject_when_the_admin_allows_it(
    browser: Browser, redirect_uri, username, mallory, kernel_fetch
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    response = await browser.sign_in(mallory, redirect_uri=redirect_uri)
    assert response.code == 302
    assert await subject(kernel_fetch) == mallory
