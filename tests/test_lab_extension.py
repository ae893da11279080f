"""The JupyterLab / Notebook 7 extension in a real browser: status item, details, commands.

Headless Debian Chromium driven by Playwright against a `jupyter lab` process with the
extension as installed (`jupyter labextension list` shows it), the test provider and its
login form. The page polls only every 300 s here, so every update a test waits for comes
from a sign-in or sign-out page, the item's own actions, or the tab being looked at again.
With UPDATE_SCREENSHOTS=1 the run refreshes the README's images of the item and its details.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

import tests.support.browser as browser_support
from tests.support.browser import (
    ARTIFACTS,
    MIN_CONTRAST,
    JupyterLab,
    Notebook,
    artifacts_on_failure,
    new_context,
    sign_in_at_provider,
    write_settings,
)
from tests.support.provider import OIDCTestProvider
from tests.support.resource_server import ResourceServer
from tests.test_browser import README_IMAGES

pytestmark = pytest.mark.browser

# Debian's Chromium, and no Jupyter test event loop (Playwright's sync API runs its own).
chromium_path = browser_support.chromium_path
chromium = browser_support.chromium
jp_asyncio_loop = browser_support.jp_asyncio_loop
jp_server_cleanup = browser_support.jp_server_cleanup

#: Seconds an access token lives in the revocation test: the server refreshes (and hears
#: that the grant is gone) once half of it is left.
ACCESS_TOKEN_TTL = 24
ITEM = "#jp-NevisAuth-item"
PANEL = ".jp-NevisAuth-panel"
SIGNED_IN = re.compile(r"Alice Example · (\d+ s|\d+ min|renewing)")


@pytest.fixture(scope="module")
def lab(
    chromium_path: str,
    oidc_provider: OIDCTestProvider,
    resource_server: ResourceServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[JupyterLab]:
    """JupyterLab with the extension, whose pages poll only every 300 s."""
    server = JupyterLab(tmp_path_factory.mktemp("lab-ext"), oidc_provider, resource_server)
    write_settings(server.workdir / "settings", "jupyter-nevis-auth:plugin", {"pollSeconds": 300})
    with server:
        yield server


@contextmanager
def token_lifetime(
    provider: OIDCTestProvider, lab: JupyterLab, seconds: int, *, refresh: bool = True
) -> Iterator[None]:
    """Sign-ins at the lab's client get access tokens of `seconds` (and no refresh token)."""

    def register(ttl: int | None, grant_types: list[str] | None) -> None:
        provider.add_client(
            [lab.url + "nevis/callback"],
            client_id=lab.env["NEVIS_AUTH_CLIENT_ID"],
            client_secret=lab.env["NEVIS_AUTH_CLIENT_SECRET"],
            access_token_ttl=ttl,
            grant_types=grant_types,
        )

    register(seconds, None if refresh else ["authorization_code"])
    try:
        yield
    finally:
        register(None, None)


@pytest.fixture
def context(chromium: Any, lab: JupyterLab) -> Iterator[Any]:
    """A fresh browser profile, starting signed out."""
    requests.post(lab.url + "nevis/logout", params={"token": lab.token}, timeout=10)
    assert lab.status()["logged_in"] is False
    with new_context(
        chromium, viewport={"width": 1280, "height": 800}, device_scale_factor=2
    ) as context:
        yield context


def contrast(locator: Any) -> float:
    return Notebook(None).contrast(locator)


def check_readable(page: Any, selector: str) -> None:
    """Every piece of text under `selector` meets WCAG AA contrast."""
    parts = page.locator(
        f"{selector} .jp-NevisAuth-itemText, {selector} p, {selector} th, {selector} td, "
        f"{selector} caption, {selector} button, {selector} h2, {selector} h3"
    )
    for number in range(parts.count()):
        part = parts.nth(number)
        if part.is_visible() and part.inner_text().strip():
            ratio = contrast(part)
            assert ratio >= MIN_CONTRAST, f"{part.inner_text()!r}: contrast {ratio:.2f}"


def save(page: Any, name: str, *, item: Any, panel: Any | None = None) -> None:
    """A screenshot of the item (and its open details) for the artifacts, and the README."""
    boxes = [b for b in (item.bounding_box(), panel.bounding_box() if panel else None) if b]
    left = min(b["x"] for b in boxes) - 12
    top = min(b["y"] for b in boxes) - 12
    right = max(b["x"] + b["width"] for b in boxes) + 12
    bottom = max(b["y"] + b["height"] for b in boxes) + 4
    clip = {
        "x": max(left, 0),
        "y": max(top, 0),
        "width": right - max(left, 0),
        "height": bottom - max(top, 0),
    }
    page.mouse.move(0, 0)  # no hover highlight in the picture
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", clip=clip)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        README_IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=README_IMAGES / f"{name}.png", clip=clip)


def open_lab(context: Any, lab: JupyterLab, path: str = "lab") -> Any:
    page = context.new_page()
    page.goto(f"{lab.url}{path}?token={lab.token}")
    page.locator(ITEM).wait_for()
    if path.startswith("lab"):
        # Once the layout is restored, nothing takes the focus away any more.
        page.wait_for_function("window.jupyterapp !== undefined")
        page.evaluate("window.jupyterapp.restored.then(() => true)")
    return page


def sign_in_in_popup(context: Any, click: Any, *, stays_open: bool = False) -> None:
    """Click what opens the sign-in window, sign in at the provider; the window closes.

    With `stays_open`, nevis/done has a warning to read and stays: the test closes it.
    """
    with context.expect_page() as new_window:
        click()
    popup = new_window.value
    popup.locator('input[name="login"], button:has-text("Continue")').first.wait_for()
    if popup.locator('input[name="login"]').count():
        sign_in_at_provider(popup, "alice")
    else:  # the provider remembers this browser: only its consent page
        popup.get_by_role("button", name="Continue").click()
    if stays_open:
        popup.get_by_role("heading", name="Signed in").wait_for()
        popup.close()
    elif not popup.is_closed():
        popup.wait_for_event("close")


def test_signed_out_then_sign_in_through_the_status_item(context: Any, lab: JupyterLab) -> None:
    page = open_lab(context, lab)
    with artifacts_on_failure(context, lab, "lab-item-sign-in"):
        item = page.locator(ITEM)
        item.get_by_text("Signed out", exact=True).wait_for()
        assert item.get_attribute("data-tone") == "signed-out"
        check_readable(page, ITEM)

        # Keyboard: the item is a button; Enter opens the details, Escape closes them.
        button = item.locator("button")
        assert button.get_attribute("aria-expanded") == "false"
        button.focus()
        page.keyboard.press("Enter")
        panel = page.locator(PANEL)
        panel.get_by_text("Signed out", exact=True).wait_for()
        assert page.evaluate("document.activeElement.textContent") == "Sign in"
        assert button.get_attribute("aria-expanded") == "true"
        check_readable(page, PANEL)
        save(page, "lab-item-signed-out", item=item, panel=panel)
        page.keyboard.press("Escape")
        panel.wait_for(state="detached")
        page.wait_for_function("document.activeElement.closest('#jp-NevisAuth-item') !== null")

        item.locator("button").click()
        sign_in_in_popup(context, lambda: panel.get_by_role("button", name="Sign in").click())

        item.get_by_text(SIGNED_IN).wait_for()
        assert item.get_attribute("data-tone") == "ok"
        panel.get_by_text("Signed in as Alice Example").wait_for()
        line = re.compile(r"Access token: \d+ min left, renewed automatically\.")
        panel.get_by_text(line).wait_for()
        claims = panel.locator(".jp-NevisAuth-claims")
        rows = dict(
            zip(
                claims.locator("tbody th").all_inner_texts(),
                claims.locator("tbody td").all_inner_texts(),
                strict=True,
            )
        )
        assert rows["Name"] == "Alice Example" and rows["Subject"] == "alice", rows
        panel.get_by_text(re.compile(r"Scopes: .*api")).wait_for()
        check_readable(page, PANEL)
        check_readable(page, ITEM)
        save(page, "lab-item-signed-in", item=item, panel=panel)
        # Nothing the page holds is a token: not its storage, not its settings.
        tokens = page.evaluate(
            "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
        )
        assert "eyJ" not in tokens and "access_token" not in tokens

        page.evaluate(
            "window.jupyterapp.commands.execute('apputils:change-theme', "
            "{theme: 'JupyterLab Dark'})"
        )
        page.locator('body[data-jp-theme-light="false"]').wait_for(state="attached")
        if not panel.is_visible():
            item.locator("button").click()
        panel.get_by_text("Signed in as Alice Example").wait_for()
        check_readable(page, PANEL)
        check_readable(page, ITEM)
        save(page, "lab-item-signed-in-dark", item=item, panel=panel)
        page.evaluate(
            "window.jupyterapp.commands.execute('apputils:change-theme', "
            "{theme: 'JupyterLab Light'})"
        )


def test_sign_out_from_the_details(context: Any, lab: JupyterLab) -> None:
    page = open_lab(context, lab)
    with artifacts_on_failure(context, lab, "lab-item-sign-out"):
        item = page.locator(ITEM)
        item.get_by_text("Signed out", exact=True).wait_for()
        # A sign-in in another tab of the browser (nevis/login, then nevis/done) shows here.
        other = context.new_page()
        other.goto(f"{lab.url}nevis/login?next=/nevis/done")
        sign_in_at_provider(other, "alice")
        item.get_by_text(SIGNED_IN).wait_for()

        item.locator("button").click()
        page.locator(PANEL).get_by_role("button", name="Sign out").click()
        item.get_by_text("Signed out", exact=True).wait_for()
        page.locator(PANEL).get_by_text("You signed out.").wait_for()
        assert lab.status()["logged_in"] is False


def test_commands_in_the_palette_and_the_help_menu(context: Any, lab: JupyterLab) -> None:
    page = open_lab(context, lab)
    with artifacts_on_failure(context, lab, "lab-commands"):
        page.get_by_role("menuitem", name="Help").click()
        menu = page.locator(".lm-Menu")
        for label in ("Show sign-in status", "Sign in", "Sign out"):
            menu.get_by_text(label, exact=True).wait_for()
        # Signed out: nothing to sign out of.
        sign_out = menu.locator(".lm-Menu-item").filter(has_text="Sign out")
        assert "lm-mod-disabled" in (sign_out.get_attribute("class") or "")
        page.keyboard.press("Escape")

        page.keyboard.press("Control+Shift+C")
        palette = page.locator(".lm-CommandPalette")
        palette.locator("input").fill("Show sign-in status")
        palette.locator(".lm-CommandPalette-item.lm-mod-active").get_by_text(
            "Show sign-in status"
        ).wait_for()
        page.keyboard.press("Enter")
        page.locator(".jp-Dialog, " + PANEL).first.wait_for()
        page.locator(PANEL).get_by_text("Signed out", exact=True).wait_for()


def test_item_follows_a_sign_in_in_the_notebook_widget(context: Any, lab: JupyterLab) -> None:
    page = open_lab(context, lab, "lab/tree/getting-started.ipynb")
    nb = Notebook(page)
    with artifacts_on_failure(context, lab, "lab-item-widget"):
        item = page.locator(ITEM)
        item.get_by_text("Signed out", exact=True).wait_for()
        widget = nb.widget(nb.run("login()"))
        widget.get_by_text(re.compile("Signed out")).first.wait_for()
        sign_in_in_popup(context, lambda: widget.locator("a.nevis-sign-in").click())
        item.get_by_text(SIGNED_IN).wait_for()

        # Signing out in the widget (through the kernel) shows in the item too.
        widget.locator(".nevis-sign-out").click()
        item.get_by_text("Signed out", exact=True).wait_for()


def test_notification_when_the_provider_revokes_the_grant(
    context: Any, lab: JupyterLab, oidc_provider: OIDCTestProvider
) -> None:
    page = open_lab(context, lab)
    with (
        token_lifetime(oidc_provider, lab, ACCESS_TOKEN_TTL),
        artifacts_on_failure(context, lab, "lab-item-revoked"),
    ):
        item = page.locator(ITEM)
        item.locator("button").click()
        sign_in_in_popup(
            context, lambda: page.locator(PANEL).get_by_role("button", name="Sign in").click()
        )
        item.get_by_text(SIGNED_IN).wait_for()
        signed_in_at = time.monotonic()
        page.keyboard.press("Escape")

        assert oidc_provider.revoke_grants(lab.env["NEVIS_AUTH_CLIENT_ID"]) > 0
        # The server refreshes once half the token's life is left; the provider refuses.
        time.sleep(max(0.0, ACCESS_TOKEN_TTL / 2 + 1 - (time.monotonic() - signed_in_at)))
        page.evaluate("window.dispatchEvent(new Event('focus'))")  # the person looks again

        toast = page.locator(".Toastify__toast").filter(
            has_text="Signed out by the provider; sign in again."
        )
        toast.wait_for()
        item.get_by_text("Signed out", exact=True).wait_for()
        assert lab.status()["signed_out_by_provider"] is True
        sign_in_in_popup(context, lambda: toast.get_by_role("button", name="Sign in").click())
        item.get_by_text(SIGNED_IN).wait_for()
        toast.wait_for(state="detached")


def test_warning_before_a_sign_in_without_refresh_token_ends(
    context: Any, lab: JupyterLab, oidc_provider: OIDCTestProvider
) -> None:
    page = open_lab(context, lab)
    with (
        token_lifetime(oidc_provider, lab, 150, refresh=False),
        artifacts_on_failure(context, lab, "lab-item-ends-soon"),
    ):
        item = page.locator(ITEM)
        item.locator("button").click()
        panel = page.locator(PANEL)
        sign_in_in_popup(
            context, lambda: panel.get_by_role("button", name="Sign in").click(), stays_open=True
        )
        item.get_by_text(SIGNED_IN).wait_for()
        assert lab.status()["refresh_possible"] is False

        # 150 s left, fewer than the 5 minutes of warning: the warning comes at once.
        warning = page.locator(".Toastify__toast").filter(
            has_text=re.compile(r"Sign-in expires in [123] minutes; it cannot be renewed")
        )
        warning.wait_for()
        # It stays while the item counts down (a redraw each second), until closed.
        page.wait_for_timeout(2500)
        assert warning.is_visible()
        assert item.get_attribute("data-tone") == "warning"
        panel.get_by_text(re.compile(r"cannot be renewed and ends in \d+ min")).wait_for()
        check_readable(page, PANEL)
        check_readable(page, ITEM)


def test_notebook_7_tree_and_notebook(context: Any, lab: JupyterLab) -> None:
    page = open_lab(context, lab, "tree")
    with artifacts_on_failure(context, lab, "notebook7-item"):
        item = page.locator(ITEM)
        item.get_by_text("Signed out", exact=True).wait_for()
        check_readable(page, ITEM)
        item.locator("button").click()
        dialog = page.locator(".jp-Dialog")
        sign_in_in_popup(
            context, lambda: dialog.locator(PANEL).get_by_role("button", name="Sign in").click()
        )
        item.get_by_text(SIGNED_IN).wait_for()
        dialog.get_by_text("Signed in as Alice Example").wait_for()
        check_readable(page, ".jp-Dialog")
        save(page, "notebook7-item", item=item)
        dialog.get_by_role("button", name="Close").click()
        dialog.wait_for(state="detached")

        notebook = context.new_page()
        notebook.goto(f"{lab.url}notebooks/getting-started.ipynb?token={lab.token}")
        notebook.locator(ITEM).get_by_text(SIGNED_IN).wait_for()
        check_readable(notebook, ITEM)


#: Whether the element is what the page shows at the middle of its box: not scrolled out
#: of sight inside the dialog, nor clipped by it, nor covered by something else.
SHOWN_AT_ITS_MIDDLE = """(el) => {
  const box = el.getBoundingClientRect();
  const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
  return hit !== null && el.contains(hit);
}"""


def test_notebook_7_details_fit_a_window_600_px_high(
    context: Any, lab: JupyterLab, oidc_provider: OIDCTestProvider
) -> None:
    page = open_lab(context, lab, "tree")
    page.set_viewport_size({"width": 1280, "height": 600})
    with (
        # A sign-in that ends soon has the most to say: its warnings, and Sign in again.
        token_lifetime(oidc_provider, lab, 150, refresh=False),
        artifacts_on_failure(context, lab, "notebook7-details-600"),
    ):
        item = page.locator(ITEM)
        item.get_by_text("Signed out", exact=True).wait_for()
        other = context.new_page()
        other.goto(f"{lab.url}nevis/login?next=/nevis/done")
        # Left open: the done page may close itself, and closing it as well can hang.
        sign_in_at_provider(other, "alice")
        item.get_by_text(SIGNED_IN).wait_for()

        item.locator("button").click()
        dialog = page.locator(".jp-Dialog")
        dialog.get_by_text(re.compile(r"cannot be renewed and ends in \d+ min")).wait_for()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "notebook7-details-600.png")
        content = dialog.locator(".jp-Dialog-content").bounding_box()
        assert content and content["y"] >= 0 and content["y"] + content["height"] <= 600, content
        # The actions are in sight as the dialog opens, before anything scrolls.
        names = ("Sign in", "Sign out", "Refresh", "Close")
        buttons = [dialog.get_by_role("button", name=n, exact=True) for n in names]
        for button in buttons:
            box = button.bounding_box()
            assert box and 0 <= box["y"] and box["y"] + box["height"] <= 600, box
            assert button.evaluate(SHOWN_AT_ITS_MIDDLE), f"{button.inner_text()} is out of sight"
        # Everything else can be scrolled to inside the dialog; the actions stay in sight.
        last = dialog.locator(f"{PANEL} tr, {PANEL} p").last
        last.scroll_into_view_if_needed()
        assert last.evaluate(SHOWN_AT_ITS_MIDDLE), f"{last.inner_text()!r} is out of sight"
        for button in buttons:
            assert button.evaluate(SHOWN_AT_ITS_MIDDLE), f"{button.inner_text()} went out of sight"
        # A click where Sign out shows, as a person would, without scrolling to it.
        box = buttons[1].bounding_box()
        assert box
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        item.get_by_text("Signed out", exact=True).wait_for()
        assert lab.status()["logged_in"] is False


HIDE = """(hidden) => {
  Object.defineProperty(document, 'hidden', {get: () => hidden, configurable: true});
  Object.defineProperty(document, 'visibilityState',
    {get: () => (hidden ? 'hidden' : 'visible'), configurable: true});
  document.dispatchEvent(new Event('visibilitychange'));
}"""


def test_one_request_per_interval_for_the_page_fewer_while_hidden(
    context: Any, lab: JupyterLab
) -> None:
    settings = lab.workdir / "settings"
    write_settings(settings, "jupyter-nevis-auth:plugin", {"pollSeconds": 2})
    try:
        answers: list[tuple[float, int]] = []
        page = context.new_page()
        page.on(
            "response",
            lambda r: (
                answers.append((time.monotonic(), r.status))
                if "/nevis/api/status" in r.url
                else None
            ),
        )
        page.goto(f"{lab.url}lab?token={lab.token}")
        # Playwright's events arrive while the test waits through it (not in time.sleep).
        with artifacts_on_failure(context, lab, "lab-item-polling"):
            page.locator(ITEM).get_by_text("Signed out", exact=True).wait_for()
            page.locator(ITEM).locator("button").click()  # the details too: still one poll
            page.locator(PANEL).wait_for()
            page.wait_for_timeout(1000)
            start = len(answers)
            page.wait_for_timeout(8500)
            visible = answers[start:]
            assert 3 <= len(visible) <= 5, visible
            # Nothing changed: the server answers each with an empty 304.
            assert {status for _, status in visible} == {304}, visible

            page.evaluate(HIDE, True)
            page.wait_for_timeout(2500)  # the request planned before hiding
            start = len(answers)
            page.wait_for_timeout(12000)
            hidden = answers[start:]
            # Pauses of 4, 8, 16 s... instead of 2: at most two requests in 12 s.
            assert len(hidden) <= 2, hidden

            start = len(answers)
            since = time.monotonic() - answers[-1][0]
            page.evaluate(HIDE, False)
            # At once; or, when an answer came within the last second, the interval (2 s)
            # after that answer, not at the hidden page's pace (8 s and more by now).
            deadline = time.monotonic() + (1.5 if since >= 1 else 2 - since + 1.5)
            while len(answers) == start and time.monotonic() < deadline:
                page.wait_for_timeout(100)
            assert len(answers) > start, "no request when the page became visible again"
    finally:
        write_settings(settings, "jupyter-nevis-auth:plugin", {"pollSeconds": 300})
