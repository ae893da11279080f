"""A waiting widget also offers a one-time link, for a notebook not shown by this server's page."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

import pytest

from tests.conftest import Browser
from tests.kernel.view import KernelView

LINK = r"http://127\.0\.0\.1:\d+/a%40b/nevis/link\?link_token=[\w-]{40,}"
#: What a server that does not know its public address says of its links.
ON_ITS_MACHINE = "the link works only in a browser on the server's machine"


class Records(logging.Handler):
    """Every record of a logger, whatever its level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_a_waiting_widget_offers_a_one_time_link_that_ends_with_the_wait(
    kernel_view: KernelView, browser: Browser, redirect_uri, username, jp_serverapp: Any
):
    links = jp_serverapp.web_app.settings["nevis_auth"].links
    cell = kernel_view.start_execute("jupyter_nevis_auth.get_access_token()")
    widget = await kernel_view.until(
        lambda: kernel_view.login_widgets() and kernel_view.login_widgets()[0]
    )
    text = await kernel_view.until(
        lambda: "one-time sign-in link" in kernel_view.text(widget) and kernel_view.text(widget)
    )
    assert "Jupyter not open in your browser?" in text
    # This server does not know the address browsers reach it at: the widget says so.
    assert ON_ITS_MACHINE in text and "in any browser" not in text
    # JupyterLab shows the notebook on this server: its own sign-in page comes first.
    buttons = [p["value"] for p in kernel_view.parts(widget) if "nevis-sign-in" in str(p)]
    assert buttons and 'href="/a%40b/nevis/login' in buttons[0]
    # The link is a link in the text, in the link colour and underlined, not a second button.
    (line,) = [p["value"] for p in kernel_view.parts(widget) if "nevis-one-time-link" in str(p)]
    anchor = re.search(r'<a href="' + LINK + '"[^>]*>one-time sign-in link</a>', line)
    assert anchor and "jupyter-button" not in anchor.group(0)
    assert "text-decoration:underline" in anchor.group(0)
    assert "color:var(--jp-content-link-color" in anchor.group(0)
    assert len(links) == 1

    # Signed in at this server's own page: the link is dropped, and the widget forgets it.
    await browser.sign_in(username, redirect_uri=redirect_uri)
    reply = await asyncio.wait_for(cell, 30)

    assert reply["status"] == "ok", reply
    await kernel_view.until(lambda: "one-time" not in kernel_view.text(widget))
    assert len(links) == 0
    # A frontend that shows no widgets gets the whole link as text, and where it works.
    plain = "Sign in with this one-time link: " + LINK + r"\nThis server does not know"
    assert re.search(plain, reply["output"]), reply["output"]
    assert ON_ITS_MACHINE in reply["output"]
    # Once the wait ended, the output a notebook keeps is updated to text without the link.
    updates = [
        m["content"]["data"]["text/plain"]
        for m in kernel_view.messages
        if m["msg_type"] == "update_display_data"
    ]
    assert updates and "link_token" not in updates[-1] and "signed in as" in updates[-1]


@pytest.fixture
def public_url(jp_http_port: int) -> str:
    return f"http://127.0.0.1:{jp_http_port}"


@pytest.fixture
def nevis_config(nevis_config: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    """With `public_url` for the tests that ask for it."""
    if "public_url" in request.fixturenames:
        return {**nevis_config, "public_url": request.getfixturevalue("public_url")}
    return nevis_config


async def test_the_link_of_a_server_that_knows_its_address_works_in_any_browser(
    kernel_view: KernelView, browser: Browser, redirect_uri, username, public_url: str
):
    cell = kernel_view.start_execute("jupyter_nevis_auth.get_access_token()")
    widget = await kernel_view.until(
        lambda: kernel_view.login_widgets() and kernel_view.login_widgets()[0]
    )
    text = await kernel_view.until(
        lambda: "one-time sign-in link" in kernel_view.text(widget) and kernel_view.text(widget)
    )
    assert "It works once, in any browser." in text and ON_ITS_MACHINE not in text
    await browser.sign_in(username, redirect_uri=redirect_uri)
    reply = await asyncio.wait_for(cell, 30)
    assert reply["status"] == "ok", reply
    assert re.search("Sign in with this one-time link, in any browser: " + LINK, reply["output"])


async def test_a_waiting_cell_asks_once_per_wait_and_logs_no_warning(
    kernel_view: KernelView, browser: Browser, redirect_uri, username, jp_serverapp: Any
):
    log = jp_serverapp.log
    records, level = Records(), log.level
    log.addHandler(records)
    log.setLevel(logging.DEBUG)
    try:
        cell = kernel_view.start_execute("jupyter_nevis_auth.get_access_token()")
        await kernel_view.until(lambda: kernel_view.login_widgets())
        await asyncio.sleep(6)
        await browser.sign_in(username, redirect_uri=redirect_uri)
        signed_in = time.monotonic()
        reply = await asyncio.wait_for(cell, 30)
        woken = time.monotonic() - signed_in
    finally:
        log.removeHandler(records)
        log.setLevel(level)

    assert reply["status"] == "ok", reply
    lines = [(r.levelno, r.getMessage()) for r in records.records]
    asked = [(lvl, m) for lvl, m in lines if "nevis/api/token" in m and " GET " in f" {m}"]
    # Not even the request that found the sign-in missing is a warning.
    warnings = [m for lvl, m in asked if lvl >= logging.WARNING]
    assert warnings == [], warnings
    assert [m for lvl, m in asked if "401" in m and "(not signed in)" in m], asked
    waits = [m for lvl, m in asked if "nevis/api/token/wait" in m]
    assert 1 <= len(waits) <= 2, waits
    assert all(lvl == logging.DEBUG for lvl, m in asked if "/wait" in m)
    # The server looks twice a second; the kernel then fetches the token.
    assert woken < 2.0, woken


#: A cell id as VS Code sends it: the URI of the cell's document.
VSCODE_CELL = "vscode-notebook-cell:/home/me/analysis.ipynb#W2sZmlsZQ%3D%3D"


async def sign_in_with_link(kernel_view: KernelView) -> tuple[str, str]:
    """The waiting widget, and its sign-in once that is the link (it shows before the link)."""
    widget = await kernel_view.until(
        lambda: kernel_view.login_widgets() and kernel_view.login_widgets()[0]
    )
    href = await kernel_view.until(
        lambda: (
            "link_token" in (kernel_view.sign_in_link(widget) or "")
            and kernel_view.sign_in_link(widget)
        )
    )
    return widget, href


async def test_in_vs_code_the_widgets_sign_in_is_the_one_time_link(
    kernel_view: KernelView, browser: Browser, redirect_uri, username, jp_serverapp: Any
):
    links = jp_serverapp.web_app.settings["nevis_auth"].links
    cell = kernel_view.start_execute("jupyter_nevis_auth.get_access_token()", VSCODE_CELL)
    widget, href = await sign_in_with_link(kernel_view)
    # Absolute: VS Code shows the notebook, not a page of this server.
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/a%40b/nevis/link\?link_token=[\w-]{40,}", href)
    text = await kernel_view.until(
        lambda: ON_ITS_MACHINE in (shown := kernel_view.text(widget)) and shown
    )
    assert "The sign-in button is a one-time link." in text
    assert "Jupyter not open" not in text
    assert len(links) == 1

    await browser.sign_in(username, redirect_uri=redirect_uri)
    reply = await asyncio.wait_for(cell, 30)

    assert reply["status"] == "ok", reply
    assert len(links) == 0


async def test_in_vs_code_login_waits_with_the_one_time_link(kernel_view: KernelView):
    cell = kernel_view.start_execute("jupyter_nevis_auth.login()", VSCODE_CELL)
    widget, href = await sign_in_with_link(kernel_view)
    assert href.startswith("http://127.0.0.1:") and "/nevis/link?link_token=" in href
    # The countdown follows the link by a moment: the wait starts once the link is shown.
    waits = "This cell waits for you to sign in"
    await kernel_view.until(lambda: waits in kernel_view.text(widget))
    cell.cancel()
