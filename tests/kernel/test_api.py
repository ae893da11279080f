"""get_access_token, get_id_token and whoami in real kernels started by the server."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_nevis_auth.kernel.status_html import on_this_server
from tests.conftest import Browser
from tests.kernel.conftest import Kernel, sha, stored
from tests.support.resource_server import ResourceServer


async def test_a_kernel_gets_the_users_tokens_and_calls_the_api(
    kernel: Kernel,
    browser: Browser,
    redirect_uri,
    username,
    jp_serverapp,
    resource_server: ResourceServer,
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    tokens = await stored(jp_serverapp)
    resource_server.reset()
    hello = resource_server.hello_url

    values = await kernel.values(f"""
        import httpx
        token = get_access_token()
        with_auth = requests.get({hello!r}, auth=BearerAuth(), timeout=10)
        with_session = session().get({hello!r}, timeout=10)
        without = requests.get({hello!r}, timeout=10)
        with_httpx = httpx.get({hello!r}, auth=nevis.HTTPXBearerAuth())
        async with httpx.AsyncClient(auth=nevis.HTTPXBearerAuth()) as client:
            with_async_httpx = await client.get({hello!r})
        responses = [with_auth, with_session, without, with_httpx, with_async_httpx]
        out(
            token=sha(token), id_token=sha(get_id_token()), who=whoami(),
            codes=[r.status_code for r in responses], sub=with_auth.json()["sub"],
        )
    """)

    assert values["token"] == sha(tokens.access_token)
    assert values["id_token"] == sha(tokens.id_token)
    assert values["who"]["sub"] == username
    assert "nonce" not in values["who"]
    assert values["codes"] == [200, 200, 401, 200, 200]
    assert values["sub"] == username
    assert resource_server.stats() == {"requests": 5, "unauthorized": 1}


async def test_signed_out_raises_at_once_with_the_login_url(
    kernel: Kernel, jp_base_url, resource_server: ResourceServer
):
    values = await kernel.values(f"""
        started = time.monotonic()
        try:
            get_access_token()
        except LoginRequiredError as e:
            error = [type(e).__name__, str(e), e.login_url]
        seconds = time.monotonic() - started
        try:
            requests.get({resource_server.hello_url!r}, auth=BearerAuth(), timeout=10)
        except LoginRequiredError as e:
            via_auth = type(e).__name__
        out(error=error, seconds=seconds, via_auth=via_auth,
            interactive=nevis.has_interactive_frontend())
    """)

    login_url = jp_base_url + "nevis/login"
    assert values["error"] == [
        "LoginRequiredError",
        f"You are not signed in; sign in first. Sign in at {login_url}, then run this again.",
        login_url,
    ]
    assert values["seconds"] < 1.0
    assert values["via_auth"] == "LoginRequiredError"
    assert values["interactive"] is False


async def test_a_kernel_started_before_the_sign_in_works_after_it(
    kernel: Kernel, browser: Browser, redirect_uri, username, jp_serverapp
):
    before = await kernel.run("get_access_token()")
    assert before.error.startswith("LoginRequiredError: You are not signed in")

    await browser.sign_in(username, redirect_uri=redirect_uri)

    after = await kernel.values("out(token=sha(get_access_token()))")
    assert after["token"] == sha((await stored(jp_serverapp)).access_token)


class TestWhereTheServerKnowsItsAddress:
    """With NevisAuth.public_url, messages read far from Jupyter name the whole sign-in URL."""

    @pytest.fixture
    def nevis_config(self, nevis_config: dict[str, Any]) -> dict[str, Any]:
        return {**nevis_config, "public_url": "https://jupyter.example"}

    async def test_the_error_of_a_cell_nobody_waits_in_names_the_absolute_url(
        self, kernel: Kernel, jp_base_url
    ):
        values = await kernel.values("""
            try:
                get_access_token()
            except LoginRequiredError as e:
                out(message=str(e), url=e.login_url)
        """)

        url = f"https://jupyter.example{jp_base_url}nevis/login"
        assert values["url"] == url
        assert f"Sign in at {url}, then run this again." in values["message"]


def test_the_widget_signs_in_at_the_address_the_browser_uses():
    assert on_this_server("https://jupyter.example/a%40b/nevis/login?api=x") == (
        "/a%40b/nevis/login?api=x"
    )
    assert on_this_server("/a%40b/nevis/login") == "/a%40b/nevis/login"
