"""The hub service as replica processes on one PostgreSQL database, behind a real JupyterHub.

Two replicas (tests/hub/replica_harness.py) behind the hub's proxy and a load balancer, a
real PostgreSQL, and the test provider with refresh-token rotation: a refresh token works
once, and its reuse ends the whole grant. Tests build on each other's sign-ins, in file order.
"""

from __future__ import annotations

import contextlib
import html
import re
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests

from jupyter_nevis_auth.hub.service.lifecycle import REQUESTS_SECONDS
from jupyter_nevis_auth.hub.service.sql_store import UNAVAILABLE
from tests.hub.harness import HubBrowser, path, query
from tests.hub.replica_harness import Replica, ReplicaHub
from tests.hub.service_harness import SERVICE, service_api
from tests.support.postgres import PostgresServer, running_postgres
from tests.support.provider import HTTP_TIMEOUT, OIDCTestProvider, RegisteredClient, provider_login

pytestmark = pytest.mark.hub

#: The access tokens' lifetime: a refresh is due after half of it.
TOKEN_TTL = 30


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the module: the replicas' database."""
    yield from running_postgres()


@pytest.fixture(scope="module")
def hub_and_client(
    postgres: PostgresServer,
    oidc_provider: OIDCTestProvider,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ReplicaHub, RegisteredClient]]:
    """The hub with two replicas of the service, and its client (with rotation)."""
    hub = ReplicaHub(tmp_path_factory.mktemp("replica-hub"), oidc_provider.issuer, postgres.url, 2)
    client = oidc_provider.add_client(
        hub.redirect_uris, rotate_refresh_token=True, access_token_ttl=TOKEN_TTL
    )
    with hub.running(client.client_id, client.client_secret):
        yield hub, client


def on(replica: Replica, url: str) -> str:
    """`url` with the origin of `replica` instead of the hub's."""
    parts = urlsplit(url)
    return replica.url + parts.path + (f"?{parts.query}" if parts.query else "")


def token_at(replica: Replica, token: str, **params: str) -> requests.Response:
    """The token API of one replica, asked straight, as a server's request it was sent."""
    return requests.get(
        replica.url + SERVICE + "api/token",
        headers={"Authorization": f"token {token}"},
        params=params,
        timeout=HTTP_TIMEOUT,
    )


def token_with_at_least(replica: Replica, token: str, seconds: float) -> str:
    """The access token `replica` answers once it has `seconds` left (after a refresh)."""
    deadline = time.monotonic() + TOKEN_TTL
    while True:
        answer = token_at(replica, token)
        assert answer.status_code == 200, answer.text
        if answer.json()["expires_in"] >= seconds:
            return str(answer.json()["access_token"])
        assert time.monotonic() < deadline, "no refresh within the token's lifetime"
        time.sleep(0.25)


def refreshes(provider: OIDCTestProvider, client: RegisteredClient) -> dict[str, int]:
    counter = provider.stats(client.client_id)["token"].get("refresh_token", {})
    return {"ok": counter.get("ok", 0), "error": counter.get("error", 0)}


@pytest.fixture(scope="module")
def alice_signed_in(hub: ReplicaHub, alice: HubBrowser) -> str:
    """alice signs in: started at the first replica, her callback lands on the second.

    Returns her server's token.
    """
    first, second = hub.replicas
    # The hub's OAuth for the service's pages first, through the proxy (any replica).
    response, visited = alice.follow(SERVICE + "login?next=" + SERVICE + "done")
    assert response.is_redirect, f"{response.status_code} at {visited[-1]}: {response.text}"
    # The sign-in itself started at the first replica: its state is in that one's memory.
    started = alice.http.get(
        first.url + SERVICE + "login?next=" + SERVICE + "done",
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    assert started.status_code == 302, started.text
    callback = provider_login(
        started.headers["Location"],
        "alice",
        redirect_prefix=hub.redirect_uri,
        session=alice.provider,
    )
    landed = alice.http.get(on(second, callback), allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert landed.status_code == 302, landed.text
    assert path(landed.headers["Location"]) == SERVICE + "done"
    # Used up at every replica.
    for replica in (first, second):
        again = alice.http.get(on(replica, callback), allow_redirects=False, timeout=HTTP_TIMEOUT)
        assert again.status_code == 400, again.text
        assert "expired or was already used" in again.text
    assert "code" not in query(landed.headers["Location"])
    return hub.server_token("alice")


def test_a_callback_landing_on_another_replica_signs_in(
    hub: ReplicaHub, alice_signed_in: str
) -> None:
    for replica in hub.replicas:
        answer = token_at(replica, alice_signed_in)
        assert answer.status_code == 200, answer.text
        assert answer.json()["claims"]["sub"] == "alice"
    through_proxy = service_api(hub, "GET", "api/token", alice_signed_in)
    assert through_proxy.status_code == 200, through_proxy.text


def test_a_link_issued_at_one_replica_is_opened_and_completed_through_the_other(
    hub: ReplicaHub, bob: HubBrowser
) -> None:
    first, second = hub.replicas
    server_token = hub.server_token("bob")
    assert token_at(first, server_token).status_code == 401
    issued = requests.post(
        first.url + SERVICE + "api/token/link",
        headers={"Authorization": f"token {server_token}"},
        data={},
        timeout=HTTP_TIMEOUT,
    )
    assert issued.status_code == 200, issued.text
    url = issued.json()["url"]
    with requests.Session() as browser:  # no hub login: a link needs none
        page = browser.get(on(second, url), allow_redirects=False, timeout=HTTP_TIMEOUT)
        assert page.status_code == 200, page.text
        assert "for the JupyterHub user bob" in page.text
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        assert xsrf is not None
        pressed = browser.post(
            on(second, url.split("?")[0]),
            data={**query(url), "_xsrf": html.unescape(xsrf.group(1))},
            allow_redirects=False,
            timeout=HTTP_TIMEOUT,
        )
        assert pressed.status_code == 302, pressed.text
        # Used up by the button, at every replica.
        for replica in (first, second):
            gone = browser.get(on(replica, url), allow_redirects=False, timeout=HTTP_TIMEOUT)
            assert gone.status_code == 410, gone.text
        callback = provider_login(
            pressed.headers["Location"], "bob", redirect_prefix=hub.redirect_uri
        )
        # bob's cell waits at the second replica while the callback lands on the first.
        with ThreadPoolExecutor(1) as pool:
            waited = pool.submit(
                requests.get,
                second.url + SERVICE + "api/token/wait",
                headers={"Authorization": f"token {server_token}"},
                params={"seconds": "20"},
                timeout=30,
            )
            time.sleep(1)  # the wait has begun
            landed = browser.get(on(first, callback), allow_redirects=False, timeout=HTTP_TIMEOUT)
            assert landed.status_code == 302, landed.text
            assert landed.headers["Location"] == SERVICE + "link/done"
            done = browser.get(first.url + SERVICE + "link/done", timeout=HTTP_TIMEOUT)
            assert "the notebook cell that asked for the sign-in carries on" in done.text
            # The wait sees the sign-in within the replicas' cache time.
            answer = waited.result()
            assert answer.status_code == 200 and answer.json() == {"ready": True}
    for replica in (first, second):
        answer = token_at(replica, server_token)
        assert answer.status_code == 200, answer.text
        assert answer.json()["claims"]["sub"] == "bob"


def test_health_says_what_it_checks(hub: ReplicaHub, postgres: PostgresServer) -> None:
    replica = hub.replicas[0]
    ready = requests.get(replica.url + SERVICE + "health", timeout=HTTP_TIMEOUT)
    assert (ready.status_code, ready.json()) == (200, {"ready": True})
    assert ready.headers["Cache-Control"] == "no-store"
    live = requests.get(replica.url + SERVICE + "health/live", timeout=HTTP_TIMEOUT)
    assert (live.status_code, live.json()) == (200, {"live": True})
    # Through the hub's proxy too, without a sign-in.
    assert requests.get(hub.url + SERVICE + "health", timeout=HTTP_TIMEOUT).status_code == 200


def test_replicas_on_ports_of_their_own_say_nothing_of_the_hosts_tcp_migrate_req(
    hub: ReplicaHub,
) -> None:
    # Only replicas sharing a port (reuse_port, tests/hub/test_shared_port.py) hand over
    # their waiting connections through the kernel.
    assert len({replica.port for replica in hub.replicas}) == len(hub.replicas)
    assert not any("tcp_migrate_req" in replica.log() for replica in hub.replicas)


def test_concurrent_token_requests_over_replicas_give_one_refresh(
    hub: ReplicaHub,
    alice_signed_in: str,
    oidc_provider: OIDCTestProvider,
    client: RegisteredClient,
) -> None:
    before = refreshes(oidc_provider, client)
    first = token_at(hub.replicas[0], alice_signed_in).json()

    # Forced, as after an API's 401: each replica would refresh, but for the lease.
    def ask(i: int) -> requests.Response:
        return token_at(hub.replicas[i % 2], alice_signed_in, force_refresh="1")

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, range(16)))
    assert [a.status_code for a in answers] == [200] * 16, [a.text for a in answers]
    assert refreshes(oidc_provider, client) == {"ok": before["ok"] + 1, "error": 0}
    # Within the replicas' cache time, both hand out the one refreshed token.
    time.sleep(1.5)
    now = {token_at(r, alice_signed_in).json()["access_token"] for r in hub.replicas}
    assert len(now) == 1 and first["access_token"] not in now


def test_postgres_stopped_and_started_gives_one_sentence_503s_then_reconnects(
    hub: ReplicaHub, alice_signed_in: str, postgres: PostgresServer
) -> None:
    postgres.stop()
    try:
        time.sleep(1.5)  # past the replicas' cache time: every answer needs the database
        for replica in hub.replicas:
            answer = token_at(replica, alice_signed_in)
            assert answer.status_code == 503, answer.text
            assert answer.json()["message"] == UNAVAILABLE
            health = requests.get(replica.url + SERVICE + "health", timeout=HTTP_TIMEOUT)
            assert (health.status_code, health.json()["message"]) == (503, UNAVAILABLE)
    finally:
        postgres.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if all(token_at(r, alice_signed_in).status_code == 200 for r in hub.replicas):
            break
        time.sleep(0.5)
    else:
        pytest.fail("the replicas did not reconnect to PostgreSQL within 15 s")
    assert "Traceback" not in "".join(r.log() for r in hub.replicas)


def test_a_rolling_restart_under_load_fails_no_request(
    hub: ReplicaHub, alice_signed_in: str
) -> None:
    answered, failed = hub.rolling_restart_under_load(
        alice_signed_in, lambda response: response.status_code == 200, keep_alive=True
    )
    assert failed == []
    assert answered > 100
    for replica in hub.replicas:
        assert "the service stopped" in replica.log()


def test_neither_an_idle_connection_nor_a_request_cut_short_holds_a_stop_up(
    hub: ReplicaHub,
) -> None:
    # As the proxy keeps connections open between requests: a stop waits for requests that
    # came, not for connections that may bring one, nor for one whose sender went away.
    replica = hub.replicas[0]
    with requests.Session() as kept:
        alive = kept.get(replica.url + SERVICE + "health/live", timeout=HTTP_TIMEOUT)
        assert alive.status_code == 200
        with socket.create_connection(("127.0.0.1", replica.port), timeout=HTTP_TIMEOUT) as cut:
            head = f"POST {SERVICE}api/token/link HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
            cut.sendall(head.encode() + b"\r\n{")
            time.sleep(0.2)  # its head was read
        started = time.monotonic()
        assert replica.stop(signal.SIGTERM) == 0, replica.log()
        took = time.monotonic() - started
        replica.start()
    assert took < REQUESTS_SECONDS / 4, replica.log()


@contextlib.contextmanager
def killed_mid_refresh(
    replica: Replica, token: str, provider: OIDCTestProvider, client: RegisteredClient
) -> Iterator[None]:
    """`replica` killed (SIGKILL) while the provider's answer to its refresh is on its way;
    started again after the block."""
    # Longer than the dead replica's lease could last: its answer comes to nobody.
    provider.delay_token_answers(client.client_id, 6)
    try:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(token_at, replica, token, force_refresh="1")
            time.sleep(1.5)
            replica.stop(signal.SIGKILL)
        yield
    finally:
        provider.delay_token_answers(client.client_id, 0)
        replica.start()


def test_a_replica_killed_mid_refresh_keeps_the_grant_where_the_provider_has_a_reuse_grace(
    hub: ReplicaHub,
    alice_signed_in: str,
    oidc_provider: OIDCTestProvider,
    client: RegisteredClient,
) -> None:
    """SIGKILL while the provider's answer to a refresh is on its way, at a provider that
    takes a rotated refresh token again for a grace period (30 s here).

    The other replica redoes the refresh once the dead replica's lease has stayed expired, with
    no request asking for it: within the grace period, so the grant lives on.
    """
    killed, other = hub.replicas

    def register(grace: float | None) -> None:
        oidc_provider.add_client(
            hub.redirect_uris,
            client_id=client.client_id,
            client_secret=client.client_secret,
            rotate_refresh_token=True,
            access_token_ttl=TOKEN_TTL,
            refresh_reuse_grace=grace,
        )

    register(30)
    try:
        valid = token_with_at_least(other, alice_signed_in, TOKEN_TTL - 3)
        before = refreshes(oidc_provider, client)
        with killed_mid_refresh(killed, alice_signed_in, oidc_provider, client):
            pass  # asked nothing while the replica is down
        # Asked without force, the still-valid token needs no refresh: one that comes is the
        # refresh taken over (the lease of 4 s, then 2 s unrenewed, then a second's sweep).
        deadline = time.monotonic() + 15
        while (answer := token_at(other, alice_signed_in)).json()["access_token"] == valid:
            assert answer.status_code == 200, answer.text
            assert time.monotonic() < deadline, "the killed replica's refresh was not redone"
            time.sleep(0.5)
        assert refreshes(oidc_provider, client) == {"ok": before["ok"] + 2, "error": 0}
        # With the refresh token the killed replica had sent, which the provider had used up.
        assert oidc_provider.stats(client.client_id).get("refresh_reused") == 1
        taken_over = "another process began a refresh of them and stopped before it ended"
        assert any(taken_over in r.log() for r in hub.replicas)
        # The grant lives on: the next refresh rotates once more.
        again = token_at(other, alice_signed_in, force_refresh="1")
        assert again.status_code == 200, again.text
        assert refreshes(oidc_provider, client) == {"ok": before["ok"] + 3, "error": 0}
    finally:
        register(None)


def test_a_replica_killed_mid_refresh_holds_the_grant_up_for_its_lease_only(
    hub: ReplicaHub,
    alice_signed_in: str,
    oidc_provider: OIDCTestProvider,
    client: RegisteredClient,
) -> None:
    """SIGKILL while the provider's answer to a refresh is on its way.

    With rotation, the provider has used up the refresh token by then, and its answer dies
    with the process: that grant ends at the next refresh, as it would in one process. What
    the replicas keep: the other replica hands out the still-valid token meanwhile, nobody
    refreshes before the dead replica's lease expires, and then one refresh is tried (taken
    over, with no request asking), which the provider refuses, and the user is asked in one
    sentence to sign in again.
    """
    killed, other = hub.replicas
    # Out of the way of the other replica's own refresh ahead of time (its window opens a
    # quarter of the half lifetime before the refresh is due): with a token it refreshed
    # when due, that one would be the refresh that rotates, not the killed replica's.
    valid = token_with_at_least(other, alice_signed_in, TOKEN_TTL - 3)
    before = refreshes(oidc_provider, client)
    with killed_mid_refresh(killed, alice_signed_in, oidc_provider, client):
        # Within the lease: the still-valid token, and no second refresh.
        for _ in range(3):
            answer = token_at(other, alice_signed_in)
            assert answer.status_code == 200 and answer.json()["access_token"] == valid
        assert refreshes(oidc_provider, client) == before
    # The dead replica's lease expires and stays so: a replica redoes the refresh, with no
    # request asking for it, and the provider refuses it. Both replicas then say so.
    deadline = time.monotonic() + 15
    while (ended := [token_at(r, alice_signed_in) for r in hub.replicas])[1].status_code == 200:
        assert time.monotonic() < deadline, "the killed replica's refresh was not redone"
        time.sleep(0.5)
    assert [e.status_code for e in ended] == [401, 401], [e.text for e in ended]
    # The replica that was refused says why, and the other (which read the tokens before)
    # heard why with the deletion.
    assert [e.json()["message"] for e in ended] == [
        "Your session at the provider has ended; sign in again."
    ] * 2
    # The killed replica's refresh (answered to nobody), then the one refused.
    assert refreshes(oidc_provider, client) == {
        "ok": before["ok"] + 1,
        "error": before["error"] + 1,
    }
