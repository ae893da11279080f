"""Faults, one at a time, under the hub service on PostgreSQL: is any user's grant lost?

Runs the hub mode of docs/jupyterhub.md ("Sign in once with an OAuthenticator") for real,
on loopback only: the test provider (tests/provider) with refresh-token rotation and
access tokens of --token-ttl seconds (30 by default); PostgreSQL (Debian's, a throwaway
cluster) as the service's database through NEVIS_AUTH_HUB_DB_URL; a JupyterHub whose
GenericOAuthenticator keeps auth_state and whose `nevis-auth` service
(jupyter-nevis-auth-service) takes the users' sign-ins over from it (tests/hub/oauth_config.py,
with JupyterHub's answers about server tokens kept the service's default 60 s, and the
hub's auth_refresh_age JupyterHub's default 300 s). Four users sign in at the hub (the
provider's login and consent forms) and start a server each, in hub mode, with a kernel.
This process then sends --rate requests a second in all (16 by default), the users in turn,
each on time whatever the answers do: three in four as their kernels send them, to the
server's nevis/api/token with the kernel's secret (the server asks the service's api/token
with its own JupyterHub token); one in four as their servers send them, straight to the
service's api/token with the server's token.

After a baseline without faults, these faults, one at a time; after each, the run waits
until every user is served again, asks a forced refresh for each user through their kernel
(their grant is kept when it answers a new token), and lets the load run --settle seconds
more before the next:

- postgres: PostgreSQL stopped (immediate shutdown) for 20 s, then started;
- frozen: the provider's process stopped (SIGSTOP) for 25 s, then continued (SIGCONT);
- slow: the provider's token answers held back past the service's http_timeout (after the
  provider acted on them, rotating the refresh token) for 25 s;
- refused: the provider stopped (SIGTERM, its state saved) and started again on the same
  port 12 s later: connections are refused meanwhile;
- kill: the service killed (SIGKILL); JupyterHub notices and starts it again.

Prints for each, each way: the requests failed (by status and error, with one message of
each kind, and how many ended while the user's token was still valid), the slowest failing
answer, the answers' latency against the baseline's; how long after the fault ended every
user was served again (and the longest a user went unserved against the fault's length),
each user's forced refresh, grants lost, the service's warnings and errors meanwhile, and
the CPU of the run and of the processes outside it (the machine may be shared). At the
end: whether the provider refused any refresh (with rotation, a refresh token used twice
ends its grant) and whether a secret (a kernel secret, a server's token, a token from
auth_state or answered to a kernel, the client secret, the store key) is in the log of the
hub, its proxy, the service and the servers, or in PostgreSQL's.

Goals: no grant lost, no refresh refused by the provider, no secret in a log. Exits 1 when
one is missed.

    python benchmarks/faults.py [--token-ttl 30] [--rate 16] [--settle 15] [--faults kill,...]
                                [--auth-refresh-age 300] [--log FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
# The provider's, PostgreSQL's and the hub's drivers live in the test suite, not installed.
sys.path.insert(0, str(ROOT))

from benchmarks.faults_hub import (  # noqa: E402
    SERVER,
    USERS,
    CpuSampler,
    Kernel,
    faults_hub,
    service_answers,
    service_process,
    start_kernel,
)
from benchmarks.support import percentile  # noqa: E402
from jupyter_nevis_auth.core.config import NevisAuth  # noqa: E402
from jupyter_nevis_auth.kernel.client import DEFAULT_TIMEOUT  # noqa: E402
from jupyter_nevis_auth.protocol import FORCE_REFRESH_PARAM, secret_header  # noqa: E402
from tests.hub.harness import HubError  # noqa: E402
from tests.hub.service_harness import SERVICE, OAuthHub, hub_login  # noqa: E402
from tests.support.hub import running_hub  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402
from tests.support.provider import OIDCTestProvider, RegisteredClient  # noqa: E402

FAULT_NAMES = ["postgres", "frozen", "slow", "refused", "kill"]
HTTP_TIMEOUT_DEFAULT = float(NevisAuth.class_traits()["http_timeout"].default_value)
#: Seconds a fault may take to be recovered from before its users count as not served again.
RECOVERY_TIMEOUT = 120.0
#: Forced refreshes tried per user after a fault; the service takes one per 10 s at most.
FORCED_TRIES = 3
FORCED_INTERVAL = 11.0
BASELINE_SECONDS = 20.0
#: The whole run stops its load after this long, whatever happens.
MAX_RUN_SECONDS = 1200.0
#: Requests under way at most: all those of DEFAULT_TIMEOUT seconds at --rate 16.
MAX_IN_FLIGHT = 512
MS = 1000
LOG_LINES_SHOWN = 8
#: A warning, an error or a critical line of the hub, the service or a server.
NOTABLE = re.compile(r"^\[[WEC] |Traceback \(most recent call last\)")
STAMP = re.compile(r"^\[(\w) [\d\- :.]+ ")
#: What differs between lines of one kind: request times, and the users' names.
DURATION = re.compile(r"\b\d+(\.\d+)?ms\b")
NAMES = re.compile(r"\b(" + "|".join(USERS) + r")\b")
#: Which way a request went: a kernel's through its server, or a server's own to the service.
KERNEL = "kernels, through their servers"
SERVER_OWN = "servers, straight at the service"
#: Of every round of the users' requests, one in this many is a server's own.
SERVER_SHARE = 4


@dataclass
class Answer:
    """What a kernel's request got."""

    user: str
    sent: float
    done: float
    #: "200", or the status and error name, or what went wrong in transport.
    outcome: str
    way: str = KERNEL
    expires_at: float | None = None
    access_token: str = ""

    @property
    def ok(self) -> bool:
        """Whether the kernel got a token."""
        return self.outcome == "200"

    @property
    def latency(self) -> float:
        """Seconds from when it was due to be sent until the answer (or failure)."""
        return self.done - self.sent


@dataclass
class Fault:
    """One fault: what it does, and how it went."""

    name: str
    text: str
    inject: Callable[[], Awaitable[None]]
    start: float = 0.0
    end: float = 0.0
    checked: float = 0.0
    lost: dict[str, str] = field(default_factory=dict)
    forced: dict[str, str] = field(default_factory=dict)
    log: str = ""


class Faults:
    """The provider, PostgreSQL, the hub and its service, the users' kernels, and the faults."""

    def __init__(
        self,
        args: argparse.Namespace,
        provider: OIDCTestProvider,
        postgres: PostgresServer,
        hub: OAuthHub,
        client: RegisteredClient,
    ) -> None:
        self.args = args
        self.provider = provider
        self.postgres = postgres
        self.hub = hub
        self.client = client
        self.kernels: dict[str, Kernel] = {}
        self.answers: list[Answer] = []
        #: One message for each kind of failure, each way.
        self.messages: dict[tuple[str, str], str] = {}
        #: Every secret of the run by kind, to look for in the logs at the end.
        self.secrets: dict[str, set[str]] = {
            "kernel secret": set(),
            "server token": set(),
            "auth_state token": set(),
            "access token answered": set(),
            "client secret": {self.client.client_secret},
            "store key": {self.hub.store_key},
        }
        self.cpu = CpuSampler(postgres)
        self.refreshes_at_start = (0, 0)
        self.stopping = asyncio.Event()
        #: time.time() less time.perf_counter(): the answers' times on the clock of expires_at.
        self.wall_offset = time.time() - time.perf_counter()
        self.http: aiohttp.ClientSession

    # ------------------------------------------------------------------ setting up

    def sign_in_users(self) -> None:
        """Each user signs in at the hub, starts a server in hub mode and a kernel there."""
        for name in USERS:
            with self.hub.browser(name) as browser:
                hub_login(self.hub, browser)
                kernel = start_kernel(self.hub, browser, browser.start_server(SERVER))
            self.kernels[name] = kernel
            self.secrets["kernel secret"].add(kernel.secret)
            self.secrets["server token"].add(kernel.server_token)
        self.note_auth_state()

    def note_auth_state(self) -> None:
        """Keep the tokens the hub holds in each user's auth_state, to look for in the logs."""
        for name in USERS:
            state = self.hub.auth_state(name) or {}
            for key in ("access_token", "refresh_token", "id_token"):
                if state.get(key):
                    self.secrets["auth_state token"].add(state[key])

    def refresh_counts(self) -> tuple[int, int]:
        """The refreshes the provider answered, and those it refused."""
        counter = self.provider.stats(self.client.client_id)["token"].get("refresh_token", {})
        return int(counter.get("ok", 0)), int(counter.get("error", 0))

    # ------------------------------------------------------------------ the kernels' load

    async def ask(
        self, kernel: Kernel, sent: float, way: str = KERNEL, force: bool = False
    ) -> Answer:
        """One request for the user's token: its kernel's to its server, or its server's own."""
        params = {FORCE_REFRESH_PARAM: "1"} if force else {}
        if way == KERNEL:
            url, headers = kernel.url, secret_header(kernel.secret)
        else:
            url = self.hub.service_url + SERVICE + "api/token"
            headers = {"Authorization": f"token {kernel.server_token}"}
        try:
            async with self.http.get(url, params=params, headers=headers) as response:
                status, body = response.status, await response.read()
        except asyncio.TimeoutError:
            late = f"no answer within {DEFAULT_TIMEOUT:g} s"
            return Answer(kernel.user, sent, time.perf_counter(), late, way)
        except aiohttp.ClientError as e:
            return Answer(kernel.user, sent, time.perf_counter(), type(e).__name__, way)
        done = time.perf_counter()
        try:
            data = json.loads(body)
        except ValueError:
            data = {}
        if status != 200:
            outcome = f"{status} {data.get('error', '(no JSON)')}"
            self.messages.setdefault((way, outcome), str(data.get("message", body[:200])))
            return Answer(kernel.user, sent, done, outcome, way)
        token = str(data.get("access_token", ""))
        self.secrets["access token answered"].add(token)
        return Answer(kernel.user, sent, done, "200", way, float(data["expires_at"]), token)

    async def load(self) -> None:
        """--rate requests a second, the users in turn, until stopped (or MAX_RUN_SECONDS).

        In every SERVER_SHARE rounds of the users, one is their servers' own requests.
        """
        pending: set[asyncio.Future[None]] = set()
        names = list(USERS)
        start = time.perf_counter()
        i = 0
        while not self.stopping.is_set() and time.perf_counter() - start < MAX_RUN_SECONDS:
            due = start + i / self.args.rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            kernel = self.kernels[names[i % len(names)]]
            way = SERVER_OWN if (i // len(names)) % SERVER_SHARE == 0 else KERNEL

            async def one(kernel: Kernel = kernel, due: float = due, way: str = way) -> None:
                self.answers.append(await self.ask(kernel, due, way))

            task = asyncio.ensure_future(one())
            pending.add(task)
            task.add_done_callback(pending.discard)
            i += 1
        if pending:
            await asyncio.wait(pending, timeout=DEFAULT_TIMEOUT + 5)

    def window(self, start: float, end: float) -> list[Answer]:
        """The answers to the requests due from `start` to `end`."""
        return [a for a in self.answers if start <= a.sent < end]

    # ------------------------------------------------------------------ the faults

    async def postgres_down(self) -> None:
        """PostgreSQL stopped for 20 s, then started."""
        await asyncio.to_thread(self.postgres.stop)
        await asyncio.sleep(20)
        await asyncio.to_thread(self.postgres.start)

    async def provider_frozen(self) -> None:
        """The provider stopped by SIGSTOP for 25 s, then continued."""
        process = self.provider._process
        assert process is not None
        process.send_signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(25)
        finally:
            process.send_signal(signal.SIGCONT)

    async def provider_slow(self) -> None:
        """The provider's token answers held back past http_timeout for 25 s."""
        held = self.http_timeout + 2
        await asyncio.to_thread(self.provider.delay_token_answers, self.client.client_id, held)
        try:
            await asyncio.sleep(25)
        finally:
            await asyncio.to_thread(self.provider.delay_token_answers, self.client.client_id, 0)

    async def provider_refusing(self) -> None:
        """The provider stopped and started again on the same port 12 s later."""
        await asyncio.to_thread(self.provider.stop)
        await asyncio.sleep(12)
        await asyncio.to_thread(self.provider.start)

    async def service_killed(self) -> None:
        """The service killed by SIGKILL; over when JupyterHub has it answering again."""
        killed = service_process(self.hub)
        killed.kill()
        deadline = time.monotonic() + RECOVERY_TIMEOUT
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            try:
                pid = (await asyncio.to_thread(service_process, self.hub)).pid
            except HubError:
                continue
            if pid != killed.pid and await asyncio.to_thread(service_answers, self.hub):
                return
        raise HubError("JupyterHub did not start the killed service again")

    @property
    def http_timeout(self) -> float:
        """The service's http_timeout: its callers wait that long for a refresh."""
        return HTTP_TIMEOUT_DEFAULT

    def faults(self) -> list[Fault]:
        """Every fault, in order; --faults chooses some."""
        held = self.http_timeout + 2
        every = [
            Fault("postgres", "PostgreSQL stopped for 20 s, then started", self.postgres_down),
            Fault(
                "frozen",
                "the provider frozen (SIGSTOP) for 25 s, then continued (SIGCONT)",
                self.provider_frozen,
            ),
            Fault(
                "slow",
                f"the provider's token answers held back {held:g} s (past "
                f"http_timeout, {self.http_timeout:g} s) for 25 s",
                self.provider_slow,
            ),
            Fault(
                "refused",
                "the provider stopped, refusing connections, and started again on "
                "the same port 12 s later",
                self.provider_refusing,
            ),
            Fault(
                "kill",
                "the service killed (SIGKILL); JupyterHub starts it again",
                self.service_killed,
            ),
        ]
        chosen = self.args.faults.split(",") if self.args.faults else FAULT_NAMES
        return [f for f in every if f.name in chosen]

    async def run_fault(self, fault: Fault) -> None:
        """Inject the fault, wait until every user is served again, check every grant."""
        logged = len(self.hub.log())
        fault.start = time.perf_counter()
        await fault.inject()
        fault.end = time.perf_counter()
        await self.served_again(fault.end)
        await self.check_grants(fault)
        fault.checked = time.perf_counter()
        fault.log = self.hub.log()[logged:]
        await asyncio.sleep(self.args.settle)

    async def served_again(self, since: float) -> None:
        """Wait until every user got a token for a request sent after `since` (bounded)."""
        deadline = time.perf_counter() + RECOVERY_TIMEOUT
        while time.perf_counter() < deadline:
            served = {a.user for a in self.answers if a.ok and a.sent >= since}
            if served == set(USERS):
                return
            await asyncio.sleep(0.5)

    async def check_grants(self, fault: Fault) -> None:
        """Each user's next forced refresh, asked by their kernel."""

        async def forced(name: str) -> None:
            before = self.last_token(name)
            for attempt in range(FORCED_TRIES):
                if attempt:
                    await asyncio.sleep(FORCED_INTERVAL)
                answer = await self.ask(self.kernels[name], time.perf_counter(), force=True)
                if answer.ok and answer.access_token != before:
                    fault.forced[name] = "new token" + (f" (try {attempt + 1})" if attempt else "")
                    return
                fault.forced[name] = "same token" if answer.ok else answer.outcome
                if answer.outcome.startswith(("401", "403")):
                    break
            fault.lost[name] = f"forced refresh: {fault.forced[name]}"

        await asyncio.gather(*(forced(name) for name in USERS))
        await asyncio.to_thread(self.note_auth_state)

    def still_valid(self, failed: Answer) -> bool:
        """Whether the user's last token answered before `failed` was sent was valid at its end.

        Such a failure could have been the still-valid token instead.
        """
        last = max(
            (a for a in self.answers if a.user == failed.user and a.ok and a.done < failed.sent),
            key=lambda a: a.done,
            default=None,
        )
        wall = failed.done + self.wall_offset
        return last is not None and last.expires_at is not None and last.expires_at > wall

    def last_token(self, name: str) -> str:
        """The access token last answered to `name`'s kernel."""
        return next((a.access_token for a in reversed(self.answers) if a.user == name and a.ok), "")

    # ------------------------------------------------------------------ the figures

    def report_window(self, answers: list[Answer], baseline: list[Answer] | None) -> None:
        """Print the requests' outcomes and latencies, each way."""
        for way in (KERNEL, SERVER_OWN):
            mine = [a for a in answers if a.way == way]
            failed = [a for a in mine if not a.ok]
            kinds = Counter(a.outcome for a in failed)
            text = ", ".join(f"{kind} {n}" for kind, n in kinds.most_common())
            print(
                f"  {way}: {len(mine)} requests, {len(failed)} failed"
                + (f": {text}" if text else "")
            )
            for kind in kinds:
                if (way, kind) in self.messages:
                    print(f"    {kind}: {self.messages[way, kind]!r}")
            if failed:
                valid = sum(self.still_valid(a) for a in failed)
                slowest = max(failed, key=lambda a: a.latency)
                print(
                    f"    {valid} of them ended while the user's last token answered was still "
                    f"valid; slowest failing answer {slowest.latency:.2f} s "
                    f"({slowest.outcome})"
                )
            good = [a.latency for a in mine if a.ok]
            if not good:
                continue
            line = (
                f"    tokens answered: p50 {percentile(good, 50) * MS:.0f} ms, "
                f"p99 {percentile(good, 99) * MS:.0f} ms, max {max(good) * MS:.0f} ms"
            )
            base = [a.latency for a in baseline or [] if a.ok and a.way == way]
            if base:
                line += f" (p99 {percentile(good, 99) / percentile(base, 99):.1f}x the baseline's)"
            print(line)
        http500 = sum(a.outcome.startswith("500") for a in answers)
        print(f"  500 answers: {http500}")

    def report_fault(self, number: int, total: int, fault: Fault, baseline: list[Answer]) -> None:
        """Print one fault's figures."""
        length = fault.end - fault.start
        print(
            f"\nfault {number}/{total} ({fault.name}): {fault.text}; {length:.1f} s "
            f"from start to end"
        )
        answers = self.window(fault.start, fault.checked)
        self.report_window(answers, baseline)
        again, unserved = self.recovery(answers, fault)
        if again is None:
            print("  every user served throughout")
        else:
            after = again - fault.end
            when = (
                f"{after:.1f} s after the fault ended"
                if after >= 0
                else (f"{-after:.1f} s before the fault ended")
            )
            print(
                f"  every user served again {when} ({again - fault.start:.1f} s after it began"
                f", {(again - fault.start) / length:.2f}x its length); a user went unserved "
                f"{unserved:.1f} s at most ({unserved / length:.2f}x)"
            )
        forced = ", ".join(f"{name} {outcome}" for name, outcome in fault.forced.items())
        print(f"  forced refresh after it: {forced}")
        lost = "; ".join(f"{name}: {why}" for name, why in fault.lost.items())
        print(f"  grants lost: {len(fault.lost)}" + (f" ({lost})" if lost else ""))
        self.report_log(fault.log)
        print("  " + self.cpu.between(fault.start, fault.checked))

    @staticmethod
    def recovery(answers: list[Answer], fault: Fault) -> tuple[float | None, float]:
        """When every user was served again after their last failure, and the longest outage."""
        again: float | None = None
        longest = 0.0
        for name in USERS:
            mine = sorted((a for a in answers if a.user == name), key=lambda a: a.sent)
            failures = [a for a in mine if not a.ok]
            if not failures:
                continue
            last = failures[-1]
            served = next((a.done for a in mine if a.ok and a.sent > last.sent), fault.checked)
            again = served if again is None else max(again, served)
            # From the first request that failed to the answer that came again.
            longest = max(longest, served - failures[0].sent)
        return again, longest

    def report_log(self, log: str) -> None:
        """The warnings and errors in the hub's log during the fault, each kind once."""
        seen: Counter[str] = Counter()
        for line in log.splitlines():
            if NOTABLE.search(line):
                line = STAMP.sub(r"[\1 ", self.redacted(line))
                seen[NAMES.sub("<user>", DURATION.sub("<n>ms", line))[:220]] += 1
        tracebacks = sum(n for line, n in seen.items() if line.startswith("Traceback"))
        print(
            f"  the log meanwhile: {sum(seen.values())} warnings and errors, {tracebacks} "
            "tracebacks"
        )
        for line, n in list(seen.items())[:LOG_LINES_SHOWN]:
            print(f"    {n}x {line}")
        if len(seen) > LOG_LINES_SHOWN:
            print(f"    ... and {len(seen) - LOG_LINES_SHOWN} other lines")

    def redacted(self, text: str) -> str:
        """`text` without any of the run's secrets."""
        for kind, values in self.secrets.items():
            for value in values:
                if value:
                    text = text.replace(value, f"[{kind}]")
        return text

    def secrets_in_logs(self) -> dict[str, int]:
        """How many of each kind of secret appear in the logs."""
        logs = self.hub.log()
        try:
            logs += (self.postgres.data / "log").read_text(errors="replace")
        except OSError:
            pass
        return {
            kind: sum(1 for v in values if v and v in logs) for kind, values in self.secrets.items()
        }


def goal(text: str, ok: bool) -> bool:
    """Print one goal's line."""
    print(f"goal {text}: {'met' if ok else 'MISSED'}")
    return ok


async def run(args: argparse.Namespace) -> int:
    """Set everything up, run the faults, print the figures; 0 when every goal is met."""
    clock = time.perf_counter()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start")
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp, ExitStack() as stack:
        postgres = PostgresServer()
        stack.callback(postgres.remove)
        postgres.start()
        provider = stack.enter_context(OIDCTestProvider())
        spec = faults_hub(postgres.url, args.token_ttl, args.auth_refresh_age)
        hub, client = stack.enter_context(running_hub(spec, provider, Path(tmp)))
        faults = Faults(args, provider, postgres, hub, client)
        chosen = faults.faults()
        await asyncio.to_thread(faults.sign_in_users)
        print(
            f"provider, PostgreSQL, hub, service, {len(USERS)} users signed in at the hub "
            f"with a server and a kernel each: {time.perf_counter() - clock:.0f} s"
        )
        print(
            f"access tokens live {args.token_ttl} s (refresh-token rotation on); the kernels "
            f"ask {args.rate:g} times a second in all; the service's http_timeout is "
            f"{faults.http_timeout:g} s"
        )
        timeout = aiohttp.ClientTimeout(total=DEFAULT_TIMEOUT)
        # Kernels each wait for their own answer: none waits for another's connection here.
        connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as faults.http:
            sampler = asyncio.ensure_future(faults.cpu.run())
            load = asyncio.ensure_future(faults.load())
            try:
                faults.refreshes_at_start = await asyncio.to_thread(faults.refresh_counts)
                started = time.perf_counter()
                await asyncio.sleep(BASELINE_SECONDS)
                baseline = faults.window(started, time.perf_counter())
                print(f"\nbaseline, no fault, {BASELINE_SECONDS:g} s:")
                faults.report_window(baseline, None)
                print("  " + faults.cpu.between(started, time.perf_counter()))
                for number, fault in enumerate(chosen, 1):
                    await faults.run_fault(fault)
                    faults.report_fault(number, len(chosen), fault, baseline)
            finally:
                faults.stopping.set()
                await load
                sampler.cancel()
        refreshed, refused = await asyncio.to_thread(faults.refresh_counts)
        leaked = faults.secrets_in_logs()
        if args.log:
            Path(args.log).write_text(faults.redacted(faults.hub.log()), encoding="utf-8")
    answered = refreshed - faults.refreshes_at_start[0]
    errors = refused - faults.refreshes_at_start[1]
    lost = sum(len(f.lost) for f in chosen)
    print(
        f"\nprovider: {answered + errors} refresh requests under the load, {errors} refused "
        f"(with rotation, a refresh token used twice is refused and ends its grant)"
    )
    print(
        "secrets in the logs (hub, proxy, service, servers, PostgreSQL): "
        + ", ".join(f"{kind} {n} of {len(faults.secrets[kind])}" for kind, n in leaked.items())
    )
    print(f"the whole run: {time.perf_counter() - clock:.0f} s")
    met = goal(f"no grant lost: {lost} lost", lost == 0)
    met &= goal(f"no refresh token used twice: {errors} refreshes refused", errors == 0)
    met &= goal(f"no secret in a log: {sum(leaked.values())} found", not any(leaked.values()))
    return 0 if met else 1


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--token-ttl",
        type=int,
        default=30,
        help="seconds an access token lives (30; shorter runs faster)",
    )
    parser.add_argument("--rate", type=float, default=16.0, help="kernel requests per second")
    parser.add_argument(
        "--settle",
        type=float,
        default=15.0,
        help="seconds of load after each fault's checks, before the next",
    )
    parser.add_argument(
        "--faults",
        default="",
        help="comma-separated: postgres,frozen,slow,refused,kill (default all)",
    )
    parser.add_argument(
        "--auth-refresh-age",
        type=int,
        default=300,
        help="the hub's Authenticator.auth_refresh_age (300, JupyterHub's default)",
    )
    parser.add_argument("--log", help="write the log of the hub, the service and the servers here")
    args = parser.parse_args()
    unknown = set(args.faults.split(",") if args.faults else []) - set(FAULT_NAMES)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
