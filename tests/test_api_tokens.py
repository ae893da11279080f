"""Tokens for several APIs and providers, through a real Jupyter server and the real provider.

The sales API trusts the session's provider for audience https://sales.test and scope
sales.read; the models API trusts a second provider for https://models.test and
models.read. Both check the signature, the audience and the scope of every token.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import requests

from jupyter_nevis_auth.protocol import secret_header
from tests.conftest import Browser
from tests.support.provider import OIDCTestProvider, RegisteredClient, provider_login
from tests.support.resource_server import ResourceServer
from tests.support.two_apis import MODELS_SIGN_IN_SCOPES, two_apis_config


@pytest.fixture
def partner_client(second_oidc_provider: OIDCTestProvider, redirect_uri: str) -> RegisteredClient:
    """This test server's client at the second provider."""
    return second_oidc_provider.add_client([redirect_uri])


@pytest.fixture
def exchange_only(request: pytest.FixtureRequest) -> bool:
    """Whether the provider refuses narrowed refreshes (so only token exchange is left)."""
    return bool(getattr(request, "param", False))


@pytest.fixture
def client_options(exchange_only: bool) -> dict[str, Any]:
    """The client at the session's provider; narrowing refused when only exchange is tested."""
    return {"narrow_refresh": not exchange_only}


@pytest.fixture
def nevis_config(
    nevis_config: dict[str, Any],
    sales_api: ResourceServer,
    models_api: ResourceServer,
    second_oidc_provider: OIDCTestProvider,
    partner_client: RegisteredClient,
) -> dict[str, Any]:
    """Two APIs, the second one behind the second provider."""
    partner = partner_client.nevis_settings(
        second_oidc_provider.issuer, scopes=MODELS_SIGN_IN_SCOPES
    )
    return two_apis_config(
        nevis_config, sales_api, models_api, partner, sales={"token_exchange": True}
    )


async def kernel_token(jp_fetch: Any, jp_serverapp: Any, **params: str) -> tuple[int, dict]:
    """What a kernel gets from nevis/api/token."""
    secret = jp_serverapp.web_app.settings["nevis_auth_kernel_secret"]
    response = await jp_fetch(
        "nevis",
        "api",
        "token",
        params=params,
        raise_error=False,
        headers=secret_header(secret),
    )
    return response.code, json.loads(response.body)


def call(api: ResourceServer, token: str) -> int:
    """The status a protected API answers to `token`."""
    return requests.get(
        api.hello_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).status_code


async def test_each_api_gets_a_token_it_accepts_and_no_other_api_does(
    browser: Browser,
    redirect_uri,
    username,
    jp_fetch,
    jp_serverapp,
    oidc_provider: OIDCTestProvider,
    oidc_client: RegisteredClient,
    sales_api: ResourceServer,
    resource_server: ResourceServer,
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    code, default = await kernel_token(jp_fetch, jp_serverapp)
    assert code == 200, default
    before = oidc_provider.token_calls(oidc_client.client_id, "refresh_token")
    code, sales = await kernel_token(jp_fetch, jp_serverapp, api="sales")
    assert code == 200, sales
    assert oidc_provider.token_calls(oidc_client.client_id, "refresh_token") == before + 1
    assert await asyncio.to_thread(call, sales_api, sales["access_token"]) == 200
    assert await asyncio.to_thread(call, resource_server, sales["access_token"]) == 401
    assert await asyncio.to_thread(call, sales_api, default["access_token"]) in (401, 403)
    assert await asyncio.to_thread(call, resource_server, default["access_token"]) == 200
    status = json.loads((await browser.get("nevis", "api", "status")).body)
    assert status["apis"]["sales"]["obtained_by"] == "narrowed refresh"
    assert status["apis"]["models"]["ready"] is False


@pytest.mark.parametrize("exchange_only", [True], indirect=True)
async def test_token_exchange_when_the_provider_will_not_narrow(
    browser: Browser,
    redirect_uri,
    username,
    jp_fetch,
    jp_serverapp,
    oidc_provider: OIDCTestProvider,
    oidc_client: RegisteredClient,
    sales_api: ResourceServer,
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    code, sales = await kernel_token(jp_fetch, jp_serverapp, api="sales")
    assert code == 200, sales
    exchanges = oidc_provider.token_calls(
        oidc_client.client_id, "urn:ietf:params:oauth:grant-type:token-exchange"
    )
    assert exchanges == 1
    assert await asyncio.to_thread(call, sales_api, sales["access_token"]) == 200
    status = json.loads((await browser.get("nevis", "api", "status")).body)
    assert status["apis"]["sales"]["obtained_by"] == "token exchange"


async def test_the_second_provider_signs_in_on_its_own_and_serves_its_api(
    browser: Browser,
    redirect_uri,
    username,
    jp_fetch,
    jp_serverapp,
    models_api: ResourceServer,
    sales_api: ResourceServer,
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    code, body = await kernel_token(jp_fetch, jp_serverapp, api="models")
    assert code == 401 and body["provider"] == "partner"
    assert body["login_url"].endswith("nevis/login?provider=partner")
    authorize = await browser.start_login_for("provider", "partner")
    callback = await asyncio.to_thread(
        provider_login, authorize, username, redirect_prefix=redirect_uri
    )
    assert (await browser.callback(callback)).code == 302
    code, models = await kernel_token(jp_fetch, jp_serverapp, api="models")
    assert code == 200 and models["provider"] == "partner", models
    assert await asyncio.to_thread(call, models_api, models["access_token"]) == 200
    assert await asyncio.to_thread(call, sales_api, models["access_token"]) == 401


@pytest.mark.parametrize("client_options", [{"narrow_refresh": False, "token_exchange": False}])
async def test_a_sign_in_for_the_api_when_the_provider_gives_no_other_way(
    browser: Browser,
    redirect_uri,
    username,
    jp_fetch,
    jp_serverapp,
    jp_base_url,
    sales_api: ResourceServer,
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    code, body = await kernel_token(jp_fetch, jp_serverapp, api="sales")
    assert code == 401 and body["scopes"] == ["sales.read"], body
    assert body["login_url"] == jp_base_url + "nevis/login?api=sales"
    authorize = await browser.start_login_for("api", "sales")
    callback = await asyncio.to_thread(
        provider_login, authorize, username, redirect_prefix=redirect_uri
    )
    assert (await browser.callback(callback)).code == 302
    code, sales = await kernel_token(jp_fetch, jp_serverapp, api="sales")
    assert code == 200, sales
    assert await asyncio.to_thread(call, sales_api, sales["access_token"]) == 200
    status = json.loads((await browser.get("nevis", "api", "status")).body)
    assert status["apis"]["sales"]["obtained_by"] == "sign-in"


@pytest.mark.parametrize("client_options", [{"access_token_ttl": 4}])
async def test_at_expiry_concurrent_calls_cost_one_provider_call_per_api(
    browser: Browser,
    redirect_uri,
    username,
    jp_fetch,
    jp_serverapp,
    oidc_provider: OIDCTestProvider,
    oidc_client: RegisteredClient,
):
    # At expiry only: on a busy machine the new 4 s tokens could be due for their refresh
    # ahead of time before the last of the 20 calls is answered.
    jp_serverapp.web_app.settings["nevis_auth"].tokens.refresh_ahead = 0
    await browser.sign_in(username, redirect_uri=redirect_uri)
    first = await kernel_token(jp_fetch, jp_serverapp, api="sales")
    assert first[0] == 200 and first[1]["expires_in"] <= 4
    await asyncio.sleep(2.5)  # past half the lifetime: every token is due for renewal
    before = oidc_provider.token_calls(oidc_client.client_id, "refresh_token")
    answers = await asyncio.gather(
        *(kernel_token(jp_fetch, jp_serverapp, api="sales") for _ in range(10)),
        *(kernel_token(jp_fetch, jp_serverapp) for _ in range(10)),
    )
    assert {code for code, _ in answers} == {200}
    # One narrowed refresh for sales, one refresh for the default token.
    assert oidc_provider.token_calls(oidc_client.client_id, "refresh_token") == before + 2
    assert len({body["access_token"] for _, body in answers[:10]}) == 1
    assert answers[0][1]["access_token"] != first[1]["access_token"]
