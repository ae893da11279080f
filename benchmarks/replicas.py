"""bench_hub's replicas: the hub service as processes on one PostgreSQL, one of them killed.

The hub of tests/hub/replica_harness.py (the service a JupyterHub does not start): its
replicas on one port (NevisAuthHub.reuse_port), the kernel spreading the connections as
kube-proxy does for a Kubernetes Service; or, with the bench's --balancer, behind a
round-robin TCP balancer in a process of its own, so that its work is neither this load
generator's nor hidden in it. PostgreSQL from tests/support/postgres.py. The replicas run
with the service's own replica_cache_seconds and lease_seconds.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jupyter_nevis_auth.hub.service.settings import NevisAuthHub
from tests.hub.harness import HubError
from tests.hub.replica_harness import ReplicaHub
from tests.support.postgres import PostgresServer
from tests.support.process import Process, ProcessError
from tests.support.provider import OIDCTestProvider, RegisteredClient

ROOT = Path(__file__).resolve().parent.parent
#: The balancer's process: tests/support/balancer.py on the given port, to the given ports.
BALANCER_SCRIPT = """
import sys, threading
sys.path.insert(0, sys.argv[1])
from tests.support.balancer import Balancer
balancer = Balancer([int(p) for p in sys.argv[3:]])
balancer.port = int(sys.argv[2])
balancer.start()
threading.Event().wait()
"""
#: How the balancer's process is found among the run's (in its command line).
BALANCER_MARK = "tests.support.balancer"
#: The replicas' settings: the service's defaults, not the replica tests' short ones.
DEFAULTS = {
    name: NevisAuthHub.class_traits()[name].default_value
    for name in ("replica_cache_seconds", "lease_seconds")
}


def replica_config() -> str:
    """Lines of the service's config file for replicas: the defaults over the harness's env."""
    return "".join(f"c.NevisAuthHub.{name} = {value!r}\n" for name, value in DEFAULTS.items())


class BalancerProcess:
    """tests/support/balancer.py in a process of its own, started once the ports are known."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.backends: list[int] = []
        self.process: Process | None = None

    @property
    def url(self) -> str:
        """Its URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the process and wait until it listens."""
        command = [sys.executable, "-c", BALANCER_SCRIPT, str(ROOT), str(self.port)]
        self.process = Process("the balancer's process", [*command, *map(str, self.backends)])
        self.process.start()
        try:
            self.process.wait_until(self.listens, 10, "listen")
        except ProcessError as e:
            raise HubError(str(e)) from None

    def listens(self) -> bool:
        """Whether it takes connections."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """Stop it."""
        if self.process is not None:
            self.process.stop(10)


class BenchReplicaHub(ReplicaHub):
    """ReplicaHub, its balancer a process of its own on the port the hub was given (none
    with `shared_port`: the replicas share that port)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        port = self.balancer.port
        self.balancer.stop()  # never started: its event loop closed
        if not self.shared_port:
            self.balancer = BalancerProcess(port)  # type: ignore[assignment]


@contextmanager
def running_replicas(
    provider: OIDCTestProvider,
    work: Path,
    count: int,
    client_options: dict[str, Any],
    *,
    shared_port: bool = False,
) -> Iterator[tuple[BenchReplicaHub, RegisteredClient, PostgresServer]]:
    """PostgreSQL, and the hub with `count` replicas on it (on one port with `shared_port`);
    all stopped on the way out."""
    postgres = PostgresServer()
    try:
        postgres.start()
        hub = BenchReplicaHub(work, provider.issuer, postgres.url, count, shared_port=shared_port)
        client = provider.add_client(hub.redirect_uris, **client_options)
        with hub.running(client.client_id, client.client_secret):
            yield hub, client, postgres
    finally:
        postgres.remove()
