"""Replicas on one host sharing one port (NEVIS_AUTH_HUB_REUSE_PORT), with no load balancer.

Two replicas (tests/hub/replica_harness.py with `shared_port`) listen on the port the hub's
proxy sends the service's requests to, on one PostgreSQL; the kernel spreads the
connections between them.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
import requests

from jupyter_nevis_auth.hub.service.settings import MIGRATE_REQ
from tests.hub.replica_harness import Replica, ReplicaHub
from tests.hub.service_harness import SERVICE
from tests.support.postgres import PostgresServer, running_postgres
from tests.support.provider import HTTP_TIMEOUT, OIDCTestProvider

pytestmark = pytest.mark.hub

#: How a replica logs an answer to `health`.
HEALTH = f"200 GET {SERVICE}health "


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the module: the replicas' database."""
    yield from running_postgres()


@pytest.fixture(scope="module")
def hub(
    postgres: PostgresServer,
    oidc_provider: OIDCTestProvider,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ReplicaHub]:
    """The hub with two replicas of the service on one port, logging at DEBUG: the tests
    count each replica's `health` answers in its log."""
    work_dir = tmp_path_factory.mktemp("shared-port-hub")
    (work_dir / "nevis_auth_hub_config.py").write_text("c.Application.log_level = 'DEBUG'\n")
    hub = ReplicaHub(
        work_dir,
        oidc_provider.issuer,
        postgres.url,
        2,
        shared_port=True,
    )
    client = oidc_provider.add_client(hub.redirect_uris)
    with hub.running(client.client_id, client.client_secret):
        yield hub


def answered(replicas: list[Replica]) -> list[int]:
    """How many `health` requests each replica has answered so far."""
    return [replica.log().count(HEALTH) for replica in replicas]


def answered_since(replicas: list[Replica], before: list[int], total: int) -> list[int]:
    """How many each replica answered since `before`, once `total` are in their logs.

    A replica writes its log line just after the answer: a moment later.
    """
    deadline = time.monotonic() + 5
    while True:
        more = [now - then for now, then in zip(answered(replicas), before, strict=True)]
        if sum(more) >= total or time.monotonic() > deadline:
            return more
        time.sleep(0.05)


def ask_health(hub: ReplicaHub, times: int) -> None:
    """`health`, each on a new connection: half straight at the port, half through the proxy."""
    for i in range(times):
        base = hub.replicas[0].url if i % 2 else hub.url
        response = requests.get(base + SERVICE + "health", timeout=HTTP_TIMEOUT)
        assert response.status_code == 200, response.text


def test_replicas_on_one_port_share_its_connections(hub: ReplicaHub) -> None:
    assert len({replica.port for replica in hub.replicas}) == 1
    assert hub.service_url == hub.replicas[0].url
    before = answered(hub.replicas)
    ask_health(hub, 40)
    more = answered_since(hub.replicas, before, 40)
    # Each connection goes to one of them, by a hash of its source port: both get some.
    assert sum(more) >= 40  # and the start's own checks, logged a moment late
    assert all(count > 0 for count in more), more


def test_each_replica_says_when_the_host_resets_a_stopping_replicas_connections(
    hub: ReplicaHub,
) -> None:
    # Read here apart from the service: "0" (Linux's default) resets the connections still
    # waiting at a listener that closes; "1" passes them to another on the port.
    resets = MIGRATE_REQ.exists() and MIGRATE_REQ.read_text().strip() == "0"
    warning = "net.ipv4.tcp_migrate_req is 0 on this host"
    assert [warning in replica.log() for replica in hub.replicas] == [resets, resets]


def test_a_replica_killed_leaves_the_port_to_the_other(hub: ReplicaHub) -> None:
    first = hub.replicas[0]
    first.stop(signal.SIGKILL)
    try:
        before = answered(hub.replicas)
        ask_health(hub, 20)
        more = answered_since(hub.replicas, before, 20)
        assert more[0] == 0 and more[1] >= 20, more
    finally:
        first.start()
    before = answered(hub.replicas)
    ask_health(hub, 40)
    assert all(count > 0 for count in answered_since(hub.replicas, before, 40))


def test_a_replica_without_reuse_port_on_a_taken_port_says_so(hub: ReplicaHub) -> None:
    taken = hub.replicas[0]
    alone = Replica(9, taken.env, hub.work_dir, taken.port)  # waits for it to listen
    alone.env.pop("NEVIS_AUTH_HUB_REUSE_PORT")
    try:
        with pytest.raises(Exception, match="exited with 1") as failed:
            alone.start()
    finally:
        alone.stop()
    assert f"cannot listen at {taken.url} (" in alone.log()
    assert "Traceback" not in alone.log()
    assert "Address already in use" in str(failed.value)


def test_a_rolling_restart_on_one_port_under_load_leaves_every_request_answered(
    hub: ReplicaHub,
) -> None:
    # Requests the service itself answers (a server token the hub does not know: 403),
    # through the proxy, each on a new connection, while each replica in turn is stopped
    # (SIGTERM) and started again; any other answer is one no replica gave.
    answered, failed = hub.rolling_restart_under_load(
        "not-a-server-token",
        lambda response: (
            response.status_code == 403 and "JupyterHub does not know" in response.text
        ),
        keep_alive=False,
    )
    assert failed == []
    assert answered > 100
