"""What the benchmarks share: percentiles, and a sign-in through the real provider's form."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
# The test provider's driver lives in the test suite, which is not installed.
sys.path.insert(0, str(ROOT))

from jupyter_nevis_auth.core.auth import AuthCore  # noqa: E402
from jupyter_nevis_auth.core.config import NevisAuth  # noqa: E402
from tests.support.provider import OIDCTestProvider, RegisteredClient, provider_login  # noqa: E402

#: The redirect URI of the benchmarks' clients; nothing listens there.
REDIRECT_URI = "http://127.0.0.1:1/nevis/callback"


def client_config(provider: OIDCTestProvider, client: RegisteredClient, **more: Any) -> NevisAuth:
    """The settings of the provider's `client`, its refresh tokens and the test API's scope
    asked for, consent asked every time (the form the sign-ins fill in); `more` on top."""
    return NevisAuth(
        issuer=provider.issuer,
        client_id=client.client_id,
        client_secret=client.client_secret,
        scopes=["openid", "offline_access", "api"],
        extra_authorize_params={"prompt": "consent"},
        **more,
    )


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))]


async def sign_in(service: AuthCore, user: str, redirect_uri: str = REDIRECT_URI) -> None:
    """The code flow through the service and the provider's real login form."""
    login, url = await service.start_login(redirect_uri, "/")
    callback = await asyncio.to_thread(provider_login, url, user, redirect_prefix=redirect_uri)
    params = {k: v[0] for k, v in parse_qs(urlparse(callback).query).items()}
    await service.finish_login(user, params, login.browser_key)
