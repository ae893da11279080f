"""The login widget and the in-cell wait, in a real kernel started by a real server.

The tests read the kernel's IOPub messages the way a frontend does: widget state
arrives as comm_open and comm_msg "update" messages, and what a person would see
is rebuilt from them.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from jupyter_server.serverapp import ServerApp

from jupyter_nevis_auth import kernel as kernel_module
from jupyter_nevis_auth.errors import KernelSecretRejectedError
from jupyter_nevis_auth.kernel import client
from jupyter_nevis_auth.kernel.monitor import BUSY_TIP, SIGN_OUT_TIP
from jupyter_nevis_auth.kernel.widget import LoginWidget, format_duration, sign_in_href
from jupyter_nevis_auth.protocol import Status
from tests.conftest import Browser
from tests.kernel.conftest import CannedServer
from tests.kernel.view import KernelView


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    """NevisAuth settings a test changes."""
    return {}


@pytest.fixture
def nevis_config(nevis_config: dict[str, Any], config_overrides: dict[str, Any]) -> dict[str, Any]:
    """The test server's NevisAuth settings, with the test's overrides."""
    return {**nevis_config, **config_overrides}


@pytest.fixture
def kernel(kernel_view: KernelView) -> KernelView:
    """A kernel started by the test server (listening, so the kernel can reach it)."""
    return kernel_view


async def stored_tokens(serverapp: ServerApp) -> list[str]:
    """The raw tokens the server holds for its user."""
    settings = serverapp.web_app.settings
    tokens = await settings["nevis_auth"].tokens.store.get(settings["nevis_auth_owner"])
    assert tokens is not None
    return [t for t in (tokens.access_token, tokens.refresh_token, tokens.id_token) if t]


async def test_signed_out_widget_offers_sign_in_ending_on_done_page(kernel, jp_base_url):
    await kernel.execute("jupyter_nevis_auth.login()")

    (widget,) = kernel.login_widgets()
    assert "Signed out" in kernel.text(widget)
    link = urlparse(kernel.sign_in_link(widget))
    assert link.path == f"{jp_base_url}nevis/login"
    assert parse_qs(link.query) == {"next": [f"{jp_base_url}nevis/done"]}
    assert "Sign out" not in kernel.text(widget)
    link_html = next(p["value"] for p in kernel.parts(widget) if "href" in (p.get("value") or ""))
    assert 'target="_blank"' in link_html


async def test_widget_follows_sign_in_and_sign_out_elsewhere(
    kernel, browser: Browser, redirect_uri, username, jp_serverapp
):
    await kernel.execute("jupyter_nevis_auth.login()")
    (widget,) = kernel.login_widgets()

    await browser.sign_in(username, redirect_uri=redirect_uri)
    name = username.capitalize() + " Example"
    text = await kernel.until(lambda: "Sign out" in kernel.text(widget) and kernel.text(widget))
    assert f"Signed in as {name}" in text
    assert re.search(r"expires in (59|60) min, renewed automatically", text), text
    assert "Scopes: api" in text
    assert kernel.sign_in_link(widget) is None
    tokens = await stored_tokens(jp_serverapp)

    settings = jp_serverapp.web_app.settings
    await settings["nevis_auth"].logout(settings["nevis_auth_owner"])
    await kernel.until(
        lambda: kernel.sign_in_link(widget) and "Sign out" not in kernel.text(widget)
    )
    assert "Signed out — You signed out." in kernel.text(widget)

    transcript = kernel.transcript()
    assert not any(token in transcript for token in tokens)


@pytest.mark.parametrize("client_options", [{"access_token_ttl": 12}])
@pytest.mark.parametrize("config_overrides", [{"refresh_leeway": 8}])
async def test_countdown_runs_and_jumps_back_after_refresh(
    kernel, browser: Browser, redirect_uri, username, oidc_provider, oidc_client
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    await kernel.execute("jupyter_nevis_auth.login()")
    (widget,) = kernel.login_widgets()

    seen: list[int] = []

    def back_up() -> bool:
        match = re.search(r"expires in 0:(\d\d)", kernel.text(widget))
        if match and (not seen or int(match.group(1)) != seen[-1]):
            seen.append(int(match.group(1)))
        return len(seen) > 1 and seen[-1] > seen[-2]

    # The countdown ticks down, and a refresh (below 8 s left) puts it back up.
    await kernel.until(back_up)
    assert seen[0] > min(seen), seen
    assert oidc_provider.token_calls(oidc_client.client_id, "refresh_token") >= 1


async def test_sign_out_button_signs_out_and_next_call_needs_sign_in(
    kernel, browser: Browser, redirect_uri, username, jp_serverapp
):
    await browser.sign_in(username, redirect_uri=redirect_uri)
    reply = await kernel.execute("len(jupyter_nevis_auth.get_access_token())")
    assert reply["status"] == "ok"
    await kernel.execute("jupyter_nevis_auth.login()")
    (widget,) = kernel.login_widgets()
    await kernel.until(lambda: "Signed in" in kernel.text(widget))

    kernel.click(kernel.button(widget, "Sign out"))

    await kernel.until(lambda: "Signed out" in kernel.text(widget))
    settings = jp_serverapp.web_app.settings
    assert await settings["nevis_auth"].tokens.store.get(settings["nevis_auth_owner"]) is None
    # Right after the sign-out, not a token the kernel still remembered.
    reply = await kernel.execute("jupyter_nevis_auth.get_access_token()", interactive=False)
    assert reply["ename"] == "LoginRequiredError"


async def test_while_a_cell_waits_every_sign_out_button_is_disabled_and_says_why(
    kernel, browser: Browser, redirect_uri, username
):
    # A click reaches a busy kernel only once its cell has ended: a sign-out long after it.
    await browser.sign_in(username, redirect_uri=redirect_uri)
    await kernel.execute("jupyter_nevis_auth.login()")
    (shown,) = kernel.login_widgets()
    await kernel.until(lambda: "Signed in" in kernel.text(shown))
    button = kernel.models[kernel.button(shown, "Sign out")]
    assert not button.get("disabled") and button["tooltip"] == SIGN_OUT_TIP
    kernel.click(kernel.button(shown, "Sign out"))
    await kernel.until(lambda: "Signed out" in kernel.text(shown))

    cell = kernel.start_execute("jupyter_nevis_auth.get_access_token()")
    await kernel.until(lambda: len(kernel.login_widgets()) == 2)
    waiting = kernel.login_widgets()[1]
    buttons = [kernel.models[kernel.sign_out_button(w)] for w in (shown, waiting)]
    await kernel.until(lambda: all(b.get("disabled") for b in buttons))
    assert all(b["tooltip"] == BUSY_TIP for b in buttons)

    await browser.sign_in(username, redirect_uri=redirect_uri)
    assert (await asyncio.wait_for(cell, 30))["status"] == "ok"
    await kernel.until(lambda: not any(b.get("disabled") for b in buttons))
    assert all(b["tooltip"] == SIGN_OUT_TIP for b in buttons)


async def test_a_wait_for_a_one_time_link_disables_sign_out_too(
    kernel, browser: Browser, redirect_uri, username
):
    await kernel.execute("jupyter_nevis_auth.login()")
    (shown,) = kernel.login_widgets()
    button = kernel.models[kernel.sign_out_button(shown)]
    assert not button.get("disabled")
    cell = kernel.start_execute("jupyter_nevis_auth.login(method='link')")
    await kernel.until(lambda: button.get("disabled"))
    assert button["tooltip"] == BUSY_TIP
    await browser.sign_in(username, redirect_uri=redirect_uri)
    assert (await asyncio.wait_for(cell, 30))["status"] == "ok"
    await kernel.until(lambda: not button.get("disabled"))


async def test_cell_waits_for_sign_in_and_carries_on(
    kernel, browser: Browser, redirect_uri, username, jp_serverapp
):
    started = time.monotonic()
    cell = kernel.start_execute(
        "token = jupyter_nevis_auth.get_access_token()\nprint('got', repr(token))"
    )

    widget = await kernel.until(lambda: kernel.login_widgets() and kernel.login_widgets()[0])
    wait_text = await kernel.until(
        lambda: "waits for you to sign in" in kernel.text(widget) and kernel.text(widget)
    )
    assert re.search(r"[45]:\d\d left", wait_text), wait_text
    assert kernel.sign_in_link(widget)
    assert not cell.done()

    await browser.sign_in(username, redirect_uri=redirect_uri)
    reply = await asyncio.wait_for(cell, 30)

    assert reply["status"] == "ok", reply
    assert re.search(r"got <access token, expires in \d+ s>", reply["output"])
    assert time.monotonic() - started < 30
    assert "Signed in as" in kernel.text(widget)
    assert "waits for you" not in kernel.text(widget)
    transcript = kernel.transcript()
    assert not any(token in transcript for token in await stored_tokens(jp_serverapp))


@pytest.mark.parametrize("config_overrides", [{"login_timeout": 2}])
async def test_wait_ends_with_login_required_after_login_timeout(kernel):
    started = time.monotonic()
    reply = await kernel.execute(
        "import requests\n"
        "requests.get('http://127.0.0.1:9/', auth=jupyter_nevis_auth.BearerAuth(), timeout=5)"
    )

    assert reply["ename"] == "LoginRequiredError"
    assert "Nobody signed in within 2 seconds" in reply["evalue"]
    assert 2 <= time.monotonic() - started < 15
    (widget,) = kernel.login_widgets()
    assert "waits for you" not in kernel.text(widget)


async def test_interrupt_stops_the_wait(kernel, jp_serverapp):
    cell = kernel.start_execute("jupyter_nevis_auth.session().get('http://127.0.0.1:9/')")
    widget = await kernel.until(lambda: kernel.login_widgets() and kernel.login_widgets()[0])
    await kernel.until(lambda: "waits for you to sign in" in kernel.text(widget))

    await jp_serverapp.kernel_manager.interrupt_kernel(kernel.kernel_id)
    reply = await asyncio.wait_for(cell, 20)

    assert reply["ename"] == "KeyboardInterrupt"
    assert "waits for you" not in kernel.text(widget)
    assert (await kernel.execute("1 + 1"))["status"] == "ok"


async def test_no_frontend_raises_at_once_without_widget(kernel):
    started = time.monotonic()
    reply = await kernel.execute("jupyter_nevis_auth.get_access_token()", interactive=False)

    assert reply["ename"] == "LoginRequiredError"
    assert time.monotonic() - started < 5
    assert kernel.login_widgets() == []


async def test_done_page_names_the_user_and_closes_itself(browser: Browser, redirect_uri, username):
    before = await browser.get("nevis", "done")
    assert before.code == 200
    assert b"Not signed in" in before.body

    await browser.sign_in(username, redirect_uri=redirect_uri)
    response = await browser.get("nevis", "done")

    assert response.code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.body.decode()
    assert f"Signed in as {username.capitalize()} Example. You can close this window." in body
    assert "window.close()" in body
    assert "eyJ" not in body


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (7200, "2 h 0 min"),
        (3599, "59 min"),
        (120, "2 min"),
        (119, "1:59"),
        (5, "0:05"),
        (-3, "0:00"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("login_url", "href"),
    [
        ("/nevis/login", "/nevis/login?next=/nevis/done"),
        ("/user/alice/nevis/login", "/user/alice/nevis/login?next=/user/alice/nevis/done"),
        ("/a%40b/nevis/login", "/a%40b/nevis/login?next=/a%2540b/nevis/done"),
        ("/elsewhere", "/elsewhere"),
    ],
)
def test_sign_in_href(login_url, href):
    assert sign_in_href(login_url) == href


def test_widget_outside_a_jupyter_server_says_why(monkeypatch):
    for name in kernel_module.SERVER_ENV:
        monkeypatch.delenv(name, raising=False)

    widget = LoginWidget()
    try:
        assert "not started by a Jupyter server running jupyter-nevis-auth" in (
            widget.status_line.value
        )
        assert widget.sign_in_link.layout.display == "none"
        assert widget.sign_out_button.layout.display == "none"
        assert repr(widget).startswith("LoginWidget: This Python process")
    finally:
        widget.close()


@pytest.mark.parametrize("client_options", [{"access_token_ttl": 30}])
async def test_an_idle_kernel_stops_sending_updates(
    kernel, browser: Browser, redirect_uri, username
):
    """Updates are kernel activity: without cell runs they pause, so idle culling still works."""
    await browser.sign_in(username, redirect_uri=redirect_uri)
    await kernel.execute(
        "import jupyter_nevis_auth.kernel.monitor\njupyter_nevis_auth.kernel.monitor.IDLE_PAUSE = 2"
    )
    await kernel.execute("jupyter_nevis_auth.login()")
    (widget,) = kernel.login_widgets()
    await kernel.until(lambda: "expires in 0:" in kernel.text(widget))

    await asyncio.sleep(3)  # past IDLE_PAUSE without a cell run
    before = len(kernel.messages)
    await asyncio.sleep(3)  # the countdown would have sent ~3 updates
    assert len(kernel.messages) == before

    await kernel.execute("1 + 1")  # a cell run wakes the countdown up
    shown = kernel.text(widget)
    await kernel.until(lambda: kernel.text(widget) != shown)


NO_REFRESH = (
    "The provider issued no refresh token: this sign-in ends when the access token expires."
)
SIGNED_IN: Status = {
    "logged_in": True,
    "claims": {"name": "Ada"},
    "scopes": ["openid", "api"],
    "expires_at": time.time() + 3600,
    "refresh_possible": False,
    "warnings": [NO_REFRESH, "Scopes <b>granted</b> & more."],
}


@pytest.fixture
def offline_widget(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoginWidget]:
    """A LoginWidget outside any kernel, whose status polls say: signed in."""
    monkeypatch.setattr(client, "token_status", lambda: SIGNED_IN)
    widget = LoginWidget()
    yield widget
    widget.close()


@pytest.mark.parametrize(
    ("status", "lines"),
    [
        (SIGNED_IN, [NO_REFRESH, "Scopes &lt;b&gt;granted&lt;/b&gt; &amp; more."]),
        ({**SIGNED_IN, "warnings": []}, []),
        ({k: v for k, v in SIGNED_IN.items() if k != "warnings"}, []),  # an older server
        ({"logged_in": False, "warnings": [NO_REFRESH]}, []),
    ],
)
def test_warnings_show_escaped_with_the_warn_dot_while_signed_in(
    status: Status, lines: list[str], offline_widget: LoginWidget
):
    offline_widget.show(status)

    value = offline_widget.warning_lines.value
    shown = value.split("<br>") if value else []
    dot = '<span style="color:var(--jp-warn-color1, #f57c00);font-size:1.1em" aria-hidden="true">'
    assert shown == [f"{dot}&#9679;</span> {line}" for line in lines]
    assert offline_widget.warning_lines.layout.display == ("" if lines else "none")


def test_refresh_still_works_and_says_update_status(offline_widget: LoginWidget):
    offline_widget.show({})

    with pytest.warns(DeprecationWarning, match=r"use update_status\(\)"):
        status = offline_widget.refresh()

    assert status == SIGNED_IN
    assert offline_widget.signed_in


def test_the_widget_reports_a_refusal_as_the_kernel_api_does(canned_server: CannedServer):
    canned_server.answer(403, {"message": "This endpoint is only for kernels of this server."})

    widget = LoginWidget()
    try:
        assert "refused this kernel&#x27;s secret" in widget.status_line.value
        with pytest.raises(KernelSecretRejectedError):
            widget.update_status()
    finally:
        widget.close()
