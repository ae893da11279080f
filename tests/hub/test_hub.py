"""A shared JupyterHub deployment: one configuration and one redirect URI for every user.

A real JupyterHub (configurable-http-proxy, SimpleLocalProcessSpawner, DummyAuthenticator)
configured as docs/jupyterhub.md describes (tests/hub/jupyterhub_config.py), the real
test provider with one client registered for the hub's user-redirect callback, and
real kernels. Tests share one hub and build on each other's sign-ins, in file order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from jupyter_nevis_auth.core.pending import new_state, state_server_name
from jupyter_nevis_auth.protocol import secret_header
from tests.hub.harness import HubBrowser, JupyterHub, path, query
from tests.support.browser import launched_chromium
from tests.support.provider import provider_login
from tests.support.resource_server import ResourceServer

pytestmark = pytest.mark.hub

ALICE = "/user/alice/"
ALICE_LAB2 = "/user/alice/lab2/"
BOB = "/user/bob/"

KERNEL_CALLS_API = """
import requests
from jupyter_nevis_auth import BearerAuth, whoami
answer = requests.get({url!r}, auth=BearerAuth(), timeout=10)
print(answer.status_code, answer.json()["sub"], whoami()["sub"])
"""

KERNEL_NEEDS_LOGIN = """
from jupyter_nevis_auth import LoginRequiredError, get_access_token
try:
    get_access_token()
except LoginRequiredError:
    print("LoginRequiredError")
"""


@dataclass
class SignIn:
    """One sign-in through the hub: where it went, what came back."""

    authorize_url: str
    callback_url: str
    visited: list[str]
    response: requests.Response


def provider_redirect(browser: HubBrowser, server: str, username: str) -> tuple[str, str]:
    """Start a sign-in on `server` and pass the provider's form; return both URLs."""
    authorize = browser.start_sign_in(server, next_url=server + "nevis/api/status")
    callback = provider_login(
        authorize, username, redirect_prefix=browser.hub.redirect_uri, session=browser.provider
    )
    return authorize, callback


@pytest.fixture(scope="module")
def alice_signed_in(alice: HubBrowser, seen: list[str]) -> SignIn:
    """alice's whole code flow on her default server, back through the hub's user-redirect."""
    authorize, callback = provider_redirect(alice, ALICE, "alice")
    seen.extend(query(callback)[k] for k in ("code", "state"))
    response, visited = alice.follow(callback)
    return SignIn(authorize, callback, visited, response)


def test_a_named_server_puts_its_name_in_front_of_the_state() -> None:
    """The hook reads the server from the state; the random part stays as long as before."""
    state = new_state("lab2")
    assert state.startswith("lab2.") and len(state) > 40
    assert state_server_name(state) == "lab2"
    assert state_server_name(new_state()) == ""
    assert state_server_name(new_state("old.name")) == "old.name"


def test_alice_signs_in_through_the_single_redirect_uri(
    hub: JupyterHub, alice_signed_in: SignIn
) -> None:
    """Provider → /hub/user-redirect/nevis/callback → alice's server, which keeps her tokens."""
    request = query(alice_signed_in.authorize_url)
    assert request["redirect_uri"] == hub.redirect_uri
    assert request["code_challenge_method"] == "S256"
    assert set(query(alice_signed_in.callback_url)) == {"code", "state", "iss"}
    assert [path(url) for url in alice_signed_in.visited] == [
        "/hub/user-redirect/nevis/callback",
        ALICE + "nevis/callback",
        ALICE + "nevis/api/status",
    ]
    status = alice_signed_in.response.json()
    assert status["logged_in"] is True
    assert status["claims"]["sub"] == "alice"
    # Scopes and prompt=consent come from the image's jupyter_server_config.d file.
    assert "api" in status["scopes"]
    assert status["refresh_possible"] is True


@pytest.mark.browser
def test_in_chromium_alice_signs_in_to_the_hub_then_at_the_provider(hub: JupyterHub) -> None:
    """A browser's own cookies, redirects and forms, from the hub's login page to her server."""
    with launched_chromium() as browser:
        page = browser.new_page()
        page.goto(hub.url + ALICE + "nevis/login?next=" + ALICE + "nevis/api/status")
        page.fill("input[name=username]", "alice")  # the hub's login page first
        page.fill("input[name=password]", hub.password)
        page.click("[type=submit]")
        page.fill("input[name=login]", "alice")
        page.fill("input[name=password]", "any password")
        page.click("[type=submit]")
        page.click("[type=submit]")  # the provider's consent page
        page.wait_for_url(hub.url + ALICE + "nevis/api/status")
        status = json.loads(page.inner_text("body"))
    assert status["logged_in"] is True
    assert status["claims"]["sub"] == "alice"


def test_code_in_alices_kernel_calls_the_api_with_her_token(
    alice: HubBrowser, alice_signed_in: SignIn, resource_server: ResourceServer
) -> None:
    """The kernel helper works behind the hub's proxy, under /user/alice/."""
    output = alice.run_code(ALICE, KERNEL_CALLS_API.format(url=resource_server.hello_url))
    assert output == "200 alice alice\n"


def test_bobs_server_holds_no_token_of_alices(bob: HubBrowser, alice_signed_in: SignIn) -> None:
    """bob's server was configured the same way, but alice's sign-in is hers alone."""
    response, _ = bob.follow(BOB + "nevis/login")  # JupyterHub's own OAuth into bob's server
    assert response.is_redirect
    status = bob.get(BOB + "nevis/api/status").json()
    assert status["logged_in"] is False
    assert "alice" not in str(status)
    assert bob.run_code(BOB, KERNEL_NEEDS_LOGIN) == "LoginRequiredError\n"

    # alice's kernel endpoint answers through the proxy, but only to her kernels' secret.
    for headers in ({}, secret_header("a guess")):
        response = bob.get(ALICE + "nevis/api/token", headers=headers)
        assert response.status_code == 403
        assert "access_token" not in response.text


def test_a_callback_with_alices_state_gets_nothing_at_bobs_server(
    alice: HubBrowser, bob: HubBrowser, seen: list[str]
) -> None:
    """Delivered by bob's browser, alice's callback ends at bob's server, which refuses it."""
    _, callback = provider_redirect(alice, ALICE, "alice")
    seen.extend(query(callback)[k] for k in ("code", "state"))

    response, visited = bob.follow(callback)
    assert path(visited[-1]) == BOB + "nevis/callback"
    assert response.status_code == 400
    assert query(callback)["code"] not in response.text
    assert bob.get(BOB + "nevis/api/status").json()["logged_in"] is False

    # Straight to alice's server: JupyterHub, still in charge there, keeps bob out.
    forged = ALICE + "nevis/callback?" + urlparse(callback).query
    response, visited = bob.follow(forged)
    assert response.status_code == 403
    assert not any(path(url) == ALICE + "nevis/callback" for url in visited[1:])

    # Neither attempt used up alice's sign-in; once used, it cannot be replayed.
    response, _ = alice.follow(callback)
    assert response.json()["logged_in"] is True
    response, visited = alice.follow(callback)
    assert path(visited[-1]) == ALICE + "nevis/callback"
    assert response.status_code == 400


def test_an_admin_reaching_alices_server_cannot_use_her_sign_in(
    hub: JupyterHub, alice_signed_in: SignIn
) -> None:
    """JupyterHub lets admins into alice's server; her tokens and her sign-in stay hers."""
    with hub.browser("admin") as admin:
        admin.log_in()
        response, visited = admin.follow(ALICE + "nevis/login")
        assert path(visited[-1]) == "/hub/api/oauth2/authorize"  # "open alice's server?"
        response, visited = admin.approve(response)
        assert path(visited[-1]) == ALICE + "nevis/login"
        assert response.status_code == 403
        response = admin.get(ALICE + "nevis/api/status")
        assert response.status_code == 403
        assert "alice" not in response.text

    with hub.browser("nobody") as anonymous:
        response, visited = anonymous.follow(ALICE + "nevis/login")
    assert path(visited[-1]) == "/hub/login"
    assert response.status_code == 200


def test_a_named_server_signs_in_through_the_same_redirect_uri(
    alice: HubBrowser, bob: HubBrowser, resource_server: ResourceServer, seen: list[str]
) -> None:
    """The state names the server; the hub's user_redirect_hook sends the callback there."""
    assert alice.start_server("lab2") == ALICE_LAB2
    authorize, callback = provider_redirect(alice, ALICE_LAB2, "alice")
    seen.extend(query(callback)[k] for k in ("code", "state"))
    assert state_server_name(query(authorize)["state"]) == "lab2"

    # The hook picks among the signed-in user's servers only: bob has no lab2.
    response, visited = bob.follow(callback)
    assert path(visited[-1]) == BOB + "nevis/callback"
    assert response.status_code == 400

    response, visited = alice.follow(callback)
    assert [path(url) for url in visited] == [
        "/hub/user-redirect/nevis/callback",
        ALICE_LAB2 + "nevis/callback",
        ALICE_LAB2 + "nevis/api/status",
    ]
    assert response.json()["logged_in"] is True
    output = alice.run_code(ALICE_LAB2, KERNEL_CALLS_API.format(url=resource_server.hello_url))
    assert output == "200 alice alice\n"


def test_the_hub_log_holds_no_code_state_or_secret(
    hub: JupyterHub, alice_signed_in: SignIn, seen: list[str]
) -> None:
    """Neither the hub, nor its proxy, nor a server printed what passed through them."""
    log = hub.log()
    assert "Signed in alice" in log
    secret = Path(hub.work_dir, "client_secret").read_text(encoding="utf-8").strip()
    leaked = [value for value in [*seen, secret] if value in log]
    assert seen and not leaked
