"""One-time sign-in links: any browser signs in for the owner, once, briefly, unlogged."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from tornado.escape import url_escape
from tornado.httpclient import HTTPResponse
from tornado.httputil import url_concat

from jupyter_nevis_auth.protocol import secret_header
from tests.conftest import Browser
from tests.support.provider import provider_login

Fetch = Callable[..., Awaitable[HTTPResponse]]


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    """NevisAuth settings a test changes."""
    return {}


@pytest.fixture
def nevis_config(nevis_config: dict[str, Any], config_overrides: dict[str, Any]) -> dict[str, Any]:
    """The test server's settings with the test's changes."""
    return {**nevis_config, **config_overrides}


@pytest.fixture
def anonymous_fetch(http_server_client: Any, jp_base_url: str) -> Fetch:
    """Requests to the test server from a client with no Jupyter token or cookie at all."""

    def fetch(*parts: str, params: dict[str, str] | None = None, **kwargs: Any) -> Any:
        path = url_escape("/".join(parts), plus=False).replace("%2F", "/")
        url = url_concat(jp_base_url + path, params or {})
        return http_server_client.fetch(url, request_timeout=20, **kwargs)

    return fetch


class LinkBrowser(Browser):
    """A browser that never signed in to Jupyter: it only has the link."""

    async def post(self, *parts: str, body: dict[str, str]) -> HTTPResponse:
        """POST a form, with this browser's cookies."""
        response = await self.fetch(
            *parts,
            method="POST",
            body=urlencode(body),
            follow_redirects=False,
            raise_error=False,
            headers={"Cookie": self.cookie_header()},
        )
        self.keep_cookies(response)
        return response

    def keep_cookies(self, response: HTTPResponse) -> None:
        for header in response.headers.get_list("Set-Cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            self.cookies.update(jar)

    async def open_link(self, url: str) -> HTTPResponse:
        """GET the link's page."""
        return await self.get("nevis", "link", params=query(url))

    async def follow_link(self, url: str) -> str:
        """Open the link, press its button; the provider URL it sends the browser to."""
        page = await self.open_link(url)
        assert page.code == 200, page.body
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.body.decode())
        assert xsrf
        response = await self.post("nevis", "link", body={**query(url), "_xsrf": xsrf.group(1)})
        assert response.code == 302, response.body
        return response.headers["Location"]


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


@pytest.fixture
def link_browser(anonymous_fetch: Fetch) -> LinkBrowser:
    return LinkBrowser(anonymous_fetch, SimpleCookie())


@pytest.fixture
def ask_link(jp_fetch: Fetch, jp_serverapp: Any) -> Callable[..., Awaitable[dict[str, Any]]]:
    """What a kernel gets from POST nevis/api/token/link."""
    secret = jp_serverapp.web_app.settings["nevis_auth_kernel_secret"]

    async def ask(**params: str) -> dict[str, Any]:
        response = await jp_fetch(
            "nevis",
            "api",
            "token",
            "link",
            method="POST",
            body="",
            params=params,
            headers=secret_header(secret),
        )
        return json.loads(response.body)  # type: ignore[no-any-return]

    return ask


async def stored(jp_serverapp: Any) -> Any:
    settings = jp_serverapp.web_app.settings
    return await settings["nevis_auth"].tokens.store.get(settings["nevis_auth_owner"])


async def test_a_browser_without_jupyter_signs_in_with_the_link(
    ask_link, link_browser: LinkBrowser, redirect_uri, username, jp_serverapp, jp_http_port
):
    answer = await ask_link()
    assert answer["url"].startswith(f"http://127.0.0.1:{jp_http_port}/a%40b/nevis/link?link_token=")
    assert answer["public"] is False and "NevisAuth.public_url" in answer["note"]
    assert answer["expires_in"] == 300 and answer["device_flow"] is False

    page = await link_browser.open_link(answer["url"])
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "for the Jupyter server of" in page.body.decode()
    authorize = await link_browser.follow_link(answer["url"])
    callback = await asyncio.to_thread(
        provider_login, authorize, username, redirect_prefix=redirect_uri
    )
    response = await link_browser.callback(callback)

    assert response.code == 302, response.body
    assert urlparse(response.headers["Location"]).path == "/a%40b/nevis/link/done"
    done = await link_browser.get("nevis", "link", "done")
    assert f"Signed in as {username.capitalize()} Example" in done.body.decode()
    assert (await stored(jp_serverapp)).claims["sub"] == username
    # The page names nobody once it has been seen.
    again = await link_browser.get("nevis", "link", "done")
    assert "Signed in" not in again.body.decode()


@pytest.mark.parametrize("config_overrides", [{"public_url": "https://jupyter.example"}])
async def test_the_link_uses_the_public_url(ask_link):
    answer = await ask_link(api="")
    assert answer["url"].startswith("https://jupyter.example/a%40b/nevis/link?link_token=")
    assert answer["public"] is True and answer["note"] is None


async def test_a_used_link_is_refused(ask_link, link_browser: LinkBrowser, anonymous_fetch):
    url = (await ask_link())["url"]
    await link_browser.follow_link(url)

    for browser in (link_browser, LinkBrowser(anonymous_fetch, SimpleCookie())):
        page = await browser.open_link(url)
        assert page.code == 410
        assert "expired, was already used" in page.body.decode()
        assert "Run the cell again in your notebook for a new sign-in link." in page.body.decode()
        posted = await browser.post("nevis", "link", body=query(url))
        assert posted.code in (403, 410)


@pytest.mark.parametrize("config_overrides", [{"login_timeout": 1}])
async def test_an_expired_link_is_refused(ask_link, link_browser: LinkBrowser):
    url = (await ask_link())["url"]
    await asyncio.sleep(1.2)
    assert (await link_browser.open_link(url)).code == 410


@pytest.mark.parametrize(
    "token",
    ["", "x", secrets.token_urlsafe(32), "../../etc", "%00", "a" * 5000],
    # Named, so that every pytest-xdist worker collects the same tests.
    ids=["empty", "short", "random", "path", "nul", "long"],
)
async def test_a_forged_link_is_refused(link_browser: LinkBrowser, token: str):
    page = await link_browser.get("nevis", "link", params={"link_token": token})
    assert page.code == 410
    assert "Traceback" not in page.body.decode()


async def test_a_revoked_link_is_refused(ask_link, jp_fetch, jp_serverapp, link_browser):
    url = (await ask_link())["url"]
    secret = jp_serverapp.web_app.settings["nevis_auth_kernel_secret"]
    await jp_fetch(
        "nevis",
        "api",
        "token",
        "link",
        method="DELETE",
        params=query(url),
        headers=secret_header(secret),
    )
    assert (await link_browser.open_link(url)).code == 410


async def test_only_kernels_get_links(jp_fetch):
    response = await jp_fetch(
        "nevis", "api", "token", "link", method="POST", body="", raise_error=False
    )
    assert response.code == 403


async def test_the_link_callback_works_only_in_the_browser_that_opened_the_link(
    ask_link, link_browser: LinkBrowser, anonymous_fetch, redirect_uri, username, jp_serverapp
):
    authorize = await link_browser.follow_link((await ask_link())["url"])
    callback = await asyncio.to_thread(
        provider_login, authorize, username, redirect_prefix=redirect_uri
    )

    other = LinkBrowser(anonymous_fetch, SimpleCookie())
    response = await other.callback(callback)

    assert response.code == 403
    assert "started in another browser" in response.body.decode()
    assert await stored(jp_serverapp) is None


async def test_other_sign_ins_still_need_the_jupyter_session(
    browser: Browser, link_browser: LinkBrowser, redirect_uri, username, jp_serverapp
):
    # A sign-in started from nevis/login, its callback delivered without a Jupyter session.
    authorize = await browser.start_login()
    callback = await asyncio.to_thread(
        provider_login, authorize, username, redirect_prefix=redirect_uri
    )
    # Only the cookie binding the sign-in to the browser, not Jupyter's own.
    link_browser.cookies.update(
        {k: v for k, v in browser.cookies.items() if k.startswith("nevis_auth_state_")}
    )
    response = await link_browser.callback(callback)

    assert response.code == 302
    assert "/login" in response.headers["Location"]
    assert await stored(jp_serverapp) is None
    for path in (
        ("nevis", "login"),
        ("nevis", "done"),
        ("nevis", "logout"),
        ("nevis", "api", "status"),
    ):
        assert (await link_browser.get(*path)).code in (302, 403), path


async def test_the_link_never_appears_in_a_log_line(
    ask_link, link_browser: LinkBrowser, redirect_uri, username, caplog
):
    caplog.set_level(logging.DEBUG)
    url = (await ask_link())["url"]
    token = query(url)["link_token"]
    await link_browser.open_link(url)
    await link_browser.get("nevis", "link", params={"link_token": token + "x"})
    authorize = await link_browser.follow_link(url)
    callback = await asyncio.to_thread(
        provider_login, authorize, username, redirect_prefix=redirect_uri
    )
    await link_browser.callback(callback)
    await link_browser.open_link(url)

    lines = [record.getMessage() for record in caplog.records]
    assert any("nevis/link" in line for line in lines), lines
    assert not any(token in line for line in lines)
