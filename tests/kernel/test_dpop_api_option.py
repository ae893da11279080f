"""DPoP asked for by one API (its `dpop` in NevisAuth.apis), not by the provider: the API's
token, from a narrowed refresh or a token exchange, is bound to a key of its own, a real
kernel sends it with proofs of that key, and the sign-in's own token stays a bearer one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Browser
from tests.kernel.conftest import Kernel, stored
from tests.support.provider import TOKEN_EXCHANGE, OIDCTestProvider, RegisteredClient
from tests.support.resource_server import SALES_AUDIENCE, ResourceServer


@pytest.fixture(scope="module")
def oidc_provider() -> Iterator[OIDCTestProvider]:
    """A provider that binds tokens to DPoP keys when a request carries a proof."""
    with OIDCTestProvider(dpop=True) as provider:
        yield provider


@pytest.fixture(scope="module")
def bound_api(oidc_provider: OIDCTestProvider) -> Iterator[ResourceServer]:
    """The sales API in DPoP mode: bound tokens of scope sales.read, proofs with its nonce."""
    with ResourceServer(
        oidc_provider.issuer, audience=SALES_AUDIENCE, scope="sales.read", dpop=True
    ) as api:
        yield api


@pytest.fixture
def nevis_config(
    oidc_provider: OIDCTestProvider, oidc_client: RegisteredClient, bound_api: ResourceServer
) -> dict[str, Any]:
    """DPoP off for the provider, on for the sales API alone."""
    settings = oidc_client.nevis_settings(oidc_provider.issuer, http_timeout=5.0)
    settings["apis"] = {
        "sales": {
            "url": bound_api.url + "/",
            "scopes": ["sales.read"],
            "resource": SALES_AUDIENCE,
            "dpop": True,
            "token_exchange": True,
        }
    }
    return settings


@pytest.fixture(params=["narrowed refresh", "token exchange"])
def client_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """How the API's token comes: a refresh narrowed to it, or (the provider refusing
    those) an RFC 8693 token exchange."""
    return {"narrow_refresh": request.param == "narrowed refresh"}


async def test_an_apis_dpop_binds_its_token_alone_to_a_key_of_its_own(
    browser: Browser,
    redirect_uri,
    username,
    jp_serverapp,
    kernel: Kernel,
    bound_api,
    oidc_provider: OIDCTestProvider,
    oidc_client: RegisteredClient,
    client_options: dict[str, Any],
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    main = await stored(jp_serverapp)
    assert main.token_type == "Bearer" and main.dpop_jwk is None
    url = bound_api.hello_url
    values = await kernel.values(f"""
        url = {url!r}
        ok = session().get(url, timeout=10)
        sales, default = get_access_token(api="sales"), get_access_token()
        as_bearer = requests.get(url, headers={{"Authorization": f"Bearer {{sales}}"}}, timeout=10)
        out(code=ok.status_code, history=[r.status_code for r in ok.history],
            scheme=ok.request.headers["Authorization"].split()[0], sub=ok.json().get("sub"),
            bearer=as_bearer.status_code, sales_bound=sales.dpop is not None,
            default_bound=default.dpop is not None)
    """)
    # The first request learns the API's nonce (one use_dpop_nonce answer), then passes.
    assert values == {
        "code": 200,
        "history": [401],
        "scheme": "DPoP",
        "sub": username,
        "bearer": 401,
        "sales_bound": True,
        "default_bound": False,
    }
    exchanges = oidc_provider.token_calls(oidc_client.client_id, TOKEN_EXCHANGE)
    assert exchanges == (0 if client_options["narrow_refresh"] else 1)
