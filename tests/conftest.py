"""Shared fixtures: a real Jupyter server with the extension, a real OpenID provider."""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from tornado.httpclient import HTTPResponse

from tests.support.provider import OIDCTestProvider, RegisteredClient, provider_login

pytest_plugins = ["pytest_jupyter.jupyter_server", "tests.support.fixtures"]

#: Under `make test` (pytest-xdist, `--dist loadgroup`) one worker runs the JupyterHub
#: tests and the other the rest, side by side: each half takes about half of the suite's
#: time, and the hub tests wait mostly on their hubs, proxies and PostgreSQL.
HUB_TESTS = "tests/hub/"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup`: two groups, tests/hub and the rest, each on one worker in order.

    A scheduler, not `xdist_group` marks: those rename the tests' node ids, which pytest 9
    no longer lets a plugin do.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class TwoHalves(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "hub" if nodeid.startswith(HUB_TESTS) else "rest"

    return TwoHalves(config, log)


@pytest.fixture(autouse=True)
def no_widget_outlives_its_test() -> Iterator[None]:
    """Close a LoginWidget a test left open in this process.

    Its monitor would poll the status of whichever server the environment names (each test
    server's, with refresh) every few seconds, refreshing tokens behind later tests' backs.
    """
    yield
    monitor = sys.modules.get("jupyter_nevis_auth.kernel.monitor")
    if monitor is not None:
        for widget in list(monitor.monitor._widgets):
            widget.close()


@pytest.fixture
def client_options() -> dict[str, Any]:
    """Per-test knobs of the registered client (TTLs, rotation, auth method...)."""
    return {}


@pytest.fixture
def redirect_uri(jp_http_port: int, jp_base_url: str) -> str:
    """The callback URL the extension derives from test requests."""
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}nevis/callback"


@pytest.fixture
def oidc_client(
    oidc_provider: OIDCTestProvider, redirect_uri: str, client_options: dict[str, Any]
) -> RegisteredClient:
    """A confidential client registered at the test provider for this test's server."""
    return oidc_provider.add_client([redirect_uri], **client_options)


@pytest.fixture
def nevis_config(oidc_provider: OIDCTestProvider, oidc_client: RegisteredClient) -> dict[str, Any]:
    """The NevisAuth section of the test server's configuration."""
    return oidc_client.nevis_settings(oidc_provider.issuer, http_timeout=5.0)


@pytest.fixture
def jp_server_config(nevis_config: dict[str, Any]) -> dict[str, Any]:
    """Enable the extension and configure it against the test provider."""
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_nevis_auth": True}},
        "NevisAuth": nevis_config,
    }


@dataclass
class Browser:
    """A browser's view of the Jupyter server: its cookies and the provider's session."""

    fetch: Callable[..., Awaitable[HTTPResponse]]
    cookies: SimpleCookie

    def cookie_header(self) -> str:
        """The Cookie header this browser sends."""
        return "; ".join(f"{k}={m.value}" for k, m in self.cookies.items())

    async def get(self, *parts: str, params: dict[str, str] | None = None) -> HTTPResponse:
        """GET a server path without following redirects, keeping the cookies it sets."""
        headers = {"Cookie": self.cookie_header()} if self.cookies else {}
        response = await self.fetch(
            *parts,
            params=params or {},
            headers=headers,
            follow_redirects=False,
            raise_error=False,
        )
        for header in response.headers.get_list("Set-Cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or "1970" in morsel["expires"]:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel
        return response

    async def start_login(self, next_url: str | None = None) -> str:
        """Open nevis/login; return the provider URL it redirects to."""
        response = await self.get("nevis", "login", params={"next": next_url} if next_url else None)
        assert response.code == 302, response.body
        return response.headers["Location"]

    async def start_login_for(self, name: str, value: str) -> str:
        """Open nevis/login for an API or a provider (`name` api or provider)."""
        response = await self.get("nevis", "login", params={name: value})
        assert response.code == 302, response.body
        return response.headers["Location"]

    async def sign_in(
        self, username: str = "alice", *, redirect_uri: str, next_url: str | None = None
    ) -> HTTPResponse:
        """The whole code flow: login, the provider's real form, then the callback."""
        authorize = await self.start_login(next_url)
        callback = await asyncio.to_thread(
            provider_login, authorize, username, redirect_prefix=redirect_uri
        )
        return await self.callback(callback)

    async def callback(self, callback_url: str) -> HTTPResponse:
        """Deliver the provider's redirect to nevis/callback."""
        query = {k: v[0] for k, v in parse_qs(urlparse(callback_url).query).items()}
        return await self.get("nevis", "callback", params=query)


@pytest.fixture
def browser(jp_fetch: Callable[..., Awaitable[HTTPResponse]]) -> Browser:
    """A fresh browser talking to the test server."""
    return Browser(jp_fetch, SimpleCookie())


@pytest.fixture
def username() -> str:
    """A provider user name unique to the test."""
    return "user-" + secrets.token_hex(3)
