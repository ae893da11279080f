"""Signing in from frontends that are not a browser signed in to Jupyter, with real parts.

A kernel of the test server driven as `jupyter console` drives it (jupyter_client, allow_stdin,
no widget frontend); the sign-in happens in a fresh headless Chromium context that has no
Jupyter cookie: with the one-time link, or with a device code at the provider's own pages.
"""

from __future__ import annotations

import asyncio
import re
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_nevis_auth.core.links import WAIT_ENDED
from tests.kernel.conftest import PRELUDE, Kernel
from tests.support.browser import (
    chromium_or_skip,
    launched_chromium,
    new_context,
    sign_in_at_provider,
)
from tests.support.provider import DEVICE_CODE, TOKEN_EXCHANGE, OIDCTestProvider, RegisteredClient

pytestmark = pytest.mark.browser

#: Milliseconds for a page to show what a test waits for.
UI_TIMEOUT = 20_000
LINK = re.compile(r"https?://\S+/nevis/link\?link_token=[\w-]+")
DEVICE_LINK = re.compile(r"or open (http://\S+/device\?user_code=\S+)")


@pytest.fixture(scope="module")
def device_provider() -> Iterator[OIDCTestProvider]:
    """A provider that offers the device flow too."""
    with OIDCTestProvider(device_flow=True) as provider:
        yield provider


@pytest.fixture
def client_options() -> dict[str, Any]:
    """The device flow's knobs: a fast interval, and whatever a test adds."""
    return {"device_interval": 1}


@pytest.fixture
def oidc_client(
    device_provider: OIDCTestProvider, redirect_uri: str, client_options: dict[str, Any]
) -> RegisteredClient:
    """A client that may use the code flow and the device flow."""
    grants = ["authorization_code", "refresh_token", TOKEN_EXCHANGE, DEVICE_CODE]
    return device_provider.add_client([redirect_uri], grant_types=grants, **client_options)


@pytest.fixture
def public_url(jp_http_port: int) -> str | None:
    """The test server's public address (None: it does not know it)."""
    return f"http://127.0.0.1:{jp_http_port}"


@pytest.fixture
def nevis_config(
    device_provider: OIDCTestProvider, oidc_client: RegisteredClient, public_url: str | None
) -> Any:
    """The test server against the device-flow provider, with device sign-ins offered.

    It knows its public address: else a text frontend would get a device code, not a link.
    """
    known = {"public_url": public_url} if public_url else {}
    return oidc_client.nevis_settings(
        device_provider.issuer, http_timeout=5.0, device_flow=True, **known
    )


class Console(Kernel):
    """A kernel of the test server, and its id there."""

    def __init__(self, client: Any, kernel_id: str) -> None:
        super().__init__(client)
        self.kernel_id = kernel_id


@pytest.fixture
def console(jp_serverapp: Any, http_server: Any, jp_asyncio_loop: Any) -> Iterator[Console]:
    """A kernel of the test server and a client that is no widget frontend."""
    chromium_or_skip()
    manager = jp_serverapp.kernel_manager
    kernel_id = jp_asyncio_loop.run_until_complete(manager.start_kernel())
    client = manager.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        jp_asyncio_loop.run_until_complete(client.wait_for_ready(timeout=60))
        kernel = Console(client, kernel_id)
        assert not jp_asyncio_loop.run_until_complete(kernel.run(PRELUDE)).error
        yield kernel
    finally:
        client.stop_channels()
        jp_asyncio_loop.run_until_complete(manager.shutdown_kernel(kernel_id, now=True))


class Cell:
    """A cell running in the background as jupyter console runs it, and what it shows."""

    def __init__(self, kernel: Kernel, code: str) -> None:
        self.text: list[str] = []
        self.errors: list[str] = []
        self.task = asyncio.ensure_future(
            kernel.client.execute_interactive(
                textwrap.dedent(code), allow_stdin=True, timeout=120, output_hook=self.collect
            )
        )

    def collect(self, msg: dict[str, Any]) -> None:
        content = msg["content"]
        if msg["msg_type"] == "stream":
            self.text.append(content["text"])
        elif msg["msg_type"] in ("display_data", "execute_result"):
            self.text.append(content["data"].get("text/plain", ""))
        elif msg["msg_type"] == "error":
            self.errors.append(f"{content['ename']}: {content['evalue']}")

    async def shows(self, pattern: re.Pattern[str], timeout: float = 30) -> str:
        """The first match of `pattern` in what the cell printed, once it is there."""
        deadline = time.monotonic() + timeout
        while not (found := pattern.search("".join(self.text))):
            assert time.monotonic() < deadline, "".join(self.text) + "".join(self.errors)
            assert not self.task.done(), "".join(self.text) + "".join(self.errors)
            await asyncio.sleep(0.1)
        return found.group(found.lastindex or 0)

    async def result(self) -> str:
        """Everything the cell printed, once it has finished."""
        await asyncio.wait_for(self.task, 60)
        return "".join(self.text)


def in_fresh_browser(url: str, steps: Any) -> str:
    """Open `url` in a new Chromium profile (no Jupyter cookie), run `steps(page)`, its text."""
    with launched_chromium() as browser, new_context(browser, UI_TIMEOUT) as context:
        page = context.new_page()
        page.goto(url)
        steps(page)
        assert not [c for c in context.cookies() if c["name"].startswith("username-")]
        return str(page.inner_text("body"))


async def test_a_console_kernel_prints_a_link_that_signs_in_from_any_browser(
    console: Console, username: str
):
    cell = Cell(console, "token = get_access_token()\nprint('got', repr(token))")
    url = await cell.shows(LINK)
    await cell.shows(re.compile(r"waits for you to sign in: \d:\d\d left"))

    def sign_in(page: Any) -> None:
        page.get_by_text("for the Jupyter server of").wait_for()
        page.get_by_role("button", name="Continue to sign in").click()
        sign_in_at_provider(page, username)
        page.get_by_text("You can close this window").wait_for()

    text = await asyncio.to_thread(in_fresh_browser, url, sign_in)

    assert f"Signed in as {username.capitalize()} Example" in text
    output = await cell.result()
    assert not cell.errors, cell.errors
    assert re.search(r"got <access token, expires in \d+ s>", output)
    # The link is used up: opened again, it says so.
    again = await asyncio.to_thread(in_fresh_browser, url, lambda page: None)
    assert "expired, was already used" in again


@pytest.mark.parametrize("client_options", [{"device_interval": 1, "slow_down_polls": 1}])
async def test_a_device_code_signs_in_at_the_providers_own_pages(
    console: Console, username: str, device_provider: OIDCTestProvider, oidc_client
):
    cell = Cell(console, "nevis.login(method='device')\nout(me=whoami()['sub'])")
    complete = await cell.shows(DEVICE_LINK)
    started = time.monotonic()

    def confirm(page: Any) -> None:
        page.get_by_role("button", name="Continue").first.click()
        sign_in_at_provider(page, username)
        page.get_by_text("Sign-in Success").wait_for()

    await asyncio.to_thread(in_fresh_browser, complete, confirm)

    output = await cell.result()
    assert not cell.errors, cell.errors
    assert f'"me": "{username}"' in output
    assert f"Signed in as {username.capitalize()} Example." in output
    assert "\u2588\u2588" in output  # the QR code, as text for a console
    # One slow_down made the server wait 5 s longer between polls (RFC 8628 3.5).
    polls = device_provider.token_calls(oidc_client.client_id, DEVICE_CODE)
    assert polls <= 2 + (time.monotonic() - started) / 6, polls


async def test_a_refused_device_sign_in_ends_the_wait_with_a_sentence(console: Console):
    cell = Cell(console, "nevis.login(method='device')")
    complete = await cell.shows(DEVICE_LINK)

    def abort(page: Any) -> None:
        page.get_by_role("button", name="[ Abort ]").click()
        page.get_by_text("interrupted").first.wait_for()

    await asyncio.to_thread(in_fresh_browser, complete, abort)

    await cell.result()
    assert cell.errors == [
        "LoginRequiredError: The sign-in was refused at the provider (access_denied); run the "
        "cell again to start over."
    ]


@pytest.mark.parametrize("client_options", [{"device_interval": 1, "device_code_ttl": 5}])
async def test_an_expired_device_code_ends_the_wait_with_a_sentence(console: Console):
    cell = Cell(console, "nevis.login(method='device')")
    await cell.shows(DEVICE_LINK)

    await cell.result()
    assert cell.errors == [
        "LoginRequiredError: The code expired before the sign-in was confirmed (expired_token); "
        "run the cell again for a new code."
    ]


async def test_an_interrupt_after_continue_ends_the_sign_in_started_from_the_link(
    console: Console, jp_serverapp: Any, username: str
):
    service = jp_serverapp.web_app.settings["nevis_auth"]
    owner = jp_serverapp.web_app.settings["nevis_auth_owner"]
    cell = Cell(console, "get_access_token()")
    url = await cell.shows(LINK)
    loop = asyncio.get_running_loop()
    callbacks: list[int] = []

    async def interrupt() -> None:
        await jp_serverapp.kernel_manager.interrupt_kernel(console.kernel_id)
        await cell.result()

    def sign_in(page: Any) -> None:
        page.on("response", lambda r: "/nevis/callback" in r.url and callbacks.append(r.status))
        page.get_by_role("button", name="Continue to sign in").click()
        # At the provider's login form: the sign-in is under way when the cell stops waiting.
        page.locator('input[name="login"]').wait_for()
        assert len(service.pending) == 1
        asyncio.run_coroutine_threadsafe(interrupt(), loop).result(60)
        sign_in_at_provider(page, username)
        page.get_by_text("stopped waiting").wait_for()

    text = await asyncio.to_thread(in_fresh_browser, url, sign_in)

    assert cell.errors and cell.errors[0].startswith("KeyboardInterrupt"), cell.errors
    assert " ".join(WAIT_ENDED.split()) in " ".join(text.split())
    assert callbacks == [410]
    assert await service.tokens.store.get(owner) is None
    assert len(service.pending) == 0 and len(service.links) == 0


async def test_a_console_prints_who_signed_in(console: Console, jp_serverapp: Any, username: str):
    cell = Cell(console, "nevis.login(method='link')")
    url = await cell.shows(LINK)

    def sign_in(page: Any) -> None:
        page.get_by_role("button", name="Continue to sign in").click()
        sign_in_at_provider(page, username)
        page.get_by_text("the notebook cell that asked for the sign-in carries on").wait_for()

    await asyncio.to_thread(in_fresh_browser, url, sign_in)

    output = await cell.result()
    assert not cell.errors, cell.errors
    assert "Sign in with this one-time link, in any browser: http" in output
    assert f"Signed in as {username.capitalize()} Example." in output


@pytest.mark.parametrize("public_url", [None])
async def test_without_a_public_address_a_device_code_unless_the_link_is_asked_for(
    console: Console, jp_serverapp: Any
):
    async def interrupt(cell: Cell) -> None:
        await jp_serverapp.kernel_manager.interrupt_kernel(console.kernel_id)
        await cell.result()

    # Chosen by the frontend: the device code, since the link works only on this machine.
    cell = Cell(console, "get_access_token()")
    await cell.shows(DEVICE_LINK)
    assert not LINK.search("".join(cell.text))
    await interrupt(cell)
    # Asked for: the link, saying where it works.
    cell = Cell(console, "nevis.login(method='link')")
    await cell.shows(LINK)
    text = "".join(cell.text)
    assert "works only in a browser on the server's machine" in text, text
    assert "in any browser" not in text and not DEVICE_LINK.search(text)
    await interrupt(cell)


async def test_an_interrupt_stops_the_wait(console: Console, jp_serverapp: Any):
    cell = Cell(console, "get_access_token()")
    await cell.shows(LINK)
    await jp_serverapp.kernel_manager.interrupt_kernel(console.kernel_id)
    await cell.result()
    assert cell.errors and cell.errors[0].startswith("KeyboardInterrupt")
    assert len(jp_serverapp.web_app.settings["nevis_auth"].links) == 0
