"""Client authentication by key (private_key_jwt) against the real provider, per-server mode."""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from tornado.httpclient import AsyncHTTPClient

from jupyter_nevis_auth.core.client_keys import new_client_key, parse_client_keys
from jupyter_nevis_auth.core.config import NevisAuth
from jupyter_nevis_auth.errors import OAuthError
from jupyter_nevis_auth.oidc import OIDCClient
from jupyter_nevis_auth.oidc.device_grant import authorize_device, poll_device
from tests.conftest import Browser
from tests.support.provider import DEVICE_CODE, OIDCTestProvider, RegisteredClient
from tests.support.resource_server import SALES_AUDIENCE
from tests.test_api_tokens import kernel_token


@pytest.fixture(scope="module")
def key_provider() -> Iterator[OIDCTestProvider]:
    """A provider that offers private_key_jwt (and PAR, which these tests turn off)."""
    with OIDCTestProvider(key_auth=True, par=True) as provider:
        yield provider


@pytest.fixture
def private_keys() -> list[dict[str, Any]]:
    """The client's key file: the new key first, the old one after it (a rotation)."""
    return [new_client_key("ES256"), new_client_key("PS256")]


@pytest.fixture
def key_file(tmp_path: Path, private_keys: list[dict[str, Any]]) -> Path:
    """The key file, readable by its owner only."""
    path = tmp_path / "client-key.json"
    path.write_text(json.dumps({"keys": private_keys}))
    path.chmod(0o600)
    return path


@pytest.fixture
def registered() -> str:
    """Which public keys the provider has for the client: new, old, both, or the server's
    nevis/jwks.json as its jwks_uri."""
    return "both"


@pytest.fixture
def use_key() -> bool:
    """Whether the server authenticates with the key file."""
    return True


@pytest.fixture
def client_options() -> dict[str, Any]:
    """More of the client's registration at the provider."""
    return {}


@pytest.fixture
def apis() -> dict[str, Any]:
    """NevisAuth.apis of the server."""
    return {}


@pytest.fixture
def oidc_client(
    key_provider: OIDCTestProvider,
    redirect_uri: str,
    private_keys: list[dict[str, Any]],
    registered: str,
    client_options: dict[str, Any],
) -> RegisteredClient:
    """A private_key_jwt client registered with the public keys `registered` names."""
    public = parse_client_keys(json.dumps({"keys": private_keys}), "keys").public_jwks()["keys"]
    if registered == "uri":
        where = {"jwks_uri": redirect_uri.replace("nevis/callback", "nevis/jwks.json")}
    else:
        where = {
            "jwks": {"keys": {"new": public[:1], "old": public[1:], "both": public}[registered]}
        }
    return key_provider.add_client(
        [redirect_uri], token_endpoint_auth_method="private_key_jwt", **where, **client_options
    )


@pytest.fixture
def nevis_config(
    key_provider: OIDCTestProvider,
    oidc_client: RegisteredClient,
    key_file: Path,
    use_key: bool,
    apis: dict[str, Any],
) -> dict[str, Any]:
    """The server authenticates with the key file; no client secret is configured at all."""
    settings = oidc_client.nevis_settings(
        key_provider.issuer, http_timeout=5.0, use_par="never", client_secret="", apis=apis
    )
    return {**settings, "client_key_file": str(key_file)} if use_key else settings


def service(jp_serverapp: Any) -> Any:
    return jp_serverapp.web_app.settings["nevis_auth"]


async def test_every_provider_call_authenticates_with_the_key(
    browser: Browser,
    redirect_uri: str,
    username: str,
    jp_serverapp: Any,
    key_provider: OIDCTestProvider,
    oidc_client: RegisteredClient,
    private_keys: list[dict[str, Any]],
    key_file: Path,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    response = await browser.sign_in(username, redirect_uri=redirect_uri)
    assert response.code == 302, response.body
    nevis = service(jp_serverapp)
    owner = jp_serverapp.web_app.settings["nevis_auth_owner"]
    await nevis.fresh_tokens(owner, force=True)
    await nevis.logout(owner)

    stats = key_provider.stats(oidc_client.client_id)
    assert stats["token"]["authorization_code"]["ok"] == 1
    assert stats["token"]["refresh_token"]["ok"] == 1
    # The refresh token is revoked; the provider cannot revoke its JWT access tokens.
    assert stats["revocation"]["ok"] == 1
    assert set(stats["client_auth"]) == {"private_key_jwt"}
    # Neither the private key nor an assertion made with it reaches the log.
    log = caplog.text
    for key in private_keys:
        assert key["d"] not in log
    assert "client_assertion" not in log
    assert "urn:ietf:params:oauth:client-assertion-type" not in log


SALES = {
    "sales": {
        "url": "http://127.0.0.1:9/",
        "scopes": ["sales.read"],
        "resource": SALES_AUDIENCE,
        "token_exchange": True,
    }
}


@pytest.mark.parametrize("apis", [SALES])
@pytest.mark.parametrize("client_options", [{"narrow_refresh": False}])
async def test_a_token_exchange_authenticates_with_the_key_too(
    browser: Browser,
    redirect_uri: str,
    username: str,
    jp_fetch: Any,
    jp_serverapp: Any,
    key_provider: OIDCTestProvider,
    oidc_client: RegisteredClient,
    private_keys: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    assert (await browser.sign_in(username, redirect_uri=redirect_uri)).code == 302
    # The provider will not narrow a refresh for this client, so the API's token comes by
    # token exchange (RFC 8693).
    code, sales = await kernel_token(jp_fetch, jp_serverapp, api="sales")
    assert code == 200, sales
    assert jwt.decode(sales["access_token"], options={"verify_signature": False})["aud"] == (
        SALES_AUDIENCE
    )
    exchange = "urn:ietf:params:oauth:grant-type:token-exchange"
    assert key_provider.stats(oidc_client.client_id)["token"][exchange]["ok"] == 1
    assert set(key_provider.stats(oidc_client.client_id)["client_auth"]) == {"private_key_jwt"}
    for key in private_keys:
        assert key["d"] not in caplog.text
    assert "client_assertion" not in caplog.text


@pytest.mark.parametrize("registered", ["new"])
async def test_the_first_key_of_the_file_signs(browser: Browser, redirect_uri: str, username: str):
    response = await browser.sign_in(username, redirect_uri=redirect_uri)
    assert response.code == 302, response.body


@pytest.mark.parametrize("registered", ["old"])
async def test_a_key_the_provider_does_not_know_is_refused_with_a_sentence(
    registered: str, browser: Browser, redirect_uri: str, username: str, jp_serverapp: Any
):
    response = await browser.sign_in(username, redirect_uri=redirect_uri)
    assert response.code == 503
    body = html.unescape(response.body.decode())
    assert "did not accept this server's client credentials (invalid_client)" in body
    assert "NevisAuth.client_key_file" in body
    assert "Traceback" not in body
    owner = jp_serverapp.web_app.settings["nevis_auth_owner"]
    assert not await service(jp_serverapp).signed_in(owner)


@pytest.fixture
def fetch_unauthenticated(jp_fetch: Any) -> Any:
    """GET a URL of the running server (jp_fetch makes it listen) without Jupyter's token."""

    async def fetch(url: str) -> Any:
        return await AsyncHTTPClient().fetch(url, raise_error=False)

    return fetch


async def test_the_public_keys_are_served_to_anyone(
    fetch_unauthenticated: Any,
    jp_http_port: int,
    jp_base_url: str,
    private_keys: list[dict[str, Any]],
):
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}nevis/jwks.json"
    response = await fetch_unauthenticated(url)
    assert response.code == 200
    served = json.loads(response.body)["keys"]
    assert [k["kid"] for k in served] == [k["kid"] for k in private_keys]
    assert all(set(k) & {"d", "p", "q", "dp", "dq", "qi"} == set() for k in served)


@pytest.mark.parametrize("use_key", [False])
async def test_a_server_without_a_key_serves_no_keys(
    use_key: bool, fetch_unauthenticated: Any, jp_http_port: int, jp_base_url: str
):
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}nevis/jwks.json"
    response = await fetch_unauthenticated(url)
    assert response.code == 404
    assert "publishes no keys" in json.loads(response.body)["message"]


@pytest.mark.parametrize("registered", ["uri"])
async def test_a_provider_reading_the_servers_jwks_uri_accepts_its_assertions(
    registered: str,
    browser: Browser,
    redirect_uri: str,
    username: str,
    key_provider: OIDCTestProvider,
    oidc_client: RegisteredClient,
):
    assert "jwks" not in oidc_client.metadata
    response = await browser.sign_in(username, redirect_uri=redirect_uri)
    assert response.code == 302, response.body
    assert key_provider.stats(oidc_client.client_id)["client_auth"] == {"private_key_jwt": 1}


async def test_device_sign_ins_authenticate_with_the_key_too(
    private_keys: list[dict[str, Any]], key_file: Path
):
    public = parse_client_keys(json.dumps({"keys": private_keys}), "keys").public_jwks()
    with OIDCTestProvider(device_flow=True, key_auth=True) as provider:
        client = provider.add_client(
            ["http://127.0.0.1:8888/nevis/callback"],
            token_endpoint_auth_method="private_key_jwt",
            jwks=public,
            grant_types=["authorization_code", "refresh_token", DEVICE_CODE],
        )
        config = NevisAuth(
            issuer=provider.issuer, client_id=client.client_id, client_key_file=str(key_file)
        )
        oidc = OIDCClient(config)
        metadata = await oidc.metadata()
        code = await authorize_device(oidc, metadata, ["openid"], None)
        with pytest.raises(OAuthError) as pending:
            await poll_device(oidc, code)
        stats = provider.stats(client.client_id)
    assert pending.value.error == "authorization_pending"
    assert stats["token"][DEVICE_CODE]["total"] == 1
    assert stats["client_auth"] == {"private_key_jwt": 1}
