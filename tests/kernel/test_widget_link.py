"""A waiting widget also offers a one-time link, for a notebook not shown by this server's page."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from tests.conftest import Browser
from tests.kernel.view import KernelView


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
    state = " ".join(str(m) for m in kernel_view.models.values())
    assert re.search(r"http://127\.0\.0\.1:\d+/a%40b/nevis/link\?link_token=[\w-]{40,}", state)
    assert len(links) == 1

    # Signed in at this server's own page: the link is dropped, and the widget forgets it.
    await browser.sign_in(username, redirect_uri=redirect_uri)
    reply = await asyncio.wait_for(cell, 30)

    assert reply["status"] == "ok", reply
    await kernel_view.until(lambda: "one-time" not in kernel_view.text(widget))
    assert len(links) == 0
