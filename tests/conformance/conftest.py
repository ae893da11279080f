"""Fixtures of the conformance suite: a Jupyter server signing in at a misbehaving provider."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from tornado.httpclient import HTTPResponse

from jupyter_nevis_auth.core.auth import AuthCore
from jupyter_nevis_auth.core.tokens import TokenSet
from tests.conformance.fake_op import FakeOP, KeyPool
from tests.conftest import Browser


@pytest.fixture(scope="session")
def key_pool() -> KeyPool:
    """Provider key pairs, generated once: RSA key generation is slow."""
    return KeyPool()


@pytest.fixture
def op(
    jp_asyncio_loop: asyncio.AbstractEventLoop, key_pool: KeyPool, redirect_uri: str
) -> Iterator[FakeOP]:
    """The provider of this test, running in the Jupyter server's event loop."""
    provider = FakeOP(key_pool, [redirect_uri])
    jp_asyncio_loop.run_until_complete(provider.start())
    yield provider
    jp_asyncio_loop.run_until_complete(provider.stop())


@pytest.fixture
def nevis_config(op: FakeOP) -> dict[str, Any]:
    """The extension configured for the test's provider."""
    return {
        "issuer": op.issuer,
        "client_id": op.client_id,
        "client_secret": op.client_secret,
        "scopes": ["openid", "offline_access", "profile"],
        "http_timeout": 1.0,
    }


def service(jp_serverapp: Any) -> AuthCore:
    """The extension's AuthCore inside the running server."""
    return jp_serverapp.web_app.settings["nevis_auth"]  # type: ignore[no-any-return]


async def stored(jp_serverapp: Any) -> TokenSet | None:
    """What the server keeps for its owner."""
    owner = jp_serverapp.web_app.settings["nevis_auth_owner"]
    return await service(jp_serverapp).tokens.store.get(owner)


async def status(browser: Browser) -> dict[str, Any]:
    """The nevis/api/status answer (which refreshes an expiring token first)."""
    response = await browser.get("nevis", "api", "status")
    assert response.code == 200, response.body
    return json.loads(response.body)  # type: ignore[no-any-return]


async def sign_in(browser: Browser, op: FakeOP, next_url: str | None = None) -> HTTPResponse:
    """nevis/login, the provider's redirect back, then nevis/callback."""
    return await browser.callback(await op.authorize(await browser.start_login(next_url)))


async def signed_in(browser: Browser, op: FakeOP, jp_serverapp: Any) -> TokenSet:
    """Sign in successfully and return the stored tokens."""
    response = await sign_in(browser, op)
    assert response.code == 302, response.body
    tokens = await stored(jp_serverapp)
    assert tokens is not None
    return tokens


def assert_error_page(response: HTTPResponse, status: int, phrase: str) -> None:
    """A failure page: the status, one sentence containing `phrase`, no traceback."""
    body = response.body.decode()
    assert response.code == status, body
    assert phrase in body, body
    assert "Traceback" not in body and 'File "' not in body


async def assert_refused(
    response: HTTPResponse, op: FakeOP, jp_serverapp: Any, status: int, phrase: str
) -> None:
    """The sign-in failed with a clear page, and no token of the response was kept or used."""
    assert_error_page(response, status, phrase)
    assert await stored(jp_serverapp) is None
    for kind in ("access_token", "refresh_token"):
        for token in op.issued[kind]:
            assert not op.used(token), f"the refused {kind} was used"


async def assert_refresh_refused(
    browser: Browser, op: FakeOP, jp_serverapp: Any, before: TokenSet
) -> None:
    """A refresh answer that fails a check: none of its tokens is kept or used, and status says so.

    Whether the earlier tokens stay or the user is signed out is the token manager's
    choice; either is safe, so both are accepted here.
    """
    body = await status(browser)
    refreshes = [c for c in op.calls("token") if c.args["grant_type"] == "refresh_token"]
    assert refreshes, "no refresh happened"
    after = await stored(jp_serverapp)
    if after is not None:
        assert (after.access_token, after.refresh_token) == (
            before.access_token,
            before.refresh_token,
        )
    refused = {*op.issued["access_token"], *op.issued["refresh_token"]} - {
        before.access_token,
        before.refresh_token,
    }
    assert refused and not any(op.used(t) for t in refused)
    assert body["signed_out_reason"] or body["last_refresh_error"]
