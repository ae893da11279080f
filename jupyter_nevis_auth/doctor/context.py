"""What the checks of one provider share, and why a provider call failed."""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from ..core.apis import ApiSpec
from ..core.config import NevisAuth
from ..core.providers import Provider
from ..errors import ProviderError, ProviderTimeoutError
from ..oidc import ProviderMetadata
from ..oidc.http import HTTPAnswer


@dataclass
class Context:
    """What the steps of one provider share: its settings, client, and what was found so far."""

    provider: Provider
    apis: list[ApiSpec]
    redirect_uri: str
    #: How the redirect URI was found (an option, an env var, --server-url...).
    redirect_origin: str
    metadata: ProviderMetadata | None = None
    #: The discovery document as the provider sent it (None without discovery).
    document: dict[str, Any] = field(default_factory=dict)
    #: The provider's first Date header and this machine's time when it was sent.
    clock: tuple[str, float] | None = None

    @property
    def config(self) -> NevisAuth:
        """The provider's settings."""
        return self.provider.config

    @property
    def label(self) -> str:
        """How messages name the provider's options: NevisAuth or NevisAuth.providers["x"]."""
        return self.config.label

    def env(self, option: str) -> str:
        """The env var of `option`, as `$NAME`."""
        return "$" + self.config.env_var_of(option)

    async def fetch(self, url: str, **kwargs: Any) -> HTTPAnswer:
        """One provider call through the product's HTTP helper, noting the provider's clock."""
        started = time.time()
        answer = await self.provider.client.http.fetch(url, **kwargs)
        date = answer.headers.get("Date")
        if self.clock is None and date:
            self.clock = (date, (started + time.time()) / 2)
        return answer


def unreachable(config: NevisAuth, error: ProviderError) -> str:
    """Why a provider call failed: timeout, TLS, refused, unknown host..."""
    cause = error.__cause__
    if isinstance(error, ProviderTimeoutError):
        return f"no answer within {config.http_timeout:g} s"
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"its TLS certificate is not trusted ({cause.verify_message})"
    if isinstance(cause, ssl.SSLError):
        return f"TLS failed ({cause.reason or type(cause).__name__})"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, socket.gaierror):
        return "host name not found"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror.lower()
    return str(error).rstrip(".")


def unreachable_fix(ctx: Context, error: ProviderError) -> str:
    """What to change when the provider cannot be reached."""
    if isinstance(error.__cause__, ssl.SSLError):
        return (
            f"set {ctx.label}.ca_bundle ({ctx.env('ca_bundle')}) to the CA bundle that signs "
            "the provider's certificate, or have the certificate fixed at the provider."
        )
    fix = (
        f"check {ctx.label}.issuer ({ctx.env('issuer')}) and that this machine can reach the "
        "provider (DNS, proxy, firewall)"
    )
    if isinstance(error, ProviderTimeoutError):
        return fix + f", or raise NevisAuth.http_timeout (now {ctx.config.http_timeout:g} s)."
    return fix + "."
