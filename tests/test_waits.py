"""A cell's wait for a sign-in: one request held by the server, and sign-ins that end with it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from jupyter_nevis_auth.core.links import WAIT_ENDED
from jupyter_nevis_auth.protocol import secret_header
from tests import test_links
from tests.conftest import Browser
from tests.support.provider import provider_login
from tests.test_links import LinkBrowser, query, stored

# The fixtures of one-time links' tests, for these tests too.
anonymous_fetch = test_links.anonymous_fetch
ask_link = test_links.ask_link
link_browser = test_links.link_browser

Call = Callable[..., Awaitable[tuple[int, dict[str, Any]]]]


@pytest.fixture
def kernel_call(jp_fetch: Any, jp_serverapp: Any) -> Call:
    """A request to a kernel endpoint below nevis/api/token, as a kernel makes it."""
    secret = jp_serverapp.web_app.settings["nevis_auth_kernel_secret"]

    async def call(path: str, method: str = "GET", **params: str) -> tuple[int, dict[str, Any]]:
        response = await jp_fetch(
            "nevis",
            "api",
            "token",
            *path.split("/"),
            method=method,
            params=params,
            headers=secret_header(secret),
            raise_error=False,
            request_timeout=60,
        )
        return response.code, json.loads(response.body)

    return call


async def test_a_wait_that_runs_out_is_answered_200_not_ready(kernel_call: Call):
    started = time.monotonic()
    code, body = await kernel_call("wait", seconds="1.2")
    assert (code, body) == (200, {"ready": False})
    assert 1.1 < time.monotonic() - started < 5


async def test_a_wait_ends_within_a_second_of_the_sign_in(
    kernel_call: Call, browser: Browser, redirect_uri, username
):
    wait = asyncio.ensure_future(kernel_call("wait", seconds="20"))
    await asyncio.sleep(1)
    assert not wait.done()
    await browser.sign_in(username, redirect_uri=redirect_uri)
    signed_in = time.monotonic()

    assert await asyncio.wait_for(wait, 5) == (200, {"ready": True})
    assert time.monotonic() - signed_in < 1.0
    # Signed in already: answered at once.
    started = time.monotonic()
    assert await kernel_call("wait", seconds="20") == (200, {"ready": True})
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("seconds", ["x", "-1", "inf", "nan"])
async def test_a_wait_of_no_number_of_seconds_is_refused(kernel_call: Call, seconds: str):
    code, body = await kernel_call("wait", seconds=seconds)
    assert code == 400
    assert body == {"error": "invalid_request", "message": "seconds must be a number of seconds."}


async def test_a_wait_without_seconds_looks_once(kernel_call: Call):
    assert await kernel_call("wait") == (200, {"ready": False})


async def test_only_kernels_may_wait(jp_fetch: Any):
    response = await jp_fetch("nevis", "api", "token", "wait", raise_error=False)
    assert response.code == 403


async def test_a_sign_in_from_a_link_whose_cell_stopped_waiting_is_refused(
    ask_link,
    kernel_call: Call,
    link_browser: LinkBrowser,
    redirect_uri,
    username,
    jp_serverapp: Any,
):
    service = jp_serverapp.web_app.settings["nevis_auth"]
    url = (await ask_link())["url"]
    authorize = await link_browser.follow_link(url)
    callback = await asyncio.to_thread(
        provider_login, authorize, username, redirect_prefix=redirect_uri
    )
    assert len(service.pending) == 1

    # The cell stops waiting: its kernel drops the link, and the sign-in started from it.
    assert await kernel_call("link", "DELETE", link_token=query(url)["link_token"]) == (200, {})
    response = await link_browser.callback(callback)

    assert response.code == 410
    assert WAIT_ENDED in response.body.decode()
    assert "Traceback" not in response.body.decode()
    assert await stored(jp_serverapp) is None
    assert len(service.pending) == 0
    # The cookie binding the sign-in to the browser is cleared.
    cleared = response.headers.get_list("Set-Cookie")
    assert len(cleared) == 1 and cleared[0].startswith("nevis_auth_state_")
    assert '=""; expires=' in cleared[0]


async def test_dropping_another_link_leaves_a_sign_in_alone(
    ask_link,
    kernel_call: Call,
    link_browser: LinkBrowser,
    redirect_uri,
    username,
    jp_serverapp: Any,
):
    url, other = (await ask_link())["url"], (await ask_link())["url"]
    authorize = await link_browser.follow_link(url)
    await kernel_call("link", "DELETE", link_token=query(other)["link_token"])
    callback = await asyncio.to_thread(
        provider_login, authorize, username, redirect_prefix=redirect_uri
    )

    assert (await link_browser.callback(callback)).code == 302
    assert (await stored(jp_serverapp)).claims["sub"] == username


@pytest.mark.parametrize("cell_waits", [True, False])
async def test_the_done_page_speaks_of_a_waiting_cell_only_when_one_waits(
    ask_link,
    kernel_call: Call,
    link_browser: LinkBrowser,
    redirect_uri,
    username,
    cell_waits: bool,
):
    authorize = await link_browser.follow_link((await ask_link())["url"])
    callback = await asyncio.to_thread(
        provider_login, authorize, username, redirect_prefix=redirect_uri
    )
    wait = asyncio.ensure_future(kernel_call("wait", seconds="20")) if cell_waits else None
    await asyncio.sleep(0.3)
    await link_browser.callback(callback)
    done = (await link_browser.get("nevis", "link", "done")).body.decode()

    assert f"Signed in as {username.capitalize()} Example" in done
    carries_on = "the notebook cell that asked for the sign-in carries on" in done
    assert carries_on is cell_waits
    assert ("no notebook cell is waiting for this sign-in" in done) is not cell_waits
    if wait is not None:
        assert await asyncio.wait_for(wait, 5) == (200, {"ready": True})
