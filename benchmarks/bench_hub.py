"""The hub service at scale: N users' servers ask jupyter-nevis-auth-service for their tokens.

Starts the test provider (tests/provider; a client whose access tokens live --token-ttl
seconds) and a real JupyterHub running jupyter-nevis-auth-service as its `nevis-auth` service
(tests/hub/service_config.py; configurable-http-proxy from `make hub`). Creates N hub
users through the hub's REST API, each with a token the service takes for that user's
server's own (its one server scope is access:servers!server=<user>/); no server is
spawned. The service keeps JupyterHub's answer about a token --hub-cache-seconds (its
default; the test configuration's 1 s is for the tests' patience).

From this process and on loopback only, each request on a new connection (as a user
server's tornado AsyncHTTPClient asks the service), for a user's token (GET api/token
with the user's server token):

- every server asks once through the hub's proxy and once straight at the service, a
  few at a time, while nobody is signed in (401);
- the N users sign in through the product's own code path (AuthCore over the
  service's database and store key, the provider's real login and consent forms) while
  the service runs: timed;
- every server asks once each way again, everybody signed in;
- the baseline: the same open loops at a process that answers at once with a body as big
  as a token answer (benchmarks/null_service.py), through the same proxy and straight:
  what the proxy, this load generator and the machine cost by themselves;
- an open loop of --rate requests/s for --hub-cache-seconds (at least 10 s) lets the
  service settle: every server's token was first asked about in the two passes above, so
  the service asks JupyterHub about all of them again within a few seconds of each other
  once, and only after that at different times, as a running service does. Then the
  measured open loops of
  --rate requests/s for --seconds, each request for a random user's token: through the
  hub's proxy, then straight at the service;
- closed loops of --connections callers asking as fast as answers come, both ways.

Prints for each: answers/s, p50/p99/max latency (from when each request was sent; how late
this generator sent them, p99 and at most, on a line of its own, kept out), errors, the
refresh requests the provider saw against the new tokens (one per refresh, seen in the
answers or, at the end, in the service's database), CPU per process (and of the processes
outside the run: the machine may be shared), and the service's figures against the
baseline's. The service's memory per signed-in user is its RSS (psutil) after the pass
with everybody signed in, less its RSS after the pass with nobody signed in, divided by N;
its RSS after the loops is printed too.

Goals: p99 under 20 ms at 500 req/s on both paths, without errors; exactly one refresh
per user per expiry (no new token before the one it replaces came into its refresh
window, which opens TokenManager.refresh_ahead before it is due; no answer with a token
that was due); under 10 KiB per signed-in user. Exits 1 when one is missed. When a token
is due and when its window opens are the service's own TokenManager's answers
(effective_leeway, ahead) for a token of --token-ttl, so they follow its rules.

The requests are sent by benchmarks/load.py; this file is the scenario: the hub and its
service, the users, what a request asks and how its answer is judged, the goals.

    python benchmarks/bench_hub.py [--users 1000] [--rate 500] [--seconds 20] [--profile F]
                                   [--replicas 2 [--replicas-only] [--balancer]]
                                   [--short]

--replicas N runs everything again with the service as N processes on PostgreSQL (the
replica tests' hub: no `command`, the replicas behind the hub's proxy on one port,
NevisAuthHub.reuse_port, the kernel spreading the connections between them as kube-proxy
does for a Kubernetes Service; --balancer: each on a port of its own behind a round-robin
balancer of its own process instead), with refresh-token rotation in both setups; then one open
loop through the proxy in which a replica is killed (SIGKILL) halfway, each request no
replica answered asked once more as user servers do (hubclient.py), and after the dead
replica's lease every user's refresh forced once: a refused one is a grant lost. The two
setups' figures are printed side by side, each against its own baseline (--replicas-only:
the replicas' runs alone, to look into them). --short is a quick check (100 users, 6 s
loops), not the figures. --reuse-grace S gives the provider a reuse grace period of S
seconds for rotated refresh tokens, as many providers have: a refresh under way at the
killed replica is then redone with the refresh token it had sent, and its grant kept.

The provider and the hub run at nice 10 (--same-priority: not): on a machine of a few
cores they stand in for machines of their own, and no measured request goes through either;
the load generator, the proxy, PostgreSQL and the service keep their priority. Each open
loop's goal is checked against its baseline's p99 too (at most 2x).

--profile F runs the service under cProfile and writes its statistics to F (slower: for
where the time goes, not for the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import pstats
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import aiohttp
import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
# The test provider's and the hub's drivers live in the test suite, which is not installed.
sys.path.insert(0, str(ROOT))

from benchmarks import load, replicas  # noqa: E402
from benchmarks.load import MS, Processes, Run  # noqa: E402
from benchmarks.support import percentile, sign_in  # noqa: E402
from jupyter_nevis_auth.core.apis import token_key  # noqa: E402
from jupyter_nevis_auth.core.auth import AuthCore  # noqa: E402
from jupyter_nevis_auth.core.config import NevisAuth  # noqa: E402
from jupyter_nevis_auth.core.refresh import TokenManager  # noqa: E402
from jupyter_nevis_auth.core.stores import MemoryTokenStore  # noqa: E402
from jupyter_nevis_auth.core.tokens import TokenSet  # noqa: E402
from jupyter_nevis_auth.hub.service.app import NevisAuthHub  # noqa: E402
from jupyter_nevis_auth.hub.service.caller import RECHECK_TO  # noqa: E402
from jupyter_nevis_auth.hub.service.sql_store import SQLTokenStore, make_fernet  # noqa: E402
from jupyter_nevis_auth.protocol import DEFAULT_MIN_TTL  # noqa: E402
from jupyter_nevis_auth.server.hub_client import RELAYED_5XX, from_service  # noqa: E402
from tests.hub.harness import PROXY, HubError  # noqa: E402
from tests.hub.replica_harness import Replica  # noqa: E402
from tests.hub.service_harness import SERVICE, ServiceHub  # noqa: E402
from tests.support.hub import HubSpec, running_hub  # noqa: E402
from tests.support.process import Process, ProcessError, free_port  # noqa: E402
from tests.support.provider import (  # noqa: E402
    HTTP_TIMEOUT,
    SERVER_SCRIPT,
    OIDCTestProvider,
    RegisteredClient,
)

GOAL_P99 = 0.020
#: The most an open loop's p99 may be of its baseline's, measured in the same run.
GOAL_P99_RATIO = 2.0
#: The CPU priority (nice) of the provider and the hub, unless --same-priority: on this
#: machine they stand in for machines of their own (the identity provider; the hub's pod
#: or server), and no measured request goes through either. The proxy, which every
#: measured request goes through, the load generator, PostgreSQL and the service keep
#: theirs.
STAND_IN_NICE = 10
GOAL_BYTES_PER_USER = 10 * 1024
#: The share of the asked-for rate an open loop must answer.
GOAL_RATE_SHARE = 0.98
SCOPES = ["openid", "offline_access", "profile", "api"]
SIGN_IN_CONCURRENCY = 8
WARM_UP_CALLERS = 8
#: Requests under way at most in an open loop (more wait in the client, late).
OPEN_LOOP_CONNECTIONS = 64
CLOSED_LOOP_SECONDS = 10.0
#: Least seconds of the open loop before the measured ones (else --hub-cache-seconds):
#: JupyterHub's answers, cached by the service, then expire at different times, not all at
#: once as after the passes.
SETTLE_SECONDS = 10.0
#: Seconds without a new refresh at the provider after which none is under way any more.
QUIET_SECONDS = 1.0
#: Seconds a pass of every server may take.
SETUP_TIMEOUT = 120.0
USER_BATCH = 250
#: Seconds of clock and rounding slack when answers are compared with token lifetimes.
SLACK = 1.0
#: Appended to the service's config file by --profile: cProfile from then until it exits,
#: counting the CPU time of the service's process.
PROFILE = """
import atexit, cProfile, time
_profile = cProfile.Profile(time.process_time)  # CPU time: the machine may be shared
atexit.register(_profile.dump_stats, {path!r})
_profile.enable()
"""
MIB = 1024 * 1024
#: The processes of the run, in the order the figures name them.
PROCESS_ORDER = [
    "load (this process)",
    "provider",
    "hub",
    "proxy",
    "balancer",
    "service",
    "baseline",
]
NULL_SERVICE = Path(__file__).resolve().with_name("null_service.py")
#: The baseline's path on the proxy, and the size of its answers (about a token answer's).
BASELINE_PREFIX = "/services/bench-baseline/"
BASELINE_BYTES = 2500
#: What an answer took besides the service's own work (a refresh may follow a hub question).
ONLY_SERVICE = "the service alone"
ASKS_HUB = "a question to JupyterHub (at most)"
REFRESHES = "a refresh"


@dataclass
class HubRun(Run):
    """What one load run saw, and the refreshes behind its answers."""

    refresh_calls: int = 0
    #: New access tokens: one per refresh the service made.
    expiries: int = 0
    users_refreshed: set[str] = field(default_factory=set)
    #: New tokens obtained before the one they replace was due.
    early: int = 0
    #: At most this many more refreshes may lie behind the new tokens, their tokens replaced
    #: before any answer showed them (users not asked while one was current).
    unseen: int = 0
    #: Answers whose token was due for a refresh.
    stale: int = 0
    #: Requests asked a second time, as a user server does when no replica answered.
    retried: int = 0


def service_config(
    provider: OIDCTestProvider, client_id: str, client_secret: str, redirect_uri: str
) -> NevisAuth:
    """The service's settings, as tests/hub/service_config.py gives them."""
    return NevisAuth(
        issuer=provider.issuer,
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=redirect_uri,
        scopes=SCOPES,
        extra_authorize_params={"prompt": "consent"},
    )


class Expiries:
    """Every user's access token as the answers show it: when it expires, when it is due."""

    def __init__(self, ttl: float, tokens: TokenManager) -> None:
        """Tokens living `ttl` s, refreshed by `tokens`' own rules for what servers ask."""
        self.ttl = ttl
        now = time.time()
        issued = TokenSet(access_token="", expires_at=now + ttl, obtained_at=now)
        # A user server's request names no min_ttl: the token API asks for DEFAULT_MIN_TTL.
        #: The service refreshes a token with fewer than this many seconds left.
        self.leeway = tokens.effective_leeway(issued, DEFAULT_MIN_TTL)
        #: It starts that refresh in the background this much earlier, when asked then.
        self.ahead = tokens.ahead(issued, self.leeway)
        self.expires_at: dict[str, float] = {}

    def see(self, user: str, expires_at: float, left: float | None, run: HubRun) -> bool:
        """One token of `user` (with `left` seconds, when answered): is it a new one?"""
        if left is not None and left < self.leeway - SLACK:
            run.stale += 1
        known = self.expires_at[user]
        if expires_at <= known + SLACK:
            return False
        run.expiries += 1
        run.users_refreshed.add(user)
        # Obtained `ttl` before it expires; the one it replaces could be refreshed from
        # `leeway` + `ahead` before its end.
        if expires_at - self.ttl < known - self.leeway - self.ahead - SLACK:
            run.early += 1
        # Each refresh moves the expiry on by at least the time a token is used before its
        # refresh may start; a longer step may hide tokens nobody was shown.
        shortest = self.ttl - self.leeway - self.ahead
        run.unseen += max(0, math.floor((expires_at - known + SLACK) / shortest) - 1)
        self.expires_at[user] = expires_at
        return True


@dataclass(frozen=True)
class Target:
    """Where the servers ask: a name, and the URL of api/token that way."""

    name: str
    url: str


def refused(error: Exception) -> bool:
    """Whether a request failed for want of a connection, not for want of an answer in time."""
    return isinstance(error, aiohttp.ClientConnectionError) and not isinstance(
        error, asyncio.TimeoutError
    )


class TokenRequests:
    """Requests for users' tokens, each with the user's server token, as their servers ask."""

    def __init__(
        self, servers: dict[str, str], expiries: Expiries, hub_cache_seconds: float, seed: int
    ) -> None:
        self.servers = servers
        self.names = sorted(servers)
        self.expiries = expiries
        self.rng = random.Random(seed)
        self.hub_cache_seconds = hub_cache_seconds
        #: When the service last asked JupyterHub about each server's token, as far as seen
        #: here, and whether the token was used since.
        self.hub_asked: dict[str, tuple[float, bool]] = {}
        #: Whether a request no replica answered is asked once more (hubclient.py's rule).
        self.retry_once = False

    async def ask(
        self,
        url: str,
        expect: int,
        http: aiohttp.ClientSession,
        user: str,
        run: Run,
        since: float,
    ) -> None:
        """One request for `user`'s token; its latency counts from `since`."""
        assert isinstance(run, HubRun)
        headers = {"Authorization": f"token {self.servers[user]}"}
        if BASELINE_PREFIX in url:
            await self.ask_baseline(http, url, headers, run, since)
            return
        # The service uses JupyterHub's answer about a token that long, and asks again in the
        # background before then when the token was used since. By this reckoning (the latest
        # it asks again), an upper bound of the requests that waited for JupyterHub.
        now = time.perf_counter()
        asked, used = self.hub_asked.get(user, (-math.inf, False))
        recheck = asked + RECHECK_TO * self.hub_cache_seconds
        if used and now > recheck:
            asked = recheck
        asks_hub = now - asked > self.hub_cache_seconds
        self.hub_asked[user] = (now, False) if asks_hub else (asked, True)
        kind = ASKS_HUB if asks_hub else ONLY_SERVICE
        for left in range(int(self.retry_once), -1, -1):
            try:
                async with http.get(url, headers=headers) as response:
                    status, body = response.status, await response.read()
            except Exception as e:  # any failure is one error of its kind
                # A connection no replica took is asked again; a timeout is not (hubclient.py).
                if left and refused(e):
                    run.retried += 1
                    continue
                run.errors[type(e).__name__] += 1
                return
            if left and status in RELAYED_5XX and not from_service(body):
                # The proxy's own answer: no replica took it; a user server asks again.
                run.retried += 1
                continue
            break
        done = time.perf_counter()
        if status != expect:
            run.errors[f"HTTP {status}"] += 1
            return
        if expect == 200:
            try:
                answer = json.loads(body)
                subject = answer["claims"]["sub"]
                expires_at, left = float(answer["expires_at"]), float(answer["expires_in"])
            except (ValueError, KeyError, TypeError):
                run.errors["malformed answer"] += 1
                return
            if subject != user:
                run.errors["another user's token"] += 1
                return
            if self.expiries.see(user, expires_at, left, run):
                kind = REFRESHES
        run.answered(done - since, kind)

    @staticmethod
    async def ask_baseline(
        http: aiohttp.ClientSession, url: str, headers: dict[str, str], run: Run, since: float
    ) -> None:
        """One request to the baseline, with a server's token as the service gets it."""
        try:
            async with http.get(url, headers=headers) as response:
                status = response.status
                await response.read()
        except Exception as e:  # any failure is one error of its kind
            run.errors[type(e).__name__] += 1
            return
        if status != 200:
            run.errors[f"HTTP {status}"] += 1
            return
        run.answered(time.perf_counter() - since)

    async def open_loop(self, target: Target, run: HubRun, rate: float, seconds: float) -> None:
        """`rate` requests a second for `seconds`, each for a random user's token."""
        picks = [self.rng.choice(self.names) for _ in range(round(rate * seconds))]
        ask = partial(self.ask, target.url, 200)
        await load.open_loop(ask, picks, rate, run, OPEN_LOOP_CONNECTIONS)

    async def closed_loop(
        self,
        target: Target,
        run: HubRun,
        callers: int,
        seconds: float,
        users: Iterable[str] | None = None,
        expect: int = 200,
    ) -> None:
        """`callers` ask again as soon as they have an answer: for `seconds`, or for `users`."""
        if users is not None:
            next_pick = load.picks_from(users)
        else:
            next_pick = partial(self.rng.choice, self.names)
        ask = partial(self.ask, target.url, expect)
        await load.closed_loop(ask, next_pick, callers, seconds, run)


def run_processes() -> Processes:
    """This process and its children by their part in the run; the service's loop timed.

    Service processes after the first are "service 2", "service 3"... in the figures.
    """
    by_name: dict[str, psutil.Process] = {"load (this process)": psutil.Process()}
    services: list[psutil.Process] = []
    for child in psutil.Process().children(recursive=True):
        try:
            command = child.cmdline()
        except psutil.Error:
            continue
        line = " ".join(command)
        if "jupyter-nevis-auth-service" in line:
            services.append(child)
        elif str(SERVER_SCRIPT) in line:
            by_name["provider"] = child
        elif str(PROXY) in line or "configurable-http-proxy" in line:
            by_name["proxy"] = child
        elif "jupyterhub" in line and "-f" in command:
            by_name["hub"] = child
        elif str(NULL_SERVICE) in line:
            by_name["baseline"] = child
        elif replicas.BALANCER_MARK in line:
            by_name["balancer"] = child
    more = [f"service {n}" for n in range(2, len(services) + 1)]
    by_name.update(zip(["service", *more], services, strict=True))
    missing = set(PROCESS_ORDER) - set(by_name) - {"baseline", "balancer"}
    if missing:
        raise HubError(f"cannot find these processes of the run: {', '.join(sorted(missing))}")
    after = PROCESS_ORDER.index("service") + 1
    order = [*PROCESS_ORDER[:after], *more, *PROCESS_ORDER[after:]]
    ordered = {name: by_name[name] for name in order if name in by_name}
    return Processes(ordered, loop_of="service")


@contextmanager
def work_dir() -> Iterator[Path]:
    """A directory for the hub's and the service's files, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="bench-hub-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def create_servers(hub: ServiceHub, names: list[str]) -> dict[str, str]:
    """Create the hub users and, for each, a token of their (unspawned) default server."""
    with hub.browser("admin") as admin:
        admin.log_in()
        headers = {"Authorization": f"token {admin.api_token()}"}
    servers = {}
    with requests.Session() as http:
        http.headers.update(headers)
        for i in range(0, len(names), USER_BATCH):
            made = http.post(
                hub.url + "/hub/api/users",
                timeout=60,
                json={"usernames": names[i : i + USER_BATCH]},
            )
            if made.status_code != 201:
                raise HubError(f"creating users: {made.status_code} {made.text}")
        for name in names:
            # What JupyterHub gives a server of its own: its one server scope.
            body = {"scopes": [f"access:servers!server={name}/"], "note": "bench_hub server"}
            made = http.post(
                f"{hub.url}/hub/api/users/{name}/tokens", json=body, timeout=HTTP_TIMEOUT
            )
            if made.status_code != 201:
                raise HubError(f"creating {name}'s token: {made.status_code} {made.text}")
            servers[name] = made.json()["token"]
    return servers


class ServiceDatabase:
    """The service's own database, opened with its store key, as the service opens it."""

    def __init__(self, hub: ServiceHub, config: NevisAuth) -> None:
        # The replicas' PostgreSQL, else the one service's SQLite file.
        db_url = getattr(hub, "db_url", f"sqlite:///{hub.work_dir / 'nevis_auth_hub.sqlite'}")
        shared = not db_url.startswith("sqlite")
        self.store = SQLTokenStore(db_url, make_fernet(hub.store_key), shared=shared, parent=config)

    async def expiry(self, user: str) -> float | None:
        """When the access token kept for `user` expires (None: no refreshable token)."""
        tokens = await self.store.get(token_key(user))
        if tokens is None or not tokens.refresh_token:
            return None
        return tokens.expires_at

    def close(self) -> None:
        """Close its connections."""
        self.store.close()


async def sign_in_all(hub: ServiceHub, config: NevisAuth, names: list[str]) -> dict[str, float]:
    """Sign every user in, into the service's database; when each one's token expires."""
    database = ServiceDatabase(hub, config)
    service = AuthCore(config, database.store)
    limit = asyncio.Semaphore(SIGN_IN_CONCURRENCY)

    async def one(name: str) -> float:
        async with limit:
            await sign_in(service, name, hub.redirect_uri)
            expiry = await database.expiry(name)
            if expiry is None:
                raise HubError(f"{name}'s sign-in left no refreshable token")
            return expiry

    try:
        return dict(zip(names, await asyncio.gather(*(one(n) for n in names)), strict=True))
    finally:
        database.close()


async def stored_expiries(hub: ServiceHub, names: list[str], expiries: Expiries) -> HubRun:
    """Refreshes no answer showed (their callers gave up): new tokens in the database."""
    found = HubRun("found in the service's database afterwards")
    database = ServiceDatabase(hub, NevisAuth())
    try:
        for name in names:
            expiry = await database.expiry(name)
            if expiry is None:
                found.errors["signed out"] += 1
            else:
                expiries.see(name, expiry, None, found)
    finally:
        database.close()
    return found


def report(run: HubRun, users: int, processes: Processes) -> None:
    """Print one run's figures."""
    print(load.summary(run))
    if run.rate:
        print(load.lateness(run))
    if run.by_kind:
        print(load.kinds_line(run, (ONLY_SERVICE, ASKS_HUB, REFRESHES)))
    print(
        f"  provider refresh calls {run.refresh_calls}; new tokens answered {run.expiries} "
        f"({len(run.users_refreshed)} of {users} users), of them early {run.early}; "
        f"answers with a token due {run.stale}"
    )
    if run.retried:
        print(f"  asked a second time (no replica answered the first): {run.retried}")
    print(load.cpu_line(run, processes))
    if run.answers:
        # Every service process's: with replicas, each answer is one of theirs.
        used = sum(v for k, v in run.cpu.items() if k.startswith("service") and k != processes.loop)
        print(f"  service CPU per answer {used / run.answers * MS:.2f} ms")


def goal(text: str, ok: bool) -> bool:
    """Print one goal's line."""
    print(f"goal {text}: {'met' if ok else 'MISSED'}")
    return ok


class Bench:
    """The provider, the hub with its service, the users and their servers' requests."""

    def __init__(
        self,
        args: argparse.Namespace,
        provider: OIDCTestProvider,
        hub: ServiceHub,
        client: RegisteredClient,
    ) -> None:
        """The run on a started hub whose service's client at `provider` is `client`."""
        self.args = args
        self.provider = provider
        self.names = [f"bench{i:05d}" for i in range(args.users)]
        self.hub = hub
        self.client = client
        self.config = service_config(
            provider, client.client_id, client.client_secret, hub.redirect_uri
        )
        # The service's own refresh rules, from its own settings.
        self.expiries = Expiries(args.token_ttl, AuthCore(self.config, MemoryTokenStore()).tokens)
        self.proxy = Target("through the hub's proxy", self.hub.url + SERVICE + "api/token")
        self.direct = Target(
            "straight to the service", self.hub.service_url + SERVICE + "api/token"
        )
        self.baseline_port = free_port()
        self.baselines = {
            self.proxy.name: Target(self.proxy.name, self.hub.url + BASELINE_PREFIX + "api/token"),
            self.direct.name: Target(
                self.direct.name, f"http://127.0.0.1:{self.baseline_port}{BASELINE_PREFIX}api/token"
            ),
        }
        self.baseline_runs: dict[str, HubRun] = {}
        self.runs: list[HubRun] = []
        #: The provider's refresh calls (and those it refused) when everybody had signed in,
        #: and at the end.
        self.calls_signed_in = self.calls_at_end = (0, 0)
        self.load: TokenRequests
        self.processes: Processes

    @contextmanager
    def baseline(self) -> Iterator[None]:
        """The baseline process, behind the hub's proxy too (a route of its own)."""
        process = Process(
            "the baseline process",
            [sys.executable, str(NULL_SERVICE), str(self.baseline_port), str(BASELINE_BYTES)],
        )
        process.start()
        try:
            # The test hub's own proxy settings.
            api = self.hub._env["HUB_TEST_PROXY_API_URL"]
            token = self.hub._env["HUB_TEST_PROXY_TOKEN"]
            try:
                process.wait_for_url(self.baselines[self.direct.name].url, 30)
            except ProcessError:
                raise HubError("the baseline process did not start") from None
            added = requests.post(
                f"{api}/api/routes{BASELINE_PREFIX.rstrip('/')}",
                json={"target": f"http://127.0.0.1:{self.baseline_port}"},
                headers={"Authorization": f"token {token}"},
                timeout=HTTP_TIMEOUT,
            )
            if added.status_code != 201:
                raise HubError(f"the proxy did not take the baseline's route: {added.status_code}")
            yield
        finally:
            process.stop(30)

    async def baseline_loops(self) -> None:
        """The open loops at the baseline, through the proxy and straight."""
        for name, target in self.baselines.items():
            run = HubRun(f"baseline, open loop {name}")
            await self.measure(
                run, self.load.open_loop(target, run, self.args.rate, self.args.seconds)
            )
            report(run, len(self.names), self.processes)
            self.baseline_runs[name] = run

    def against_baseline(self, run: HubRun, target: Target) -> None:
        """Print a service run's latencies against the baseline's the same way."""
        base = self.baseline_runs.get(target.name)
        if base is None or not base.answers or not run.answers:
            return
        print(
            f"  against the baseline ({base.p(50) * MS:.1f}/{base.p(99) * MS:.1f} ms): "
            f"p50 {run.p(50) / base.p(50):.1f}x, p99 {run.p(99) / base.p(99):.1f}x; "
            f"over it: p50 +{(run.p(50) - base.p(50)) * MS:.1f} ms, "
            f"p99 +{(run.p(99) - base.p(99)) * MS:.1f} ms"
        )

    def refresh_calls(self) -> int:
        """Refresh requests the provider has seen from the service's client."""
        return self.provider.token_calls(self.client.client_id, "refresh_token")

    def refresh_counts(self) -> tuple[int, int]:
        """The refresh requests the provider has seen, and how many of them it refused."""
        counter = self.provider.stats(self.client.client_id)["token"].get("refresh_token", {})
        return int(counter.get("total", 0)), int(counter.get("error", 0))

    def reused_refresh_tokens(self) -> int:
        """Rotated refresh tokens the provider took again within its reuse grace period."""
        return int(self.provider.stats(self.client.client_id).get("refresh_reused", 0))

    async def quiet_refreshes(self) -> tuple[int, int]:
        """refresh_counts() once the provider has seen no refresh for QUIET_SECONDS."""
        counts = self.refresh_counts()
        while True:
            await asyncio.sleep(QUIET_SECONDS)
            now = self.refresh_counts()
            if now == counts:
                return counts
            counts = now

    async def measure(self, run: HubRun, work: Awaitable[None]) -> HubRun:
        """Run `work`, noting the provider's refresh calls and each process's CPU time."""
        calls, cpu = self.refresh_calls(), self.processes.cpu()
        await work
        after = self.processes.cpu()
        run.cpu = {name: after[name] - cpu[name] for name in cpu}
        run.refresh_calls = self.refresh_calls() - calls
        self.runs.append(run)
        return run

    async def every_server_once(self, run: HubRun, expect: int) -> None:
        """Each server asks once through the proxy and once directly, a few at a time."""
        for target in (self.proxy, self.direct):
            shuffled = random.Random(self.args.seed).sample(self.names, len(self.names))
            await self.load.closed_loop(
                target, run, WARM_UP_CALLERS, SETUP_TIMEOUT, shuffled, expect
            )

    async def setup(self) -> None:
        """Users and their servers' tokens, at the hub."""
        clock = time.perf_counter()
        servers = await asyncio.to_thread(create_servers, self.hub, self.names)
        print(
            f"{len(servers)} hub users and their server tokens created in "
            f"{time.perf_counter() - clock:.1f} s (hub REST API)"
        )
        self.load = TokenRequests(
            servers, self.expiries, self.args.hub_cache_seconds, self.args.seed
        )

    async def sign_in(self) -> None:
        """Every user signs in; timed."""
        clock = time.perf_counter()
        codes = self.provider.token_calls(self.client.client_id, "authorization_code")
        self.expiries.expires_at = await sign_in_all(self.hub, self.config, self.names)
        took = time.perf_counter() - clock
        codes = self.provider.token_calls(self.client.client_id, "authorization_code") - codes
        self.calls_signed_in = self.refresh_counts()
        print(
            f"{len(self.names)} sign-ins (provider login and consent forms, code exchange, "
            f"stored in the service's database): {took:.1f} s, {len(self.names) / took:.0f}/s, "
            f"{codes} code exchanges"
        )

    async def loops(self) -> None:
        """The open loops, after one that lets the service settle, then the closed loops."""
        args = self.args
        print(
            f"access tokens live {args.token_ttl} s; the service refreshes one "
            f"{self.expiries.leeway:g} s before it expires"
        )
        settle_seconds = max(SETTLE_SECONDS, args.hub_cache_seconds)
        settle = HubRun(f"settling, open loop {self.direct.name}")
        await self.measure(
            settle, self.load.open_loop(self.direct, settle, args.rate, settle_seconds)
        )
        report(settle, len(self.names), self.processes)
        for target in (self.proxy, self.direct):
            run = HubRun(f"open loop {target.name}")
            await self.measure(run, self.load.open_loop(target, run, args.rate, args.seconds))
            report(run, len(self.names), self.processes)
            self.against_baseline(run, target)
        seconds = min(args.seconds, CLOSED_LOOP_SECONDS)
        for target in (self.proxy, self.direct):
            run = HubRun(f"closed loop, {args.connections} callers, {target.name}")
            await self.measure(run, self.load.closed_loop(target, run, args.connections, seconds))
            report(run, len(self.names), self.processes)

    def goals(self, per_user: float) -> bool:
        """Print whether each goal is met; True when all are."""
        args, runs = self.args, self.runs
        met = True
        for run in runs:
            if not run.name.startswith("open loop"):
                continue
            base = self.baseline_runs[run.name.removeprefix("open loop ")]
            ok = (
                run.p(99) < GOAL_P99
                and run.p(99) <= GOAL_P99_RATIO * base.p(99)
                and not run.errors
                and run.answer_rate >= GOAL_RATE_SHARE * args.rate
            )
            met &= goal(
                f"p99 < {GOAL_P99 * MS:.0f} ms and at most {GOAL_P99_RATIO:g}x the baseline's "
                f"at {args.rate:g} req/s without errors, {run.name}: p99 "
                f"{run.p(99) * MS:.1f} ms ({run.p(99) / base.p(99):.1f}x of "
                f"{base.p(99) * MS:.1f} ms), {run.answer_rate:.0f} answers/s, "
                f"{sum(run.errors.values())} errors",
                ok,
            )
        # All of them since the sign-ins: a refresh started in the background near the end of
        # one run may end between two runs.
        calls = self.calls_at_end[0] - self.calls_signed_in[0]
        refused = self.calls_at_end[1] - self.calls_signed_in[1]
        new = sum(r.expiries for r in runs)
        early, stale = sum(r.early for r in runs), sum(r.stale for r in runs)
        unseen, lost = runs[-1].expiries, sum(runs[-1].errors.values())
        hidden = sum(r.unseen for r in runs)
        ok = new <= calls - refused <= new + hidden and new > 0 and early == stale == lost == 0
        met &= goal(
            f"one refresh per user per expiry: {calls} provider refresh calls "
            f"({refused} refused or failed there), {new} "
            f"new tokens ({unseen} of them only in the database afterwards; at most {hidden} "
            f"more replaced before any answer showed them), {early} "
            f"early, {stale} answers with a token due, {lost} users signed out",
            ok,
        )
        met &= goal(
            f"< {GOAL_BYTES_PER_USER // 1024} KiB per signed-in user: {per_user / 1024:.2f} KiB",
            per_user < GOAL_BYTES_PER_USER,
        )
        others = [r for r in runs[:-1] if not r.name.startswith("open loop")]
        errors = sum(sum(r.errors.values()) for r in others)
        met &= goal(f"no errors in the other runs: {errors}", errors == 0)
        return met

    async def kill_one(self, victim: Replica, result: Phase) -> None:
        """An open loop through the proxy in which `victim` is killed halfway; then each grant.

        Requests no replica answered are asked once more, as user servers do. After the
        dead replica's lease, every user's refresh is forced once: a grant lost in the kill
        (its rotated refresh token died with the process) is refused there.
        """
        args = self.args
        half = args.seconds / 2
        run = HubRun(f"open loop {self.proxy.name}, a replica killed (SIGKILL) after {half:g} s")
        refused, reused = self.refresh_counts()[1], self.reused_refresh_tokens()
        self.load.retry_once = True
        assert victim.process is not None
        killer = asyncio.get_running_loop().call_later(
            half + load.START_DELAY, victim.process.send_signal, signal.SIGKILL
        )
        try:
            await self.measure(run, self.load.open_loop(self.proxy, run, args.rate, args.seconds))
        finally:
            killer.cancel()
        report(run, len(self.names), self.processes)
        self.against_baseline(run, self.proxy)
        await asyncio.sleep(replicas.DEFAULTS["lease_seconds"] + SLACK)
        grants = HubRun("every user's refresh forced once, after the dead replica's lease")
        forced = Target(self.proxy.name, self.proxy.url + "?force_refresh=1")
        await self.load.closed_loop(
            forced, grants, WARM_UP_CALLERS, SETUP_TIMEOUT, list(self.names)
        )
        print(load.summary(grants))
        refused = self.refresh_counts()[1] - refused
        if self.args.reuse_grace:
            print(
                f"  used-up refresh tokens the provider took again within its grace period: "
                f"{self.reused_refresh_tokens() - reused} (refreshes under way at the killed "
                "replica, redone; a provider without one ends those grants)"
            )
        result.killed, result.grants = run, grants
        result.lost = grants.errors["HTTP 401"]
        result.met &= goal(
            f"no request failed after the retry with a replica killed: "
            f"{sum(run.errors.values())} failed, {run.retried} asked again",
            not run.errors,
        )
        result.met &= goal(
            f"no grant lost with a replica killed: {result.lost} users signed out, "
            f"{refused} refreshes refused by the provider",
            result.lost == refused == 0 and grants.answers == len(self.names),
        )


def write_service_config(args: argparse.Namespace, work: Path, shared: bool) -> None:
    """The service's config file in its working directory; it wins over its environment."""
    config = f"c.NevisAuthHub.hub_cache_seconds = {args.hub_cache_seconds}\n"
    if shared:
        config += replicas.replica_config()
    if args.profile:
        config += PROFILE.format(path=str(Path(args.profile).resolve()))
    (work / "nevis_auth_hub_config.py").write_text(config, encoding="utf-8")


@dataclass
class Phase:
    """One setup's runs: the service as one process on SQLite, or as replicas."""

    name: str
    bench: Bench
    met: bool
    #: With replicas: the open loop in which one was killed, and every grant's check after.
    killed: HubRun | None = None
    grants: HubRun | None = None
    lost: int = 0


async def phase(
    args: argparse.Namespace, provider: OIDCTestProvider, count: int, clock: float
) -> Phase:
    """Every run on one setup: the service as one process (`count` 0) or `count` replicas."""
    options: dict[str, object] = {"access_token_ttl": args.token_ttl}
    if args.replicas:
        # Both setups alike: a refresh token works once, as the replica tests' provider.
        options["rotate_refresh_token"] = True
        if args.reuse_grace:
            options["refresh_reuse_grace"] = args.reuse_grace
    name = f"{count} replicas on PostgreSQL" if count else "one process on SQLite"
    print(f"\n=== the service as {name} ===")
    with work_dir() as work, ExitStack() as stack:
        write_service_config(args, work, shared=bool(count))
        if count:
            hub, client, _ = stack.enter_context(
                replicas.running_replicas(
                    provider, work, count, options, shared_port=not args.balancer
                )
            )
        else:
            spec = HubSpec(kind="service", client_options=options)
            hub, client = stack.enter_context(running_hub(spec, provider, work))
        bench = Bench(args, provider, hub, client)
        stack.enter_context(bench.baseline())
        bench.processes = processes = run_processes()
        if not args.same_priority:
            for stand_in in ("provider", "hub"):
                processes.by_name[stand_in].nice(STAND_IN_NICE)
        rss_start = await processes.rss("service")
        took = time.perf_counter() - clock
        print(
            f"hub with the service up in {took:.1f} s; the service keeps "
            f"JupyterHub's answers {args.hub_cache_seconds} s"
        )
        print(
            "the provider and the hub run at the same CPU priority as the rest"
            if args.same_priority
            else f"the provider and the hub run at nice {STAND_IN_NICE} (stand-ins for "
            "machines of their own; --same-priority: not)"
        )
        await bench.setup()
        # As the service does: what the start made is not the collector's to walk again,
        # so this process's own pauses do not count against the figures.
        gc.collect()
        gc.freeze()
        await bench.baseline_loops()

        warm = HubRun("every server once each way, nobody signed in (401)")
        await bench.measure(warm, bench.every_server_once(warm, 401))
        rss_none = await processes.rss("service")
        report(warm, args.users, processes)

        await bench.sign_in()
        if count:
            # What a replica read before the sign-ins (nobody signed in) it trusts that long.
            await asyncio.sleep(replicas.DEFAULTS["replica_cache_seconds"])
        signed = HubRun("every server once each way, everybody signed in")
        await bench.measure(signed, bench.every_server_once(signed, 200))
        rss_all = await processes.rss("service")
        report(signed, args.users, processes)

        await bench.loops()
        rss_after = await processes.rss("service")
        # Refreshes started in the background by the last requests end in the database.
        bench.calls_at_end = await bench.quiet_refreshes()
        bench.runs.append(await stored_expiries(bench.hub, bench.names, bench.expiries))
        per_user = (rss_all - rss_none) / args.users
        print(
            f"service RSS: {rss_start / MIB:.1f} MiB at start; {rss_none / MIB:.1f} MiB after "
            f"every server asked with nobody signed in, {rss_all / MIB:.1f} MiB after the same "
            f"with all {args.users} signed in: {per_user / 1024:.2f} KiB per signed-in user; "
            f"{rss_after / MIB:.1f} MiB after the loops "
            f"({(rss_after - rss_none) / args.users / 1024:.2f} KiB per user)"
        )
        result = Phase(name, bench, bench.goals(per_user))
        if count:
            await bench.kill_one(hub.replicas[-1], result)
    return result


def ratio(run: HubRun | None, base: HubRun | None) -> str:
    """A run's p99 in ms, with its ratio to the baseline's p99 of the same run."""
    if run is None or not run.answers:
        return "-"
    if base is None or not base.answers:
        return f"{run.p(99) * MS:.1f}"
    return f"{run.p(99) * MS:.1f} ({run.p(99) / base.p(99):.1f}x)"


def side_by_side(phases: list[Phase]) -> None:
    """The setups' figures in columns: p99 against the baseline's, errors, refreshes."""
    rows: dict[str, list[str]] = {}
    for ph in phases:
        bench = ph.bench
        by_name = {r.name: r for r in bench.runs}
        # The goal's count: the killed replica's run has its own line.
        new = sum(r.expiries for r in bench.runs if r is not ph.killed)
        hidden = sum(r.unseen for r in bench.runs if r is not ph.killed)
        calls = bench.calls_at_end[0] - bench.calls_signed_in[0]
        refused = bench.calls_at_end[1] - bench.calls_signed_in[1]
        for target in (bench.proxy, bench.direct):
            run, base = by_name.get(f"open loop {target.name}"), bench.baseline_runs[target.name]
            rows.setdefault(f"p99 ms {target.name} (x baseline)", []).append(ratio(run, base))
            rows.setdefault(f"baseline p99 ms {target.name}", []).append(ratio(base, None))
            late = (run.late if run else []) + base.late
            lag = max(run.lag if run else 0.0, base.lag)
            rows.setdefault(f"client late p99 / at most, ms, {target.name}", []).append(
                f"{percentile(late, 99) * MS:.1f} / {lag * MS:.1f}" if late else "-"
            )
            errors = sum(run.errors.values()) if run else 0
            rows.setdefault(f"errors {target.name}", []).append(str(errors))
        rows.setdefault("refreshes at the provider / new tokens", []).append(
            f"{calls - refused} / {new} (+ at most {hidden} never shown; {refused} refused)"
        )
        killed = ph.killed
        rows.setdefault("one killed: p99 ms through the proxy", []).append(
            ratio(killed, bench.baseline_runs[bench.proxy.name])
        )
        rows.setdefault("one killed: failed after the retry (retried)", []).append(
            f"{sum(killed.errors.values())} ({killed.retried})" if killed else "-"
        )
        rows.setdefault("one killed: grants lost", []).append(str(ph.lost) if ph.grants else "-")
    width = max(map(len, rows)) + 2
    print("\n" + "".ljust(width) + "".join(ph.name.ljust(32) for ph in phases))
    for label, cells in rows.items():
        print(label.ljust(width) + "".join(cell.ljust(32) for cell in cells))


async def run(args: argparse.Namespace) -> int:
    """Run the benchmark; the exit status says whether every goal was met."""
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start")
    phases = []
    with OIDCTestProvider() as provider:
        counts = [0, args.replicas] if args.replicas else [0]
        for count in counts[1:] if args.replicas_only else counts:
            phases.append(await phase(args, provider, count, time.perf_counter()))
    if args.profile:
        print(f"\nthe service's profile ({args.profile}), by own time:")
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(25)
    if len(phases) > 1:
        side_by_side(phases)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0 if all(ph.met for ph in phases) else 1


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=None, help="default 1000 (--short: 100)")
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument(
        "--seconds", type=float, default=None, help="of each open loop (default 20; --short: 6)"
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=0,
        help="then the same runs with this many service processes on PostgreSQL, one killed "
        "at the end, beside the single process's figures (default 0: the single process only)",
    )
    parser.add_argument(
        "--replicas-only",
        action="store_true",
        help="with --replicas: the replicas' runs alone, without the single process's",
    )
    parser.add_argument(
        "--balancer",
        action="store_true",
        help="with --replicas: the replicas on ports of their own behind a balancer process "
        "(tests/support/balancer.py), instead of on one port (NevisAuthHub.reuse_port)",
    )
    parser.add_argument(
        "--short",
        action="store_true",
        help="a quick check, not the figures: 100 users and 6 s loops unless given",
    )
    parser.add_argument("--connections", type=int, default=16, help="closed-loop callers")
    parser.add_argument(
        "--token-ttl",
        type=int,
        default=None,
        help="seconds an access token lives (default: twice --seconds, 10 to 60)",
    )
    parser.add_argument(
        "--hub-cache-seconds",
        type=int,
        default=NevisAuthHub.class_traits()["hub_cache_seconds"].default_value,
        help="seconds the service keeps JupyterHub's answer about a token (default: its own)",
    )
    parser.add_argument(
        "--same-priority",
        action="store_true",
        help=f"run the provider and the hub at the same CPU priority as the rest (default: "
        f"nice {STAND_IN_NICE}, as stand-ins for machines of their own)",
    )
    parser.add_argument(
        "--reuse-grace",
        type=float,
        default=0.0,
        help="with --replicas: seconds in which the provider takes a rotated refresh token "
        "again (default 0: its reuse ends the grant, as oidc-provider's)",
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--profile", help="write the service's cProfile statistics here")
    args = parser.parse_args()
    if args.users is None:
        args.users = 100 if args.short else 1000
    if args.seconds is None:
        args.seconds = 6.0 if args.short else 20.0
    if args.token_ttl is None:
        # Due once per open loop: every user's token comes due about once in each.
        args.token_ttl = max(10, min(60, round(2 * args.seconds)))
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
