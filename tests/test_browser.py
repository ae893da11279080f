"""End to end in a real browser: JupyterLab, the widget, the provider's login form, the API.

Headless Debian Chromium driven by Playwright, a `jupyter lab` process with the
extension, the test provider and the protected test API. Without Chromium the
tests are skipped, except on CI (CI=true), where that is a failure. On a failure,
screenshots of every open page go to test-artifacts/. With UPDATE_SCREENSHOTS=1
the run also refreshes the README's widget images in docs/images/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest

import tests.support.browser as browser_support
from tests.support.browser import (
    ARTIFACTS,
    ROOT,
    JupyterLab,
    Notebook,
    artifacts_on_failure,
    new_context,
    sign_in_at_provider,
)
from tests.support.provider import OIDCTestProvider
from tests.support.resource_server import ResourceServer

pytestmark = pytest.mark.browser

README_IMAGES = ROOT / "docs" / "images"

# Debian's Chromium, and no Jupyter test event loop (Playwright's sync API runs its own).
chromium_path = browser_support.chromium_path
chromium = browser_support.chromium
jp_asyncio_loop = browser_support.jp_asyncio_loop
jp_server_cleanup = browser_support.jp_server_cleanup


@pytest.fixture(scope="module")
def lab(
    chromium_path: str,
    oidc_provider: OIDCTestProvider,
    resource_server: ResourceServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[JupyterLab]:
    """A running JupyterLab for the module's tests."""
    with JupyterLab(tmp_path_factory.mktemp("lab"), oidc_provider, resource_server) as server:
        yield server


@pytest.fixture
def context(chromium: Any) -> Iterator[Any]:
    """A fresh browser profile."""
    # Twice the pixels: sharp screenshots for the README.
    with new_context(
        chromium, viewport={"width": 1280, "height": 900}, device_scale_factor=2
    ) as context:
        yield context


def save_widget(widget: Any, name: str, *, readme: bool = False) -> None:
    """A screenshot of the widget for the artifacts (and for the README when asked)."""
    ARTIFACTS.mkdir(exist_ok=True)
    widget.screenshot(path=ARTIFACTS / f"{name}.png")
    if readme and os.environ.get("UPDATE_SCREENSHOTS") == "1":
        README_IMAGES.mkdir(parents=True, exist_ok=True)
        widget.screenshot(path=README_IMAGES / f"{name}.png")


def test_sign_in_from_a_waiting_cell_in_jupyterlab(context: Any, lab: JupyterLab) -> None:
    page = context.new_page()
    nb = Notebook(page)
    with artifacts_on_failure(context, lab, "jupyterlab"):
        page.goto(f"{lab.url}lab/tree/getting-started.ipynb?token={lab.token}")

        # Signed out: the widget of login() offers the sign-in.
        login_cell = nb.run("login()")
        status_widget = nb.widget(login_cell)
        status_widget.get_by_text("Signed out").wait_for()
        sign_in = status_widget.locator("a.nevis-sign-in")
        assert sign_in.get_attribute("target") == "_blank"
        nb.check_readable(status_widget)
        save_widget(status_widget, "widget-signed-out", readme=True)

        # The cell that needs a token shows the widget and waits.
        token_cell = nb.run("token = get_access_token()")
        waiting = nb.widget(token_cell)
        waiting.get_by_text(re.compile(r"waits for you to sign in: \d:\d\d left")).wait_for()
        nb.check_readable(waiting)
        save_widget(waiting, "widget-waiting")
        # The one-time link for another browser looks like a link, unlike the text around it.
        decoration, color, around = waiting.locator("a.nevis-one-time-link").evaluate(
            "(a) => [getComputedStyle(a).textDecorationLine, getComputedStyle(a).color, "
            "getComputedStyle(a.parentElement).color]"
        )
        assert decoration == "underline" and color != around, (decoration, color, around)

        with context.expect_page() as new_window:
            waiting.locator("a.nevis-sign-in").click()
        popup = new_window.value
        visited: list[str] = []
        popup.on("framenavigated", lambda frame: visited.append(frame.url))
        sign_in_at_provider(popup, "alice")
        # The sign-in ends on nevis/done, which closes the window the widget opened.
        if not popup.is_closed():
            popup.wait_for_event("close")
        assert any(urlparse(url).path == "/nevis/done" for url in visited), visited

        # The same execution carries on and the API answers.
        token_cell.locator(".jp-OutputArea-output").filter(has_text="(200, {").wait_for()
        assert "'sub': 'alice'" in token_cell.inner_text()
        assert lab.status()["logged_in"] is True
        # Both widgets follow the sign-in by themselves.
        for widget in (waiting, status_widget):
            widget.get_by_text("Signed in as Alice Example").wait_for()
        status_widget.get_by_text(re.compile(r"expires in \d+ min")).wait_for()
        status_widget.locator(".nevis-sign-out").wait_for()
        nb.check_readable(status_widget)
        save_widget(status_widget, "widget-signed-in", readme=True)
        assert waiting.get_by_text("waits for you").count() == 0

        page.evaluate(
            "window.jupyterapp.commands.execute('apputils:change-theme', "
            "{theme: 'JupyterLab Dark'})"
        )
        page.locator('body[data-jp-theme-light="false"]').wait_for(state="attached")
        nb.check_readable(status_widget)
        save_widget(status_widget, "widget-signed-in-dark")

        # Sign out from the widget: the next call waits again, until interrupted.
        status_widget.locator(".nevis-sign-out").click()
        status_widget.get_by_text("Signed out").wait_for()
        status_widget.locator("a.nevis-sign-in").wait_for()
        assert lab.status()["logged_in"] is False
        nb.check_readable(status_widget)
        save_widget(status_widget, "widget-signed-out-dark")

        token_cell = nb.run("token = get_access_token()")
        waiting = nb.widget(token_cell)
        waiting.get_by_text(re.compile(r"waits for you to sign in")).wait_for()
        page.evaluate("window.jupyterapp.commands.execute('notebook:interrupt-kernel')")
        token_cell.get_by_text("KeyboardInterrupt").first.wait_for()
        assert waiting.get_by_text("waits for you").count() == 0


def test_widget_renders_in_notebook_7(context: Any, lab: JupyterLab) -> None:
    page = context.new_page()
    nb = Notebook(page)
    with artifacts_on_failure(context, lab, "notebook7"):
        page.goto(f"{lab.url}notebooks/getting-started.ipynb?token={lab.token}")

        widget = nb.widget(nb.run("login()"))

        widget.get_by_text("Signed out").wait_for()
        href = widget.locator("a.nevis-sign-in").get_attribute("href")
        assert href == "/nevis/login?next=/nevis/done"
        nb.check_readable(widget)
