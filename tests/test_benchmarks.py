"""The benchmarks' own parts: the load generator's clock, and bench_hub's refresh rules."""

from __future__ import annotations

import asyncio
import itertools
import time

import aiohttp
import pytest

from benchmarks import load
from benchmarks.bench_hub import Expiries, HubRun
from jupyter_nevis_auth.config import NevisAuth
from jupyter_nevis_auth.protocol import DEFAULT_MIN_TTL
from jupyter_nevis_auth.service import AuthService
from jupyter_nevis_auth.stores import MemoryTokenStore
from jupyter_nevis_auth.tokens import TokenSet

#: Seconds the first request holds the generator's event loop in the lateness test.
STALL = 0.3


def test_an_open_loop_counts_from_each_requests_time_and_reports_its_own_lateness() -> None:
    sent: list[tuple[str, float, float]] = []

    async def ask(http: aiohttp.ClientSession, pick: str, run: load.Run, since: float) -> None:
        sent.append((pick, since, time.perf_counter()))
        if pick == "first":
            time.sleep(STALL)  # the generator's own stall, as a busy client has
        run.answered(time.perf_counter() - since)

    run = load.Run("test")
    picks = ["first"] + [f"user{i}" for i in range(9)]
    asyncio.run(load.open_loop(ask, picks, 50.0, run, connections=4))

    assert [pick for pick, _, _ in sent] == picks
    # Due every 20 ms whatever happened to the ones before.
    due = [since for _, since, _ in sent]
    assert all(abs((b - a) - 0.02) < 1e-6 for a, b in itertools.pairwise(due))
    # The requests due during the stall went late; that shows in their latencies and, on a
    # line of its own, as the generator's lateness.
    assert run.lag >= STALL - 0.02 - 0.05
    assert run.p(100) >= STALL
    assert run.answers == len(picks) and not run.errors
    assert run.rate == 50.0
    assert "client late by" in load.lateness(run)


@pytest.mark.parametrize(
    ("ttl", "refresh_ahead"), [(10, 30.0), (40, 30.0), (100, 30.0), (3600, 7.0)]
)
def test_bench_hub_judges_refreshes_by_the_services_own_rules(
    ttl: int, refresh_ahead: float
) -> None:
    config = NevisAuth(issuer="https://issuer.example", client_id="bench")
    manager = AuthService(config, MemoryTokenStore()).tokens
    manager.refresh_ahead = refresh_ahead
    now = time.time()
    issued = TokenSet(access_token="", expires_at=now + ttl, obtained_at=now)
    expiries = Expiries(ttl, manager)

    leeway = manager.effective_leeway(issued, DEFAULT_MIN_TTL)
    assert expiries.leeway == leeway
    assert expiries.ahead == manager.ahead(issued, leeway)

    # An answer with less left than the service refreshes at is one with a token due ...
    run = HubRun("test")
    known = now + ttl
    expiries.expires_at["alice"] = known
    assert not expiries.see("alice", known, leeway - 2, run)
    assert run.stale == 1
    # ... a new token obtained as the window opens, `ahead` before it is due, is on time ...
    obtained = known - leeway - expiries.ahead
    assert expiries.see("alice", obtained + ttl, None, run)
    assert run.early == 0 and run.expiries == 1
    # ... and one obtained long before the window opened is early.
    assert expiries.see("alice", obtained + ttl + 2, None, run)
    assert run.early == 1 and run.expiries == 2
