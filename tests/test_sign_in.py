"""The whole Authorization Code flow through a real Jupyter server and the real provider."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs, urlparse

from tests.conftest import Browser
from tests.support.provider import provider_login


async def status(browser: Browser) -> dict:
    response = await browser.get("nevis", "api", "status")
    assert response.code == 200
    return json.loads(response.body)


async def test_sign_in_reports_logged_in(browser: Browser, redirect_uri, jp_base_url, username):
    assert (await status(browser))["logged_in"] is False

    response = await browser.sign_in(username, redirect_uri=redirect_uri)

    assert response.code == 302
    assert response.headers["Location"] == jp_base_url
    body = await status(browser)
    assert body["logged_in"] is True
    assert body["claims"]["sub"] == username
    # With resource indicators the provider reports the access token's own scope.
    assert body["scopes"] == ["api"]
    assert body["expires_at"] > 0
    assert body["refresh_possible"] is True
    assert "access_token" not in json.dumps(body)


async def test_authorize_request_has_pkce_state_nonce(browser: Browser, redirect_uri, oidc_client):
    url = await browser.start_login()
    query = parse_qs(urlparse(url).query)
    assert urlparse(url).path == "/auth/oauth2/authorize"
    assert query["response_type"] == ["code"]
    assert query["client_id"] == [oidc_client.client_id]
    assert query["redirect_uri"] == [redirect_uri]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 43 and len(query["nonce"][0]) >= 43
    assert query["scope"] == ["openid offline_access profile api"]


async def test_next_is_followed(browser: Browser, redirect_uri, jp_base_url, username):
    target = jp_base_url + "lab/tree/notebooks/getting-started.ipynb"
    response = await browser.sign_in(username, redirect_uri=redirect_uri, next_url=target)
    assert response.headers["Location"] == target


async def test_two_tabs_signing_in_at_once_both_succeed(browser: Browser, redirect_uri, username):
    first = await browser.start_login()
    second = await browser.start_login()
    first_cb, second_cb = await asyncio.gather(
        asyncio.to_thread(provider_login, first, username, redirect_prefix=redirect_uri),
        asyncio.to_thread(provider_login, second, username, redirect_prefix=redirect_uri),
    )
    assert (await browser.callback(second_cb)).code == 302
    assert (await browser.callback(first_cb)).code == 302
    assert (await status(browser))["logged_in"] is True
