"""The widget with several providers and APIs: what it shows, the sign-in it offers, its wait."""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from jupyter_nevis_auth.errors import LoginRequiredError
from jupyter_nevis_auth.kernel import client
from jupyter_nevis_auth.kernel import widget as widget_module
from jupyter_nevis_auth.kernel.selection import Selection
from jupyter_nevis_auth.kernel.status_html import sign_in_href, sign_in_label
from jupyter_nevis_auth.kernel.widget import LoginWidget
from jupyter_nevis_auth.protocol import LOGIN_REQUIRED, Status
from tests.kernel.conftest import CannedServer


def status() -> Status:
    """Signed in at two of three providers; one API ready, two not."""
    # Half a minute past the full minutes shown, so they hold while the test runs.
    now = time.time() + 30
    return {
        "logged_in": True,
        "claims": {"name": "Ada"},
        "display_name": "Ada",
        "scopes": ["openid", "api"],
        "expires_at": now + 3540,
        "refresh_possible": True,
        "providers": {
            "default": {"logged_in": True, "display_name": "Ada", "expires_at": now + 3540},
            "partner": {"logged_in": True, "display_name": "Ada P.", "expires_at": now + 600},
            "lab": {
                "logged_in": False,
                "signed_out_reason": "You signed out.",
                "login_url": "/nevis/login?provider=lab",
            },
        },
        "apis": {
            "sales": {
                "provider": "default",
                "scopes": ["sales.read"],
                "ready": True,
                "expires_at": now + 1800,
                "login_url": "/nevis/login?api=sales",
            },
            "models": {
                "provider": "partner",
                "scopes": ["models.read"],
                "ready": False,
                "login_url": "/nevis/login?api=models",
            },
            "gpu": {
                "provider": "lab",
                "scopes": ["gpu.run", "gpu.read"],
                "ready": False,
                "login_url": "/nevis/login?api=gpu",
            },
        },
    }


def text(widget: LoginWidget) -> list[str]:
    """The lines a person reads in the widget."""
    shown = [
        getattr(part, "value", None) or getattr(part, "description", "")
        for part in (*widget.children[:-1], *widget.children[-1].children)
        if part.layout.display != "none"
    ]
    lines = "<br>".join(shown).split("<br>")
    return [html.unescape(re.sub(r"<[^>]+>", "", line)).strip() for line in lines if line]


def links(widget: LoginWidget) -> list[tuple[str, str]]:
    """(text, href) of every visible link."""
    link = re.compile(r'<a href="([^"]+)"[^>]*>(?:<i[^>]*></i>)?([^<]+)<')
    return [
        (html.unescape(label), html.unescape(href))
        for part in (*widget.children[:-1], *widget.children[-1].children)
        if part.layout.display != "none" and isinstance(getattr(part, "value", None), str)
        for href, label in link.findall(part.value)
    ]


@pytest.fixture
def offline_widget(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoginWidget]:
    """A LoginWidget outside any kernel, showing status()."""
    monkeypatch.setattr(client, "token_status", status)
    widget = LoginWidget()
    yield widget
    widget.close()


def test_every_provider_and_api_is_shown_with_its_time_left(offline_widget: LoginWidget):
    assert text(offline_widget) == [
        "● Signed in as Ada",
        "Access token: expires in 59 min, renewed automatically.",
        "Scopes: openid api",
        "● partner: signed in as Ada P., expires in 10 min",
        "● lab: signed out — You signed out. Sign in",
        "APIs:",
        "● sales sales.read: token ready, expires in 30 min",
        "● models models.read: no token yet; one is fetched when a cell needs it",
        "● gpu gpu.run gpu.read: no token yet, not signed in Sign in",
        "Sign out",
    ]
    assert links(offline_widget) == [
        ("Sign in", "/nevis/login?provider=lab&next=/nevis/done%3Fprovider%3Dlab"),
        ("Sign in", "/nevis/login?api=gpu&next=/nevis/done%3Fapi%3Dgpu"),
    ]


def test_in_vs_code_the_other_sign_ins_are_the_calls_that_give_one_time_links(
    offline_widget: LoginWidget,
):
    # A link to the server's own pages leads nowhere from VS Code.
    offline_widget._remote = True
    offline_widget.show(status())
    assert links(offline_widget) == []
    lines = text(offline_widget)
    call = "jupyter_nevis_auth.login"
    assert f"● lab: signed out — You signed out. — {call}(provider='lab')" in lines, lines
    assert f"● gpu gpu.run gpu.read: no token yet, not signed in — {call}(api='gpu')" in lines


def test_sign_out_shows_while_any_provider_is_signed_in(offline_widget: LoginWidget):
    only_partner: Status = {
        "logged_in": False,
        "providers": {"default": {"logged_in": False}, "partner": {"logged_in": True}},
    }
    offline_widget.show(only_partner)
    assert offline_widget.sign_out_button.layout.display == ""

    offline_widget.show({"logged_in": False, "providers": {"default": {"logged_in": False}}})
    assert offline_widget.sign_out_button.layout.display == "none"


@pytest.mark.parametrize(
    ("login_url", "href"),
    [
        # The done page is told what the sign-in was for, to speak of it.
        ("/nevis/login?api=sales", "/nevis/login?api=sales&next=/nevis/done%3Fapi%3Dsales"),
        (
            "/u/a/nevis/login?provider=lab",
            "/u/a/nevis/login?provider=lab&next=/u/a/nevis/done%3Fprovider%3Dlab",
        ),
        ("/nevis/login?scope=a+b&next=/elsewhere", "/nevis/login?scope=a+b&next=/nevis/done"),
    ],
)
def test_a_sign_in_link_keeps_what_it_signs_in_for(login_url: str, href: str):
    assert sign_in_href(login_url) == href


@pytest.mark.parametrize(
    ("error", "label"),
    [
        (
            LoginRequiredError("", api="sales", provider="default", scopes=["sales.read"]),
            "Sign in for sales (sales.read)",
        ),
        (LoginRequiredError("", provider="lab", request={"provider": "lab"}), "Sign in to lab"),
        (
            LoginRequiredError("", provider="default", scopes=["a", "b"], request={"scope": "a b"}),
            "Sign in for a b",
        ),
        (LoginRequiredError("", provider="default", scopes=["openid"]), "Sign in"),
        (LoginRequiredError(""), "Sign in"),
    ],
)
def test_the_sign_in_names_what_it_is_for(error: LoginRequiredError, label: str):
    assert sign_in_label(error) == label


SALES = "/nevis/api/token?api=sales&min_ttl=0"
MISSING = {
    "error": LOGIN_REQUIRED,
    "message": "No token for sales.",
    "api": "sales",
    "provider": "default",
    "scopes": ["sales.read"],
    "login_url": "/nevis/login?api=sales",
}


def test_a_wait_for_an_api_waits_for_that_apis_token_and_links_its_sign_in(
    canned_server: CannedServer, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(widget_module, "WAIT_POLL", 0.05)
    # Every other request, the status's and the wait's, gets this answer.
    canned_server.answer(200, {"logged_in": True, "display_name": "Ada", "ready": False})
    canned_server.answer(401, MISSING, SALES)
    error = LoginRequiredError(
        "x", "/nevis/login?api=sales", api="sales", scopes=["sales.read"], request={"api": "sales"}
    )
    widget = LoginWidget()
    seen: list[dict[str, str]] = []

    def sign_in_later() -> None:
        time.sleep(0.3)
        seen.append(links(widget))
        canned_server.answer(200, {"access_token": "t", "expires_in": 600}, SALES)
        canned_server.answer(200, {"logged_in": True, "display_name": "Ada", "ready": True})

    thread = threading.Thread(target=sign_in_later)
    thread.start()
    try:
        assert widget.wait_for(error, 10) is True
    finally:
        thread.join()
        widget.close()

    assert seen == [
        [
            (
                "Sign in for sales (sales.read)",
                "/nevis/login?api=sales&next=/nevis/done%3Fapi%3Dsales",
            )
        ]
    ]
    asked = [path for _, path, _ in canned_server.seen if path.startswith("/nevis/api/token?")]
    assert set(asked) == {SALES}
    waits = [path for _, path, _ in canned_server.seen if "/nevis/api/token/wait?" in path]
    # The server answered at once without waiting: the kernel asks again a second later.
    assert 1 <= len(waits) <= 3 and all("api=sales&seconds=" in path for path in waits), waits
    assert client.cached_token(0.0, Selection(api="sales")) == "t"
    assert links(widget) == []


def test_a_wait_that_ends_unanswered_says_which_sign_in_to_click(
    canned_server: CannedServer, monkeypatch: pytest.MonkeyPatch
):
    shown: list[LoginWidget] = []
    updated: list[LoginWidget] = []

    def display(widget: LoginWidget, display_id: bool = False) -> SimpleNamespace:
        shown.append(widget)
        return SimpleNamespace(update=updated.append)

    monkeypatch.setattr(widget_module, "display", display)
    canned_server.answer(200, {"logged_in": True})
    canned_server.answer(401, MISSING, SALES)
    error = LoginRequiredError(
        "x", "/nevis/login?api=sales", api="sales", scopes=["sales.read"], request={"api": "sales"}
    )

    with pytest.raises(LoginRequiredError) as raised:
        widget_module.wait_for_login(error, 0.2)

    assert str(raised.value) == (
        "Nobody signed in within 0.2 seconds; run the cell again and click "
        "Sign in for sales (sales.read)."
    )
    assert (raised.value.api, raised.value.request) == ("sales", {"api": "sales"})
    # The widget stays, as it does in a cell's output, until it is closed; the output is
    # updated once the wait ended (its text without the link).
    assert len(shown) == 1 and updated == shown
    shown[0].close()
