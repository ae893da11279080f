"""The refresh storm: N callers ask for a token the moment it expires.

Starts the test provider (tests/provider, oidc-provider with refresh-token rotation),
signs a user in through the real AuthCore, then for each N lets the access token
expire and has N concurrent `TokenManager.fresh()` calls ask for it. Prints the
refresh requests the provider saw per storm (target: 1), the errors (target: 0), and
the waiting callers' p50/p99 latency against bare refresh requests (one before each
storm, so measured under the same conditions). The target compares like with like:
the callers' p99 within 1.5x of the bare requests' p99; the ratio to the bare median
and the fan-out (how much later than the storm's first caller the others get the
token) are printed too.

    python benchmarks/bench_refresh.py [--sizes 10 50 200] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The test provider's driver lives in the test suite, which is not installed.
sys.path.insert(0, str(ROOT))

from benchmarks.support import REDIRECT_URI, client_config, percentile, sign_in  # noqa: E402
from jupyter_nevis_auth.core.auth import AuthCore  # noqa: E402
from jupyter_nevis_auth.core.stores import MemoryTokenStore  # noqa: E402
from jupyter_nevis_auth.core.tokens import TokenSet  # noqa: E402
from tests.support.provider import OIDCTestProvider  # noqa: E402

USER = "bench"
TARGET_RATIO = 1.5


async def bare_refresh(service: AuthCore) -> float:
    """Seconds one refresh request takes on its own; the store keeps the rotated result."""
    tokens = await service.tokens.store.get(USER)
    assert tokens is not None and tokens.refresh_token
    started = time.perf_counter()
    data = await service.client.refresh(tokens.refresh_token)
    elapsed = time.perf_counter() - started
    fresh = TokenSet.from_response(data, tokens.claims, previous=tokens)
    await service.tokens.store.set(USER, fresh)
    return elapsed


async def storm(service: AuthCore, n: int) -> tuple[list[float], int, bool]:
    """Expire the token, then N concurrent callers: latencies, errors, one shared token?"""
    tokens = await service.tokens.store.get(USER)
    assert tokens is not None
    await service.tokens.store.set(USER, dataclasses.replace(tokens, expires_at=time.time() - 1))

    async def caller() -> tuple[float, TokenSet | None]:
        started = time.perf_counter()
        try:
            result: TokenSet | None = await service.tokens.fresh(USER)
        except Exception:
            result = None
        return time.perf_counter() - started, result

    results = await asyncio.gather(*(caller() for _ in range(n)))
    errors = sum(1 for _, result in results if result is None)
    shared = len({id(result) for _, result in results}) == 1
    return [latency for latency, _ in results], errors, shared


async def run(sizes: list[int], rounds: int) -> int:
    """Run the benchmark; the exit status says whether every target was met."""
    with OIDCTestProvider() as provider:
        client = provider.add_client(REDIRECT_URI, rotate_refresh_token=True)
        config = client_config(provider, client)
        service = AuthCore(config, MemoryTokenStore(parent=config))
        await sign_in(service, USER)
        await bare_refresh(service)  # warm up: discovery, key set, connections

        bare: list[float] = []
        report = []
        for n in sizes:
            latencies: list[float] = []
            fan_out: list[float] = []
            calls: list[int] = []
            errors = 0
            shared = True
            for _ in range(rounds):
                bare.append(await bare_refresh(service))
                provider.reset_stats()
                round_latencies, round_errors, round_shared = await storm(service, n)
                counter = provider.stats(client.client_id)["token"].get("refresh_token", {})
                calls.append(int(counter.get("total", 0)))
                errors += round_errors + int(counter.get("error", 0))
                shared = shared and round_shared
                latencies += round_latencies
                fan_out += [t - min(round_latencies) for t in round_latencies]
            report.append((n, calls, errors, shared, latencies, fan_out))

    bare_p50, bare_p99 = percentile(bare, 50), percentile(bare, 99)
    print(f"oidc-provider (tests/provider), refresh-token rotation on, {rounds} storms per N")
    print(
        f"bare refresh request: p50 {bare_p50 * 1000:.1f} ms, p99 {bare_p99 * 1000:.1f} ms "
        f"(n={len(bare)})"
    )
    print(
        f"{'N':>5} {'refreshes':>10} {'errors':>7} {'one token':>10} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'p99/bare p99':>13} {'p99/bare p50':>13} {'fan-out p99 ms':>15}  "
        "target"
    )
    met = True
    for n, calls, errors, shared, latencies, fan_out in report:
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        ok = set(calls) == {1} and errors == 0 and shared and p99 <= TARGET_RATIO * bare_p99
        met = met and ok
        spread = f"{min(calls)}" if min(calls) == max(calls) else f"{min(calls)}-{max(calls)}"
        print(
            f"{n:>5} {spread:>10} {errors:>7} {'yes' if shared else 'NO':>10} "
            f"{p50 * 1000:>7.1f} {p99 * 1000:>7.1f} {p99 / bare_p99:>12.2f}x "
            f"{p99 / bare_p50:>12.2f}x {percentile(fan_out, 99) * 1000:>15.2f}  "
            f"{'met' if ok else 'MISSED'}"
        )
    return 0 if met else 1


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 200])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.sizes, args.rounds)))


if __name__ == "__main__":
    main()
