"""Sign in once: the service starts from the hub's own sign-in, kept in auth_state.

A real JupyterHub (tests/hub/oauth_config.py) signs users in at the real test provider
with OAuthenticator's GenericOAuthenticator and keeps their tokens in auth_state. One
client, with refresh-token rotation on, serves the hub and the service: the provider
refuses a used refresh token, and ends the whole grant when one is used twice. Tests
share one hub, in file order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from jupyter_nevis_auth.hub.service.auth_state import WITHOUT_REFRESH
from jupyter_nevis_auth.hub.service.sql_store import SQLTokenStore, make_fernet
from tests.hub.harness import HubBrowser
from tests.hub.service_harness import SERVICE, OAuthHub, hub_login, service_api, stop_server
from tests.support.hub import SIGN_IN_ONCE, HubSpec
from tests.support.provider import HTTP_TIMEOUT, OIDCTestProvider, RegisteredClient
from tests.support.resource_server import ResourceServer

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def hub_spec() -> HubSpec:
    """One sign-in-once hub for the module; one client of the hub and the service."""
    return SIGN_IN_ONCE


def signed_in(hub: OAuthHub, name: str) -> Iterator[HubBrowser]:
    """A hub user who signed in to the hub at the provider, and nowhere else."""
    with hub.browser(name) as browser:
        hub_login(hub, browser)
        yield browser


@pytest.fixture(scope="module")
def alice(hub: OAuthHub) -> Iterator[HubBrowser]:
    """alice, signed in to the hub, her server running."""
    for browser in signed_in(hub, "alice"):
        browser.start_server()
        yield browser


def token(hub: OAuthHub, user: str, **params: str) -> requests.Response:
    """api/token as the user's default server asks for it."""
    return service_api(hub, "GET", "api/token", hub.server_token(user), params=params)


def refreshes(provider: OIDCTestProvider, client: RegisteredClient) -> dict[str, int]:
    """The provider's counters of refresh-token grants: ok, error, total."""
    return dict(provider.stats(client.client_id)["token"].get("refresh_token", {}))


def bearer(api: ResourceServer, access_token: str) -> int:
    """The status a protected API answers to `access_token`."""
    headers = {"Authorization": f"Bearer {access_token}"}
    return requests.get(api.hello_url, headers=headers, timeout=HTTP_TIMEOUT).status_code


def hub_refreshes(browser: HubBrowser) -> None:
    """A request of the browser to the hub after auth_refresh_age: the hub's refresh_user."""
    time.sleep(1.1)
    assert browser.hub_api("GET", f"users/{browser.name}").status_code == 200


def test_alices_server_gets_her_token_without_a_second_sign_in(
    hub: OAuthHub,
    client: RegisteredClient,
    alice: HubBrowser,
    oidc_provider: OIDCTestProvider,
    resource_server: ResourceServer,
) -> None:
    answer = token(hub, "alice")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["claims"]["sub"] == "alice"
    assert bearer(resource_server, body["access_token"]) == 200
    # One code was traded, the hub's; the service took the grant over with a refresh.
    codes = oidc_provider.stats(client.client_id)["token"]["authorization_code"]
    assert codes == {"ok": 1, "error": 0, "total": 1}
    assert refreshes(oidc_provider, client)["error"] == 0
    log = hub.log()
    assert "Signed in alice with their JupyterHub sign-in" in log
    assert "Signed in alice at" not in log  # the service's own code flow never ran
    # The hub's refresh_user (at the spawn) asked the service: auth_state follows it.
    assert hub.auth_state("alice")["access_token"] == body["access_token"]


def test_the_hub_and_the_service_refresh_at_once_under_rotation(
    hub: OAuthHub,
    client: RegisteredClient,
    alice: HubBrowser,
    oidc_provider: OIDCTestProvider,
    resource_server: ResourceServer,
) -> None:
    before = refreshes(oidc_provider, client)
    with ThreadPoolExecutor(2) as pool:
        forced = pool.submit(token, hub, "alice", force_refresh="1")
        # A spawn refreshes her auth first (refresh_pre_spawn).
        spawned = pool.submit(alice.start_server, "lab2")
        assert forced.result().status_code == 200, forced.result().text
        spawned.result()
    hub_refreshes(alice)
    current = token(hub, "alice").json()
    assert hub.auth_state("alice")["refresh_token"]
    assert hub.auth_state("alice")["access_token"] == current["access_token"]
    assert bearer(resource_server, current["access_token"]) == 200
    after = refreshes(oidc_provider, client)
    assert after["error"] == 0 and after["ok"] > before["ok"]
    assert service_api(hub, "GET", "api/status", hub.server_token("alice")).json()["logged_in"]
    stop_server(alice, "lab2")


def refresh_as_the_hub_would(
    hub: OAuthHub, user: str, provider: OIDCTestProvider, client: RegisteredClient
) -> dict[str, Any]:
    """What OAuthenticator's own refresh_user does: refresh, and save the new auth_state."""
    state = hub.auth_state(user)
    answer = requests.post(
        provider.token_endpoint,
        auth=(client.client_id, client.client_secret),
        data={"grant_type": "refresh_token", "refresh_token": state["refresh_token"]},
        timeout=HTTP_TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert tokens["refresh_token"] != state["refresh_token"]  # rotated
    state.update({k: tokens[k] for k in ("access_token", "refresh_token", "id_token")})
    state["token_response"] = tokens
    saved = hub.admin_api("PATCH", f"users/{user}", json={"auth_state": state})
    assert saved.status_code == 200, saved.text
    return state


def test_refreshes_the_hub_made_by_itself_are_taken_up(
    hub: OAuthHub,
    client: RegisteredClient,
    oidc_provider: OIDCTestProvider,
    resource_server: ResourceServer,
) -> None:
    """As with an authenticator that refreshes by itself: the service continues its grant."""
    adopted = (
        "Refreshing bob with JupyterHub's newer",
        "Continuing with the newer JupyterHub sign-in of bob",
    )
    for bob in signed_in(hub, "bob"):
        bob.start_server()
        assert token(hub, "bob").status_code == 200
        # The hub used the refresh token the service holds too: the service's is spent.
        state = refresh_as_the_hub_would(hub, "bob", oidc_provider, client)
        answer = token(hub, "bob", force_refresh="1")
        assert answer.status_code == 200, answer.text
        assert any(line in hub.log() for line in adopted)
        assert answer.json()["access_token"] != state["access_token"]
        assert bearer(resource_server, answer.json()["access_token"]) == 200

        # bob signs in to the hub again: a new grant, which the hub's refresh_user must not
        # overwrite with the service's; the service continues with it instead.
        logged = len(hub.log())
        hub_login(hub, bob)
        state = hub.auth_state("bob")
        hub_refreshes(bob)
        assert "Continuing with the newer JupyterHub sign-in of bob" in hub.log()[logged:]
        assert hub.auth_state("bob")["access_token"] != state["access_token"]
        answer = token(hub, "bob")
        assert answer.status_code == 200, answer.text
        assert hub.auth_state("bob")["access_token"] == answer.json()["access_token"]
        assert bearer(resource_server, answer.json()["access_token"]) == 200
    assert refreshes(oidc_provider, client)["error"] == 0


def test_only_the_hub_gets_tokens_for_auth_state(hub: OAuthHub, alice: HubBrowser) -> None:
    path = SERVICE + "api/auth_state"
    for credential in ({}, {"Authorization": f"token {hub.server_token('alice')}"}):
        answer = requests.get(
            hub.url + path, params={"user": "alice"}, headers=credential, timeout=HTTP_TIMEOUT
        )
        assert answer.status_code == 403 and "access_token" not in answer.text


def test_a_hub_sign_in_without_a_refresh_token_asks_for_a_sign_in_here(hub: OAuthHub) -> None:
    for carol in signed_in(hub, "carol"):
        # As from a provider that issued none.
        state = hub.auth_state("carol")
        state["refresh_token"] = state["token_response"]["refresh_token"] = None
        assert hub.admin_api("PATCH", "users/carol", json={"auth_state": state}).ok
        carol.start_server()
        answer = token(hub, "carol")
        assert answer.status_code == 401, answer.text
        body = answer.json()
        assert body["error"] == "login_required" and body["message"] == WITHOUT_REFRESH
        assert body["login_url"] == SERVICE + "login"
        status = service_api(hub, "GET", "api/status", hub.server_token("carol")).json()
        assert status["logged_in"] is False and status["signed_out_reason"] == WITHOUT_REFRESH
        assert hub.auth_state("carol")["access_token"] == state["access_token"]


def test_signing_out_at_the_service_is_not_undone_by_the_hub(
    hub: OAuthHub, alice: HubBrowser
) -> None:
    signed_out = service_api(hub, "DELETE", "api/token", hub.server_token("alice"))
    assert signed_out.status_code == 200 and signed_out.json()["logged_in"] is False
    hub_refreshes(alice)
    answer = token(hub, "alice")
    assert answer.status_code == 401 and answer.json()["message"] == "You signed out."


def test_a_service_page_after_the_refresh_age_holds_up_nobody(
    hub: OAuthHub, alice: HubBrowser
) -> None:
    # alice opens the service (JupyterHub's Services menu): its OAuth gives her its cookie.
    opened, _ = alice.follow(SERVICE)
    assert opened.status_code == 200, opened.text
    # Past auth_refresh_age (1 s) and the service's cache of her (1 s): asked who she is,
    # JupyterHub first refreshes her auth, and its refresh_user_hook asks this service.
    time.sleep(2.5)
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        page = pool.submit(alice.follow, SERVICE + "done")
        time.sleep(0.3)
        asked = time.monotonic()
        live = requests.get(hub.url + SERVICE + "health/live", timeout=HTTP_TIMEOUT)
        live_took = time.monotonic() - asked
        done, _ = page.result()
        took = time.monotonic() - started
    assert live.status_code == 200 and live_took < 3, live_took
    # The done page, as alice is (signed in, or signed out by an earlier test).
    assert done.status_code == 200 and "signed in</h1>" in done.text.lower(), done.text
    assert took < 5, took
    assert "did not answer within" not in hub.log()


def test_the_log_holds_no_token(hub: OAuthHub) -> None:
    log = hub.log()
    for user in ("alice", "bob", "carol"):
        state = hub.auth_state(user)
        assert not [
            k
            for k in ("access_token", "refresh_token", "id_token")
            if state.get(k) and state[k] in log
        ]


def service_store(hub: OAuthHub) -> SQLTokenStore:
    """The service's database, opened with its store key as the service opens it."""
    db_url = f"sqlite:///{hub.work_dir / 'nevis_auth_hub.sqlite'}"
    return SQLTokenStore(db_url, make_fernet(hub.store_key))


def test_after_invalid_grant_the_service_retries_with_the_hubs_newer_sign_in(
    hub_and_client: tuple[OAuthHub, RegisteredClient],
    oidc_provider: OIDCTestProvider,
    resource_server: ResourceServer,
) -> None:
    """The service was down; meanwhile its grant ended and the user signed in to the hub again.

    Here the service cannot tell at its first look after the restart that the hub's grant is
    newer (its own ID token looks newer, as after a clock that went back), so it refreshes
    with its own: the provider answers invalid_grant, and the service reads auth_state again
    and continues with the hub's grant, at once.
    """
    hub, client = hub_and_client
    assert token(hub, "bob").status_code == 200  # his server of the test above asks
    store = service_store(hub)
    held = asyncio.run(store.get("bob"))
    store.close()
    assert held is not None and held.refresh_token
    # bob signs in to the hub again, in another browser: a new grant at the provider.
    for again in signed_in(hub, "bob"):
        newer = hub.auth_state("bob")
        assert newer["refresh_token"] != held.refresh_token
        hub.stop()
        # The service's grant ends at the provider, and its access token expires meanwhile.
        revoked = requests.post(
            oidc_provider.revocation_endpoint,
            auth=(client.client_id, client.client_secret),
            data={"token": held.refresh_token, "token_type_hint": "refresh_token"},
            timeout=HTTP_TIMEOUT,
        )
        assert revoked.status_code == 200, revoked.text
        store = service_store(hub)
        gone = time.time() - 1
        looks_newer = {**held.claims, "iat": int(time.time()) + 60}
        asyncio.run(
            store.set(
                "bob",
                dataclasses.replace(
                    held, expires_at=gone, obtained_at=gone - 3600, claims=looks_newer
                ),
            )
        )
        store.close()
        before = refreshes(oidc_provider, client)
        logged = len(hub.log())
        hub.start(client.client_id, client.client_secret)

        # The hub's refresh_user asks the service, which refreshes: refused, then retried.
        hub_refreshes(again)
        log = hub.log()[logged:]
        assert "Refresh of bob refused; retrying with JupyterHub's tokens" in log
        after = refreshes(oidc_provider, client)
        assert after["error"] == before["error"] + 1 and after["ok"] == before["ok"] + 1
        state = hub.auth_state("bob")
        assert state["access_token"] != newer["access_token"]  # the service answered the hub
        again.start_server()
        answer = token(hub, "bob")
        assert answer.status_code == 200, answer.text
        assert answer.json()["access_token"] == state["access_token"]
        assert bearer(resource_server, answer.json()["access_token"]) == 200
        assert "signing bob out" not in log and newer["refresh_token"] not in hub.log()


def test_after_a_restart_a_newer_hub_sign_in_is_continued_not_overwritten(
    hub_and_client: tuple[OAuthHub, RegisteredClient],
    oidc_provider: OIDCTestProvider,
    resource_server: ResourceServer,
) -> None:
    """bob signs in to the hub again after the service restarted, its tokens still good.

    The hub's ID token was issued after the service got its tokens, so the hub's grant is the
    newer one: the service continues it instead of answering the hub with its own.
    """
    hub, client = hub_and_client
    assert token(hub, "bob").status_code == 200
    store = service_store(hub)
    held = asyncio.run(store.get("bob"))
    store.close()
    assert held is not None and held.expires_at and held.expires_at > time.time() + 60
    hub.stop()
    hub.start(client.client_id, client.client_secret)
    before = refreshes(oidc_provider, client)
    logged = len(hub.log())
    time.sleep(1.1)  # a sign-in in a later second than the service's tokens
    for again in signed_in(hub, "bob"):
        newer = hub.auth_state("bob")
        assert newer["refresh_token"] != held.refresh_token
        hub_refreshes(again)
        assert "Continuing with the newer JupyterHub sign-in of bob" in hub.log()[logged:]
        state = hub.auth_state("bob")
        assert state["access_token"] not in (held.access_token, newer["access_token"])
        again.start_server()
        answer = token(hub, "bob")
        assert answer.status_code == 200, answer.text
        assert answer.json()["access_token"] == state["access_token"]
        assert bearer(resource_server, answer.json()["access_token"]) == 200
    assert refreshes(oidc_provider, client)["error"] == before["error"]
