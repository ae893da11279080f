"""Several APIs and providers, from real kernels of a real server against real providers.

The server has two APIs: sales (scope sales.read, resource https://sales.test) of the
default provider, and models (models.read, https://models.test) of a second provider. Each
test API accepts only tokens for its own audience and scope.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from jupyter_nevis_auth import kernel as kernel_api
from jupyter_nevis_auth.core.apis import token_key
from tests.conftest import Browser
from tests.kernel.conftest import Kernel, service_of
from tests.kernel.view import KernelView
from tests.support.provider import OIDCTestProvider, provider_login
from tests.support.resource_server import ResourceServer
from tests.support.two_apis import two_apis_config


@pytest.fixture
def unlisted_urls() -> bool:
    """NevisAuth.default_token_for_unlisted_urls of the test server."""
    return False


@pytest.fixture
def nevis_config(
    nevis_config: dict[str, Any],
    second_oidc_provider: OIDCTestProvider,
    redirect_uri: str,
    sales_api: ResourceServer,
    models_api: ResourceServer,
    unlisted_urls: bool,
) -> dict[str, Any]:
    """The default provider, a second one, and an API of each."""
    second = second_oidc_provider.add_client([redirect_uri])
    return two_apis_config(
        {**nevis_config, "default_token_for_unlisted_urls": unlisted_urls},
        sales_api,
        models_api,
        second.nevis_settings(second_oidc_provider.issuer),
        provider="second",
        url_path="",
    )


async def sign_in_for(browser: Browser, name: str, value: str, username: str, redirect_uri: str):
    """The code flow started by nevis/login?<name>=<value> (an API or a provider)."""
    authorize = await browser.start_login_for(name, value)
    callback = await asyncio.to_thread(
        provider_login, authorize, username, redirect_prefix=redirect_uri
    )
    response = await browser.callback(callback)
    assert response.code == 302, response.body


@pytest.fixture
def apis(sales_api: ResourceServer, models_api: ResourceServer, resource_server: ResourceServer):
    """The two APIs and the unlisted one, their counters zeroed."""
    for api in (sales_api, models_api, resource_server):
        api.reset()
    return sales_api, models_api, resource_server


async def test_each_url_gets_its_apis_token_and_an_unlisted_url_none(
    kernel: Kernel, browser: Browser, redirect_uri, username, apis, jp_serverapp
):
    sales, models, unlisted = apis
    await browser.sign_in(username, redirect_uri=redirect_uri)
    await sign_in_for(browser, "provider", "second", username, redirect_uri)

    values = await kernel.values(f"""
        import httpx
        http = session()
        codes = [
            http.get({sales.hello_url!r}, timeout=10).status_code,
            http.get({models.hello_url!r}, timeout=10).status_code,
            requests.get({sales.hello_url!r}, auth=BearerAuth(), timeout=10).status_code,
            httpx.get({models.hello_url!r}, auth=nevis.HTTPXBearerAuth()).status_code,
        ]
        try:
            http.get({unlisted.hello_url + "?q=1"!r}, timeout=10)
        except nevis.NoAPIForURLError as e:
            refused = str(e)
        by_name = get_access_token(api="sales")
        direct = requests.get(
            {sales.hello_url!r}, headers={{"Authorization": f"Bearer {{by_name}}"}}, timeout=10
        )
        out(codes=codes, refused=refused, direct=direct.status_code,
            same=sha(by_name) == sha(get_access_token()), second=whoami(provider="second")["sub"])
    """)

    assert values["codes"] == [200, 200, 200, 200]
    assert values["refused"] == (
        f"No API of this server serves {unlisted.hello_url}, so no token was sent; pass api= "
        "to choose one, or add its prefix to the url of an API in NevisAuth.apis."
    )
    assert unlisted.stats()["requests"] == 0
    assert values["direct"] == 200 and values["same"] is False
    assert values["second"] == username
    assert sales.stats() == {"requests": 3, "unauthorized": 0, "forbidden": 0}
    assert models.stats() == {"requests": 2, "unauthorized": 0, "forbidden": 0}


@pytest.mark.parametrize("unlisted_urls", [True])
async def test_unlisted_urls_get_the_default_token_when_the_server_says_so(
    kernel: Kernel, browser: Browser, redirect_uri, username, apis
):
    _, _, unlisted = apis
    await browser.sign_in(username, redirect_uri=redirect_uri)

    values = await kernel.values(f"""
        out(code=session().get({unlisted.hello_url!r}, timeout=10).status_code)
    """)

    assert values["code"] == 200


#: Kernel code: the LoginRequiredError of each call, as [message, api, provider, scopes,
#: login_url, seconds it took]. CALLS is filled in.
FAILED_CALLS = """
    errors = []
    for call in CALLS:
        started = time.monotonic()
        try:
            call()
        except LoginRequiredError as e:
            errors.append([str(e), e.api, e.provider, e.scopes, e.login_url,
                           time.monotonic() - started])
    out(errors=errors)
"""


async def test_without_a_sign_in_a_script_is_told_which_api_and_scopes_to_sign_in_for(
    kernel: Kernel, jp_base_url, apis
):
    sales, models, _ = apis
    calls = f"""(
        lambda: get_access_token(api="sales"),
        lambda: session().get({models.hello_url!r}, timeout=10),
    )"""

    values = await kernel.values(FAILED_CALLS.replace("CALLS", calls))

    (sales_error, models_error) = values["errors"]
    for error, name, scope, provider in (
        (sales_error, "sales", "sales.read", "default"),
        (models_error, "models", "models.read", "second"),
    ):
        message, api, provider_name, scopes, login_url, seconds = error
        assert message.endswith(
            f" Sign in for the API {name} ({scope}) at {login_url}, then run this again."
        )
        assert (api, provider_name, scopes) == (name, provider, [scope])
        # Not signed in at the provider at all: its own sign-in asks for its APIs' scopes too.
        assert login_url.startswith(f"{jp_base_url}nevis/login")
        assert seconds < 1.0
    assert sales.stats()["requests"] == models.stats()["requests"] == 0


@pytest.mark.parametrize("client_options", [{"narrow_refresh": False}])
async def test_an_api_that_needs_its_own_sign_in_names_exactly_that_sign_in(
    kernel: Kernel, browser: Browser, redirect_uri, username, jp_base_url, apis
):
    await browser.sign_in(username, redirect_uri=redirect_uri)

    values = await kernel.values(
        FAILED_CALLS.replace("CALLS", '(lambda: get_access_token(api="sales"),)')
    )

    ((message, api, provider, scopes, login_url, _),) = values["errors"]
    assert login_url == f"{jp_base_url}nevis/login?api=sales"
    assert message.endswith(
        f" Sign in for the API sales (sales.read) at {login_url}, then run this again."
    )
    assert (api, provider, scopes) == ("sales", "default", ["sales.read"])


async def test_a_refused_api_token_is_replaced_once_and_the_request_retried(
    kernel: Kernel, browser: Browser, redirect_uri, username, apis, jp_serverapp
):
    sales, _, _ = apis
    await browser.sign_in(username, redirect_uri=redirect_uri)
    # This process asks for the API's token, so that the server holds one to spoil.
    await asyncio.to_thread(kernel_api.get_access_token, api="sales")
    service, owner = service_of(jp_serverapp)
    key = token_key(owner, "default", "sales")
    held = await service.tokens.store.get(key)
    await service.tokens.store.set(key, dataclasses.replace(held, access_token="revoked"))

    values = await kernel.values(f"""
        response = session().get({sales.hello_url!r}, timeout=10)
        out(code=response.status_code, history=[r.status_code for r in response.history])
    """)

    assert (values["code"], values["history"]) == (200, [401])
    assert sales.stats() == {"requests": 2, "unauthorized": 1, "forbidden": 0}


@pytest.mark.parametrize("client_options", [{"narrow_refresh": False}])
async def test_a_cell_waits_for_the_sign_in_its_api_needs_then_carries_on(
    kernel_view: KernelView, browser: Browser, redirect_uri, username, apis, jp_base_url
):
    sales, _, _ = apis
    await browser.sign_in(username, redirect_uri=redirect_uri)
    cell = kernel_view.start_execute(
        f"r = jupyter_nevis_auth.session().get({sales.hello_url!r}, timeout=10)\n"
        "print('status', r.status_code)"
    )

    widget = await kernel_view.until(
        lambda: kernel_view.login_widgets() and kernel_view.login_widgets()[0]
    )
    await kernel_view.until(lambda: "waits for you to sign in" in kernel_view.text(widget))
    text = kernel_view.text(widget)
    assert "Sign in for sales (sales.read)" in text
    assert f"Signed in as {username.capitalize()} Example" in text
    assert "second: signed out" in text
    assert "sales sales.read: no token yet" in text and "models models.read: no token" in text
    links = [
        urlsplit(html.unescape(href))
        for part in kernel_view.parts(widget)
        for href in re.findall(r'href="([^"]+)"', part.get("value") or "")
    ]
    expected = {"api": ["sales"], "next": [f"{jp_base_url}nevis/done?api=sales"]}
    assert (f"{jp_base_url}nevis/login", expected) in [
        (link.path, parse_qs(link.query)) for link in links
    ]
    assert not cell.done()

    await sign_in_for(browser, "api", "sales", username, redirect_uri)
    reply = await asyncio.wait_for(cell, 30)

    assert reply["status"] == "ok", reply
    assert "status 200" in reply["output"]
    final = await kernel_view.until(
        lambda: (
            "sales sales.read: token ready" in kernel_view.text(widget) and kernel_view.text(widget)
        )
    )
    assert "waits for you" not in final and "Sign in for sales" not in final
    assert "eyJ" not in kernel_view.transcript()


async def test_sign_out_in_the_widget_ends_every_providers_sign_in(
    kernel_view: KernelView, browser: Browser, redirect_uri, username, apis, jp_serverapp
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    await sign_in_for(browser, "provider", "second", username, redirect_uri)
    await kernel_view.execute("jupyter_nevis_auth.login()")
    (widget,) = kernel_view.login_widgets()
    await kernel_view.until(lambda: "second: signed in as" in kernel_view.text(widget))

    kernel_view.click(kernel_view.button(widget, "Sign out"))

    await kernel_view.until(lambda: "Signed out" in kernel_view.text(widget))
    text = kernel_view.text(widget)
    assert "second: signed out" in text and "Sign out" not in text
    service, owner = service_of(jp_serverapp)
    assert await service.tokens.store.get(token_key(owner, "second")) is None


async def test_an_unknown_api_is_refused_with_the_servers_sentence(kernel: Kernel, apis):
    values = await kernel.values("""
        try:
            get_access_token(api="nope")
        except nevis.TokenServiceError as e:
            error = [type(e).__name__, str(e)]
        out(error=error)
    """)

    kind, message = values["error"]
    assert kind == "TokenServiceError"
    assert "nope" in message and message.endswith("."), message
