"""Under the hub service, a user's sign-ins must name the person of their JupyterHub login.

A real JupyterHub signs users in at the real test provider with GenericOAuthenticator and
keeps their tokens in auth_state; the service reads it. carol plays the other person: an
account at the same provider who completes a sign-in meant for alice or bob.
"""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from jupyter_nevis_auth.hub.refresh_hook import same_person
from tests.hub import test_auth_state
from tests.hub.harness import HubBrowser
from tests.hub.service_harness import SERVICE, OAuthHub, service_api
from tests.hub.test_auth_state import hub_refreshes, service_store, signed_in, token
from tests.support.provider import RegisteredClient, provider_login

pytestmark = pytest.mark.hub


# The sign-in-once tests' hub (GenericOAuthenticator keeping auth_state, rotation on), one
# for this module, and their helpers.
hub_spec = test_auth_state.hub_spec


def subject_of(id_token: str) -> str:
    """The sub of an ID token (read, not checked: the test only compares)."""
    payload = id_token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


def sign_in_at_the_service_as(hub: OAuthHub, browser: HubBrowser, account: str) -> str:
    """The browser's sign-in at the service, finished at the provider as `account`."""
    response, visited = browser.follow(SERVICE + "login?next=" + SERVICE + "done")
    assert response.is_redirect, f"{response.status_code} at {visited[-1]}: {response.text}"
    # A provider session of its own: the browser happened to hold another account's.
    return provider_login(response.headers["Location"], account, redirect_prefix=hub.redirect_uri)


def test_another_persons_sign_in_at_the_service_is_refused(hub: OAuthHub) -> None:
    for alice in signed_in(hub, "alice"):
        alice.start_server()
        assert token(hub, "alice").json()["claims"]["sub"] == "alice"
        before = hub.auth_state("alice")
        logged = len(hub.log())

        callback = sign_in_at_the_service_as(hub, alice, "carol")
        page, _ = alice.follow(callback)

        assert page.status_code == 403, page.text
        assert "This sign-in is Carol Example (subject carol)&#39;s" in page.text
        assert "alice is signed in to JupyterHub as Alice Example (subject alice)" in page.text
        assert "Traceback" not in page.text
        answer = token(hub, "alice")
        assert answer.status_code == 200 and answer.json()["claims"]["sub"] == "alice"
        hub_refreshes(alice)
        after = hub.auth_state("alice")
        assert subject_of(after["id_token"]) == "alice"
        assert subject_of(before["id_token"]) == "alice"
        log = hub.log()[logged:]
        assert "Sign-in of alice at default refused: it names subject 'carol'" in log
        assert "expected 'alice' (JupyterHub login)" in log


def test_without_a_held_sign_in_the_hub_login_still_decides(hub: OAuthHub) -> None:
    for bob in signed_in(hub, "bob"):
        bob.start_server()
        signed_out = service_api(hub, "DELETE", "api/token", hub.server_token("bob"))
        assert signed_out.status_code == 200 and signed_out.json()["logged_in"] is False

        page, _ = bob.follow(sign_in_at_the_service_as(hub, bob, "carol"))

        assert page.status_code == 403, page.text
        assert token(hub, "bob").status_code == 401
        answer = token(hub, "bob").json()
        assert answer["refusal"].startswith("This sign-in is Carol Example (subject carol)'s")
        # bob himself may sign in again.
        page, visited = bob.follow(sign_in_at_the_service_as(hub, bob, "bob"))
        assert visited[-1].endswith(SERVICE + "done") and "Signed in as Bob Example" in page.text
        assert token(hub, "bob").json()["claims"]["sub"] == "bob"


def test_a_later_hub_login_repairs_a_held_sign_in_of_another_person(
    hub_and_client: tuple[OAuthHub, RegisteredClient],
) -> None:
    """As left by a version that bound sign-ins to no one: alice's grant is carol's."""
    hub, client = hub_and_client
    for carol in signed_in(hub, "carol"):
        hub_refreshes(carol)  # the service takes carol's hub sign-in over
    hub.stop()
    store = service_store(hub)
    carols = asyncio.run(store.get("carol"))
    assert carols is not None and carols.claims["sub"] == "carol"
    asyncio.run(store.set("alice", carols))
    store.close()
    hub.start(client.client_id, client.client_secret)
    logged = len(hub.log())

    for alice in signed_in(hub, "alice"):
        hub_refreshes(alice)

        log = hub.log()[logged:]
        assert "The sign-in held for alice names subject 'carol'" in log
        assert subject_of(hub.auth_state("alice")["id_token"]) == "alice"
        alice.start_server()
        answer = token(hub, "alice")
        assert answer.status_code == 200, answer.text
        assert answer.json()["claims"]["sub"] == "alice"
        assert carols.refresh_token not in hub.log()


def id_token_of(sub: str, iss: str = "https://issuer.example") -> str:
    """An unsigned token body with `sub`: the hook only compares, the service checked it."""
    body = base64.urlsafe_b64encode(json.dumps({"iss": iss, "sub": sub}).encode()).decode()
    return "e30." + body.rstrip("=") + ".sig"


@pytest.mark.parametrize(
    ("held", "answered", "writes"),
    [
        (id_token_of("alice"), id_token_of("alice"), True),
        (id_token_of("alice"), id_token_of("carol"), False),
        (id_token_of("alice"), id_token_of("alice", "https://other.example"), False),
        (None, id_token_of("carol"), True),  # nothing to compare with: the service decides
        (id_token_of("alice"), "not a token", False),
    ],
)
def test_the_hub_hook_never_writes_another_persons_tokens(
    held: str | None, answered: str, writes: bool
) -> None:
    assert same_person({"id_token": held}, {"id_token": answered}) is writes
