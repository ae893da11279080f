"""A real JupyterHub whose nevis-auth service runs as replica processes the tests start.

The hub's proxy sends /services/nevis-auth/ to a load balancer (tests/support/balancer.py,
what a Kubernetes Service is to a Deployment) in front of the replicas, all on one
PostgreSQL database, sharing the store key, the cookie secret and the hub's API token.
With `shared_port`, there is no balancer: the replicas listen on one port with
NEVIS_AUTH_HUB_REUSE_PORT, and the kernel spreads the connections.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from tests.hub.harness import HUB_DIR, HubError, JupyterHub
from tests.hub.service_harness import SERVICE, ServiceHub
from tests.support.balancer import Balancer
from tests.support.process import Process, ProcessError, free_port
from tests.support.provider import HTTP_TIMEOUT

REPLICA_CONFIG = HUB_DIR / "replica_config.py"
START_TIMEOUT = 30.0
#: What a replica logs once it takes connections.
LISTENS = "the service listens at"


class Replica:
    """One process of the service, on a port of its own; its output in a log file."""

    def __init__(
        self, number: int, env: dict[str, str], work_dir: Path, port: int | None = None
    ) -> None:
        """Replica `number`; on `port` when given, which other replicas share (reuse_port)."""
        self.number = number
        self.shared = port is not None
        self.port = free_port() if port is None else port
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "JUPYTERHUB_SERVICE_URL": self.url}
        if self.shared:
            self.env["NEVIS_AUTH_HUB_REUSE_PORT"] = "1"
        self.work_dir = work_dir
        self.log_file = work_dir / f"replica-{number}.log"
        self.process: Process | None = None

    def start(self) -> None:
        """Start the process and wait until its `health` says it is ready."""
        self.process = Process(
            f"replica {self.number}",
            [str(Path(sys.executable).with_name("jupyter-nevis-auth-service"))],
            cwd=self.work_dir,
            env=self.env,
            log_file=self.log_file,
            # Every run of the replica in one log, as a restarted pod's.
            append=True,
        )
        runs = self.log().count(LISTENS) if self.log_file.exists() else 0
        self.process.start()
        try:
            if self.shared:  # the port answers already when another replica has it
                self.process.wait_until(
                    lambda: self.log().count(LISTENS) > runs, START_TIMEOUT, "listen"
                )
            self.process.wait_for_url(self.url + SERVICE + "health", START_TIMEOUT, status=200)
        except ProcessError as e:
            raise HubError(str(e)) from None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int | None:
        """Send `sig` (SIGTERM: a graceful stop) and wait for the exit; its exit code."""
        if self.process is None or not self.process.running:
            return None
        return self.process.stop(timeout, sig=sig)

    def log(self) -> str:
        """What the replica printed, every run."""
        return self.log_file.read_text(encoding="utf-8", errors="replace")


class ReplicaHub(ServiceHub):
    """`jupyterhub -f tests/hub/replica_config.py`, and `replicas` service processes."""

    config_file = REPLICA_CONFIG

    def __init__(
        self,
        work_dir: Path,
        issuer: str,
        db_url: str,
        replicas: int,
        *,
        shared_port: bool = False,
        **kwargs: Any,
    ) -> None:
        """Prepare the hub, the balancer and the replicas' shared secrets; call start().

        `shared_port`: no balancer; the replicas share the port the hub's proxy sends to.
        """
        super().__init__(work_dir, issuer, {}, **kwargs)
        self.db_url = db_url
        self.count = replicas
        self.shared_port = shared_port
        self.balancer = Balancer([])
        # The balancer (or the replicas' shared port) is where the proxy sends the service's
        # requests.
        self.service_url = self.balancer.url
        self.service_token = secrets.token_hex(32)
        self.cookie_secret = secrets.token_hex(32)
        self._env.update(
            HUB_TEST_SERVICE_URL=self.service_url, HUB_TEST_SERVICE_TOKEN=self.service_token
        )
        self.replicas: list[Replica] = []

    def start(self, client_id: str, client_secret: str) -> None:
        """Start the hub, then the balancer and the replicas."""
        key_file = self.work_dir / "store_key"
        key_file.write_text(self.store_key + "\n", encoding="utf-8")
        key_file.chmod(0o600)
        JupyterHub.start(self, client_id, client_secret)
        service_env = json.loads((self.work_dir / "replica_env.json").read_text())
        base = {k: v for k, v in os.environ.items() if not k.startswith(("NEVIS_AUTH_", "JUPYTER"))}
        env = {
            **base,
            **service_env,
            "NEVIS_AUTH_HUB_DB_URL": self.db_url,
            "NEVIS_AUTH_HUB_COOKIE_SECRET": self.cookie_secret,
            "NEVIS_AUTH_HUB_LEASE_SECONDS": "4",
            "NEVIS_AUTH_HUB_REPLICA_CACHE_SECONDS": "1",
            "JUPYTERHUB_SERVICE_NAME": "nevis-auth",
            "JUPYTERHUB_API_TOKEN": self.service_token,
            "JUPYTERHUB_API_URL": self._env["HUB_TEST_HUB_URL"] + "/hub/api",
            "JUPYTERHUB_BASE_URL": "/",
            "JUPYTERHUB_SERVICE_PREFIX": SERVICE,
            "JUPYTERHUB_CLIENT_ID": "service-nevis-auth",
            "JUPYTERHUB_OAUTH_CALLBACK_URL": SERVICE + "oauth_callback",
            "JUPYTERHUB_OAUTH_ACCESS_SCOPES": json.dumps(["access:services!service=nevis-auth"]),
        }
        shared = self.balancer.port if self.shared_port else None
        self.replicas = [Replica(i, env, self.work_dir, shared) for i in range(self.count)]
        if not self.shared_port:
            self.balancer.backends[:] = [r.port for r in self.replicas]
            self.balancer.start()
        for replica in self.replicas:
            replica.start()

    def stop(self) -> None:
        """Stop the replicas, the balancer and the hub."""
        for replica in self.replicas:
            replica.stop(signal.SIGKILL)
        self.balancer.stop()
        super().stop()

    def log(self) -> str:
        """The hub's log and every replica's."""
        return super().log() + "".join(r.log() for r in self.replicas)

    def rolling_restart_under_load(
        self, token: str, expected: Callable[[requests.Response], bool], *, keep_alive: bool
    ) -> tuple[int, list[str]]:
        """Stop (SIGTERM) and start each replica in turn while four callers ask the token API
        through the hub's proxy every 20 ms with `token` (on kept-alive connections, or a
        new one each time); returns how many answers were `expected`, and the others."""
        failed: list[str] = []
        answered = 0
        done = threading.Event()

        def load() -> None:
            nonlocal answered
            with requests.Session() as session:
                while not done.is_set():
                    asker = session if keep_alive else requests
                    response = asker.get(
                        self.url + SERVICE + "api/token",
                        headers={"Authorization": f"token {token}"},
                        timeout=HTTP_TIMEOUT,
                    )
                    if expected(response):
                        answered += 1
                    else:
                        failed.append(f"{response.status_code} {response.text[:200]}")
                    time.sleep(0.02)

        workers = [threading.Thread(target=load) for _ in range(4)]
        for worker in workers:
            worker.start()
        try:
            for replica in self.replicas:
                time.sleep(1)
                assert replica.stop(signal.SIGTERM) == 0, replica.log()
                replica.start()
            time.sleep(1)
        finally:
            done.set()
            for worker in workers:
                worker.join(30)
        return answered, failed
