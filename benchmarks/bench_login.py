"""Full sign-in round trips against the local test provider, and the provider calls each makes.

Run: `.venv/bin/python benchmarks/bench_login.py [ROUNDS]` (after `make install provider`).
It drives the extension's AuthCore (the code behind nevis/login and nevis/callback) and the
provider's real login and consent forms, and counts every HTTP call the extension makes.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from tornado.httpclient import AsyncHTTPClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jupyter_nevis_auth.core.auth import AuthCore
from jupyter_nevis_auth.core.config import NevisAuth
from jupyter_nevis_auth.core.stores import MemoryTokenStore
from jupyter_nevis_auth.oidc import OIDCClient
from tests.support.provider import OIDCTestProvider, provider_login

REDIRECT = "http://127.0.0.1:9/nevis/callback"


class CountingClient:
    """An AsyncHTTPClient stand-in that forwards every call and counts it by path."""

    def __init__(self) -> None:
        self.inner = AsyncHTTPClient()
        self.calls: Counter[str] = Counter()

    async def fetch(self, request: Any, **kwargs: Any) -> Any:
        """Count, then forward."""
        self.calls[urlparse(request.url).path] += 1
        return await self.inner.fetch(request, **kwargs)


async def one_login(service: AuthCore, username: str) -> float:
    """Seconds for login redirect, provider forms, code exchange and ID-token validation."""
    started = time.perf_counter()
    login, url = await service.start_login(REDIRECT, "/")
    callback = await asyncio.to_thread(provider_login, url, username, redirect_prefix=REDIRECT)
    params = {k: v[0] for k, v in parse_qs(urlparse(callback).query).items()}
    # Each person's own server: one server takes the sign-ins of one person only.
    await service.finish_login(f"server-of-{username}", params, login.browser_key)
    return time.perf_counter() - started


async def main(rounds: int) -> None:
    """Print the first (cold) and the following (warm) sign-ins' times and provider calls."""
    with OIDCTestProvider() as provider:
        client = provider.add_client([REDIRECT])
        config = NevisAuth(
            issuer=provider.issuer,
            client_id=client.client_id,
            client_secret=client.client_secret,
            scopes=["openid", "offline_access", "profile", "api"],
            extra_authorize_params={"prompt": "consent"},
        )
        http = CountingClient()
        service = AuthCore(config, MemoryTokenStore(), OIDCClient(config, http))  # type: ignore[arg-type]

        cold = await one_login(service, "alice")
        cold_calls = dict(http.calls)
        http.calls.clear()
        warm = [await one_login(service, f"user{i}") for i in range(rounds)]
        warm_calls = {k: v / rounds for k, v in http.calls.items()}

    print(f"cold sign-in: {cold * 1000:.1f} ms, extension->provider calls: {cold_calls}")
    print(
        f"warm sign-in ({rounds} rounds): p50 {statistics.median(warm) * 1000:.1f} ms, "
        f"max {max(warm) * 1000:.1f} ms"
    )
    print(f"extension->provider calls per warm sign-in: {warm_calls}")
    print(
        "(the browser's own requests to the provider's login and consent pages are "
        "included in the times, not in the call counts)"
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
