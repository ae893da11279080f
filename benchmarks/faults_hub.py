"""benchmarks/faults.py's setup: the sign-in-once hub on PostgreSQL, its users' kernels, the CPU.

The hub is the hub tests' sign-in-once hub (tests/support/hub.py's SIGN_IN_ONCE: the
GenericOAuthenticator keeping auth_state, the nevis-auth service taking the users' sign-ins
over from it, refresh-token rotation) with this run's four users, the service on PostgreSQL
and its answers about server tokens kept the service's default 60 s.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace

import psutil
import requests

from jupyter_nevis_auth.protocol import ENV_SECRET, ENV_URL
from tests.hub.harness import HubBrowser, HubError, JupyterHub
from tests.hub.service_harness import SERVICE, OAuthHub
from tests.support.hub import SIGN_IN_ONCE, HubSpec
from tests.support.postgres import PostgresServer
from tests.support.provider import HTTP_TIMEOUT

USERS = ("alice", "bob", "carol", "dave")
#: The users' servers: the extension in hub mode, asking the service (tests/hub/service_config.py).
SERVER = "hubmode"
#: The service's own default; the test configuration's 1 s is for the tests' patience.
HUB_CACHE_SECONDS = 60
CPU_SAMPLE_SECONDS = 1.0


def faults_hub(db_url: str, token_ttl: int, auth_refresh_age: int) -> HubSpec:
    """The sign-in-once hub for this run's users, its service on `db_url`."""
    return replace(
        SIGN_IN_ONCE,
        name="faults-hub",
        service_env={
            "NEVIS_AUTH_HUB_DB_URL": db_url,
            "NEVIS_AUTH_HUB_CACHE_SECONDS": str(HUB_CACHE_SECONDS),
        },
        client_options={**SIGN_IN_ONCE.client_options, "access_token_ttl": token_ttl},
        config=(
            f"c.Authenticator.allowed_users = {set(USERS)!r}\n"
            f"c.Authenticator.auth_refresh_age = {auth_refresh_age!r}\n"
        ),
    )


def hub_children(hub: JupyterHub) -> list[psutil.Process]:
    """Every process the hub started and that still runs."""
    if hub._process is None:
        raise HubError("the hub is not running")
    return psutil.Process(hub._process.pid).children(recursive=True)


def service_process(hub: OAuthHub) -> psutil.Process:
    """The service's process, as JupyterHub runs it now."""
    for child in hub_children(hub):
        try:
            if "jupyter-nevis-auth-service" in " ".join(child.cmdline()):
                return child
        except psutil.Error:
            continue
    raise HubError("the nevis-auth service is not running")


def service_answers(hub: OAuthHub) -> bool:
    """Whether the service takes requests."""
    try:
        requests.get(hub.service_url + SERVICE, timeout=2, allow_redirects=False)
    except requests.RequestException:
        return False
    return True


@dataclass
class Kernel:
    """One user's kernel as its server set it up: where to ask, and the secret to show."""

    user: str
    url: str
    secret: str
    server_token: str


def start_kernel(hub: OAuthHub, browser: HubBrowser, server_url: str) -> Kernel:
    """Start a kernel in the user's server; read what its server gave it from its environment."""
    headers = {"Authorization": f"token {browser.api_token()}"}
    made = requests.post(
        hub.url + server_url + "api/kernels", headers=headers, json={}, timeout=HTTP_TIMEOUT
    )
    if made.status_code != 201:
        raise HubError(f"{browser.name}'s kernel did not start: {made.status_code}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for process in hub_children(hub):
            try:
                env = process.environ()
            except psutil.Error:
                continue
            if (
                env.get("JUPYTERHUB_USER") == browser.name
                and ENV_SECRET in env
                and env.get("JUPYTERHUB_SERVER_NAME") == SERVER
            ):
                return Kernel(
                    browser.name,
                    env[ENV_URL],
                    env[ENV_SECRET],
                    hub.server_token(browser.name, SERVER),
                )
        time.sleep(0.5)
    raise HubError(f"{browser.name}'s kernel has no {ENV_SECRET}")


class CpuSampler:
    """CPU time of the run's processes and of the whole machine, sampled every second.

    Killed and restarted processes come and go: each counts up to its last sample.
    """

    def __init__(self, postgres: PostgresServer) -> None:
        self.postgres = postgres
        self.samples: list[tuple[float, float, dict[int, float]]] = []

    def processes(self) -> Iterable[psutil.Process]:
        """This process, everything it started, and PostgreSQL (a daemon of its own)."""
        me = psutil.Process()
        yield me
        yield from me.children(recursive=True)
        try:
            pid = int((self.postgres.data / "postmaster.pid").read_text().split()[0])
            postmaster = psutil.Process(pid)
        except (OSError, ValueError, IndexError, psutil.Error):
            return
        yield postmaster
        yield from postmaster.children()

    def sample(self) -> None:
        """One sample: the machine's busy CPU seconds and each process's."""
        used = {}
        for process in self.processes():
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            used[process.pid] = times.user + times.system
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        self.samples.append((time.perf_counter(), busy, used))

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            self.sample()
            await asyncio.sleep(CPU_SAMPLE_SECONDS)

    def between(self, start: float, end: float) -> str:
        """The run's and the other processes' CPU, in cores, from `start` to `end`."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return "CPU: too short to tell"
        seconds = inside[-1][0] - inside[0][0]
        ours = 0.0
        for pid in set().union(*(s[2] for s in inside)):
            seen = [s[2][pid] for s in inside if pid in s[2]]
            # A process started meanwhile counts from zero; one that ended, to its last sample.
            first = inside[0][2].get(pid, 0.0)
            ours += max(seen[-1] - first, 0.0)
        busy = inside[-1][1] - inside[0][1]
        return (
            f"CPU: the run {ours / seconds:.2f} cores, processes outside it "
            f"{max(busy - ours, 0.0) / seconds:.2f}, of the machine's "
            f"{os.cpu_count()}; load average {os.getloadavg()[0]:.2f}"
        )
