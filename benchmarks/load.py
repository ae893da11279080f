"""A load generator for the benchmarks: open and closed loops of HTTP requests, and their cost.

Open loops send each request at its scheduled time whatever the answers do, and count a
request's latency from when the generator sent it: how late the generator itself was (its
event loop busy, or the machine's cores taken) is its own, reported on a line of its own and
kept out of the latencies, which are the service's. A request waiting for one of the
generator's connections waits for earlier answers, so that wait counts. Closed loops ask
again as soon as an answer came. `Processes` notes the CPU time of the processes under test, of the
machine's idle time and of everything outside the run (the machine may be shared).

What a request asks and how its answer is judged is the caller's: an `Ask` coroutine.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import aiohttp
import psutil

from benchmarks.support import percentile

REQUEST_TIMEOUT = 10.0
MS = 1000
IDLE = "idle"
OTHERS = "outside the run"
#: Seconds after its first request an open loop starts, so that the first is not late.
START_DELAY = 0.05

#: One request: (HTTP client, what to ask for, the run, when it was sent: its latency counts
#: from then).
Ask = Callable[[aiohttp.ClientSession, str, "Run", float], Awaitable[None]]


@dataclass
class Run:
    """What one load run saw."""

    name: str
    rate: float | None = None
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    #: How late the client sent a request at most (open loop), in seconds.
    lag: float = 0.0
    #: How late the client sent each request (open loop), in seconds.
    late: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    #: Latencies by what the answer took (the caller's kinds).
    by_kind: dict[str, list[float]] = field(default_factory=dict)

    @property
    def answers(self) -> int:
        """Correct answers."""
        return len(self.latencies)

    @property
    def answer_rate(self) -> float:
        """Correct answers per second."""
        return self.answers / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        """The q-th percentile of the latencies (infinite without answers)."""
        return percentile(self.latencies, q) if self.latencies else float("inf")

    def errors_text(self) -> str:
        """The errors, by kind."""
        total = sum(self.errors.values())
        kinds = ", ".join(f"{n} {kind}" for kind, n in self.errors.most_common())
        return f"{total} ({kinds})" if total else "0"

    def answered(self, latency: float, kind: str | None = None) -> None:
        """One correct answer after `latency` seconds, of `kind` if the caller has kinds."""
        self.latencies.append(latency)
        if kind is not None:
            self.by_kind.setdefault(kind, []).append(latency)


def http_client(connections: int) -> aiohttp.ClientSession:
    """An HTTP client of at most `connections` at once, each used for one request only.

    A user server asks the service with tornado's AsyncHTTPClient, which opens a new
    connection per request: the service sees the same here, from a client lighter on CPU.
    """
    connector = aiohttp.TCPConnector(limit=connections, force_close=True)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    return aiohttp.ClientSession(connector=connector, timeout=timeout)


async def open_loop(ask: Ask, picks: list[str], rate: float, run: Run, connections: int) -> None:
    """Ask for each of `picks` in turn, `rate` a second, each on time whatever the answers do."""
    run.rate = rate
    http = http_client(connections)
    pending: set[asyncio.Future[None]] = set()
    start = time.perf_counter() + START_DELAY

    async def send(pick: str, scheduled: float) -> None:
        # Once this task runs: its lateness is the generator's, whatever held it up.
        sent = time.perf_counter()
        late = max(sent - scheduled, 0.0)
        run.late.append(late)
        run.lag = max(run.lag, late)
        await ask(http, pick, run, sent)

    try:
        for i, pick in enumerate(picks):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.ensure_future(send(pick, scheduled))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await finish(set(pending), run)
    finally:
        await http.close()
    run.seconds = time.perf_counter() - start


async def closed_loop(
    ask: Ask, next_pick: Callable[[], str | None], callers: int, seconds: float, run: Run
) -> None:
    """`callers` ask again as soon as they have an answer, for `seconds` or until no pick."""
    http = http_client(callers)
    start = time.perf_counter()
    end = start + seconds

    async def caller() -> None:
        while time.perf_counter() < end:
            pick = next_pick()
            if pick is None:
                return
            await ask(http, pick, run, time.perf_counter())

    try:
        await finish({asyncio.ensure_future(caller()) for _ in range(callers)}, run, seconds)
    finally:
        await http.close()
    run.seconds += time.perf_counter() - start


async def finish(pending: set[asyncio.Future[None]], run: Run, seconds: float = 0) -> None:
    """Wait for the work under way, at most `seconds` and then as long as a request may take."""
    if not pending:
        return
    _, unfinished = await asyncio.wait(pending, timeout=seconds + REQUEST_TIMEOUT + 5)
    for task in unfinished:
        task.cancel()
    if unfinished:
        run.errors["unfinished"] += len(unfinished)


def picks_from(items: Iterable[str]) -> Callable[[], str | None]:
    """A closed loop's picks: each of `items` once, then none."""
    queue = iter(items)
    return lambda: next(queue, None)


class Processes:
    """The processes of a run by name, for their CPU time and memory."""

    def __init__(self, by_name: dict[str, psutil.Process], loop_of: str) -> None:
        """`loop_of` names the process whose event loop (its first thread) is timed too."""
        self.by_name = by_name
        self.loop_of = loop_of
        #: Each process's CPU seconds when last seen.
        self.last: dict[str, float] = {}

    @property
    def loop(self) -> str:
        """The name under which cpu() gives the event loop's time."""
        return f"{self.loop_of} event loop"

    def cpu(self) -> dict[str, float]:
        """CPU seconds (user and system) each process used so far, and the machine's idle time."""
        used = {}
        for name, process in self.by_name.items():
            try:
                times = process.cpu_times()
            except psutil.Error:
                # Killed during the run (a fault under test): what it used until it was seen.
                used[name] = self.last.get(name, 0.0)
                continue
            used[name] = self.last[name] = times.user + times.system
        timed = self.by_name[self.loop_of]
        loop = next(t for t in timed.threads() if t.id == timed.pid)
        used[self.loop] = loop.user_time + loop.system_time
        # The machine may be shared: what is left idle shows whether the run had it all,
        # and what the processes outside the run took.
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        used[IDLE] = machine.idle
        used[OTHERS] = busy - sum(used[name] for name in self.by_name)
        return used

    async def rss(self, name: str) -> int:
        """A process's resident memory, once it is idle (its last answers written)."""
        await asyncio.sleep(1.0)
        return int(self.by_name[name].memory_info().rss)


def summary(run: Run) -> str:
    """A run's rate, latencies and errors in one line."""
    rate = f" at {run.rate:g} req/s" if run.rate else ""
    return (
        f"{run.name}{rate}: {run.answer_rate:.0f} answers/s over {run.seconds:.1f} s, "
        f"p50 {run.p(50) * MS:.1f} ms, p99 {run.p(99) * MS:.1f} ms, "
        f"max {run.p(100) * MS:.1f} ms, errors {run.errors_text()}"
    )


def lateness(run: Run) -> str:
    """How late the generator itself sent requests, kept out of the latencies."""
    if not run.late:
        return "  client late: no request sent"
    return (
        f"  client late by p50 {percentile(run.late, 50) * MS:.1f} ms, "
        f"p99 {percentile(run.late, 99) * MS:.1f} ms, {run.lag * MS:.1f} ms at most "
        "(the generator's own, not in the latencies)"
    )


def kinds_line(run: Run, kinds: Iterable[str]) -> str:
    """The latencies of the answers of each kind, in the order of `kinds`."""
    found = [(kind, run.by_kind.get(kind, [])) for kind in kinds]
    return "  p50/p99 of the answers that took " + "; ".join(
        f"{kind}: {percentile(lat, 50) * MS:.1f}/{percentile(lat, 99) * MS:.1f} ms ({len(lat)})"
        for kind, lat in found
        if lat
    )


def cpu_line(run: Run, processes: Processes) -> str:
    """Each process's CPU in cores over the run, the event loop's, and the machine's rest."""
    seconds = run.seconds or 1.0
    cores = ", ".join(
        f"{name} {used / seconds:.2f}"
        for name, used in run.cpu.items()
        if name not in (IDLE, processes.loop, OTHERS)
    )
    loop = run.cpu[processes.loop] / seconds
    return (
        f"  CPU in cores: {cores} (its event loop's thread {loop:.2f}); "
        f"processes outside the run {run.cpu[OTHERS] / seconds:.2f}; "
        f"idle {run.cpu[IDLE] / seconds:.2f} of the machine's {os.cpu_count()}"
    )
