"""A first token for a new API: a narrowed refresh against one bare refresh request.

Starts the test provider (tests/provider, oidc-provider with resource indicators),
signs a user in through the real AuthCore with an API configured, then, round
after round, measures alternately:

- one bare refresh request (`OIDCClient.refresh` with the sign-in's refresh token);
- the first token for an API (`AuthCore.fresh_tokens(api=...)` with nothing held
  for it yet): the service's checks, the single-flight bookkeeping, the refresh
  request narrowed with scope and resource under the sign-in's lock, and the store.

Prints p50/p99 of both and their ratio; the target is a ratio of at most 1.5 at the
median (both are one provider round trip, so the service's own cost is what the
ratio shows). Also prints how many provider calls N concurrent first requests for
each of two APIs cause (target: one per API).

    python benchmarks/bench_apis.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The test provider's driver lives in the test suite, which is not installed.
sys.path.insert(0, str(ROOT))

from benchmarks.support import REDIRECT_URI, client_config, percentile, sign_in  # noqa: E402
from jupyter_nevis_auth.core.apis import token_key  # noqa: E402
from jupyter_nevis_auth.core.auth import AuthCore  # noqa: E402
from jupyter_nevis_auth.core.stores import MemoryTokenStore  # noqa: E402
from tests.support.provider import OIDCTestProvider  # noqa: E402

USER = "bench"
TARGET_RATIO = 1.5
APIS = {
    "sales": {
        "url": "https://sales.test/",
        "scopes": ["sales.read"],
        "resource": "https://sales.test",
    },
    "models": {
        "url": "https://models.test/",
        "scopes": ["models.read"],
        "resource": "https://models.test",
    },
}


async def bare_refresh(service: AuthCore) -> float:
    """Seconds one refresh request takes on its own."""
    tokens = await service.tokens.store.get(USER)
    assert tokens is not None and tokens.refresh_token
    started = time.perf_counter()
    await service.client.refresh(tokens.refresh_token)
    return time.perf_counter() - started


async def first_api_token(service: AuthCore, name: str) -> float:
    """Seconds the first token for API `name` takes, nothing being held for it."""
    await service.tokens.store.delete(token_key(USER, "default", name))
    started = time.perf_counter()
    await service.fresh_tokens(USER, api=service.apis[name])
    return time.perf_counter() - started


async def concurrent_first_tokens(service: AuthCore, provider: OIDCTestProvider, n: int) -> int:
    """Refresh requests the provider sees when N callers per API ask at once."""
    for name in APIS:
        await service.tokens.store.delete(token_key(USER, "default", name))
    before = provider.token_calls(grant_type="refresh_token")
    calls = [service.fresh_tokens(USER, api=service.apis[name]) for name in APIS for _ in range(n)]
    await asyncio.gather(*calls)
    return provider.token_calls(grant_type="refresh_token") - before


async def run(rounds: int) -> int:
    """Run the benchmark; the exit status says whether every target was met."""
    with OIDCTestProvider() as provider:
        client = provider.add_client(REDIRECT_URI)
        config = client_config(provider, client, apis=APIS)
        service = AuthCore(config, MemoryTokenStore(parent=config))
        await sign_in(service, USER)
        await bare_refresh(service)  # warm up: discovery, key set, connections
        await first_api_token(service, "sales")
        bare, first = [], []
        for _ in range(rounds):
            bare.append(await bare_refresh(service))
            first.append(await first_api_token(service, "sales"))
        ratio = percentile(first, 50) / percentile(bare, 50)
        calls = await concurrent_first_tokens(service, provider, 50)
    ms = 1000
    print(
        f"bare refresh request:     p50 {percentile(bare, 50) * ms:6.2f} ms"
        f"   p99 {percentile(bare, 99) * ms:6.2f} ms   ({rounds} rounds)"
    )
    print(
        f"first token for an API:   p50 {percentile(first, 50) * ms:6.2f} ms"
        f"   p99 {percentile(first, 99) * ms:6.2f} ms"
    )
    met = ratio <= TARGET_RATIO
    print(
        f"ratio at the median:      {ratio:.2f}x (target <= {TARGET_RATIO}x: "
        f"{'met' if met else 'MISSED'})"
    )
    print(
        f"50 concurrent first requests for each of {len(APIS)} APIs: {calls} provider calls "
        f"(target {len(APIS)}: {'met' if calls == len(APIS) else 'MISSED'})"
    )
    return 0 if met and calls == len(APIS) else 1


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.rounds)))


if __name__ == "__main__":
    main()
