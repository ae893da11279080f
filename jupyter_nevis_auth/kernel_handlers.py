"""The server side of the kernel helper: nevis/api/token, and the environment kernels get."""

from __future__ import annotations

import hmac
import ipaddress
import json
import math
import os
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.serverapp import ServerApp
from jupyter_server.utils import url_path_join
from tornado import web

from .errors import LoginRequiredError, NevisAuthError, ProviderTimeoutError
from .handlers import NevisAPIHandler
from .protocol import (
    DEFAULT_MIN_TTL,
    ENV_CA,
    ENV_ERROR,
    ENV_LOGIN_TIMEOUT,
    ENV_LOGIN_URL,
    ENV_SECRET,
    ENV_URL,
    SECRET_HEADER,
    SERVER_ENV,
)
from .tokens import public_claims


def loopback_host(ip: str) -> str:
    """The host a kernel on this machine uses to reach a server listening on `ip`."""
    if ip in ("", "*", "localhost"):
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        return ip  # a host name: the server listens on what it resolves to
    if address.is_unspecified or address.is_loopback:
        return "127.0.0.1" if address.version == 4 else "[::1]"
    return f"[{address}]" if address.version == 6 else str(address)


def kernel_environment(serverapp: ServerApp, secret: str, login_timeout: float) -> dict[str, str]:
    """The NEVIS_AUTH_* variables leading the server's kernels to its token endpoint."""
    base_url = serverapp.base_url
    env = {
        ENV_LOGIN_URL: url_path_join(base_url, "nevis/login"),
        ENV_LOGIN_TIMEOUT: f"{login_timeout:g}",
    }
    if serverapp.sock:
        env[ENV_ERROR] = (
            f"This Jupyter server listens only on the unix socket {serverapp.sock}, which "
            "kernels cannot ask for tokens; start it on a TCP port (--port) to use "
            "jupyter_nevis_auth in notebooks."
        )
        return env
    if serverapp.client_ca:
        env[ENV_ERROR] = (
            "This Jupyter server requires TLS client certificates (ServerApp.client_ca), "
            "which kernels do not have; drop client_ca to use jupyter_nevis_auth in notebooks."
        )
        return env
    scheme = "https" if serverapp.certfile else "http"
    host = loopback_host(serverapp.ip)
    env[ENV_URL] = f"{scheme}://{host}:{serverapp.port}" + url_path_join(
        base_url, "nevis/api/token"
    )
    env[ENV_SECRET] = secret
    if serverapp.certfile:
        env[ENV_CA] = os.path.abspath(serverapp.certfile)
    return env


class KernelAPIHandler(NevisAPIHandler):
    """Base of the kernel endpoints: the kernel secret is the only credential they take."""

    # A kernel asking for tokens is not a person using the server.
    _track_activity = False

    async def prepare(self) -> None:  # type: ignore[override]
        """Refuse any request without the kernel secret, whatever cookie or token it has."""
        await super().prepare()
        expected = self.settings.get("nevis_auth_kernel_secret", "")
        given = self.request.headers.get(SECRET_HEADER, "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise web.HTTPError(403, "This endpoint is only for kernels of this server.")

    def check_xsrf_cookie(self) -> None:
        """No XSRF check: the secret travels in a header no other site can set or know."""

    @property
    def owner(self) -> str:
        """The user whose tokens this server's kernels get."""
        return self.settings["nevis_auth_owner"]  # type: ignore[no-any-return]

    def answer(self, status: int, body: dict[str, Any]) -> None:
        """Finish with JSON that no cache may keep."""
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))


class KernelTokenHandler(KernelAPIHandler):
    """nevis/api/token: the current tokens, for the kernel helper."""

    @allow_unauthenticated
    async def get(self) -> None:
        """The access token with at least `min_ttl` seconds left, refreshed first if needed."""
        try:
            min_ttl = float(self.get_argument("min_ttl", str(DEFAULT_MIN_TTL)))
        except ValueError:
            min_ttl = math.nan
        if not 0 <= min_ttl < math.inf:
            self.answer(
                400,
                {"error": "invalid_request", "message": "min_ttl must be a number of seconds."},
            )
            return
        force = self.get_argument("force_refresh", "") in ("1", "true")
        try:
            tokens = await self.nevis.tokens.current(self.owner, min_ttl, force=force)
        except LoginRequiredError as e:
            self.answer(
                401,
                {"error": "login_required", "message": str(e), "login_url": self.login_url()},
            )
            return
        except NevisAuthError as e:
            self.log.warning("No token for a kernel of %s: %s", self.owner, e)
            error = "provider_timeout" if isinstance(e, ProviderTimeoutError) else "provider_error"
            self.answer(e.status_code, {"error": error, "message": str(e)})
            return
        claims = public_claims(tokens.claims)
        self.answer(
            200,
            {
                "access_token": tokens.access_token,
                "token_type": tokens.token_type,
                "expires_at": tokens.expires_at,
                "expires_in": tokens.expires_in(),
                "scope": " ".join(tokens.scope),
                "id_token": tokens.id_token,
                "claims": claims,
            },
        )

    @allow_unauthenticated
    async def delete(self) -> None:
        """Sign the user out (for the widget's sign-out control); answers the new status."""
        await self.nevis.logout(self.owner)
        status = await self.nevis.tokens.status(self.owner)
        status["login_url"] = self.login_url()
        self.answer(200, status)


class KernelStatusHandler(KernelAPIHandler):
    """nevis/api/token/status: what nevis/api/status says, for the widget in a kernel."""

    @allow_unauthenticated
    async def get(self) -> None:
        """The status JSON, refreshing first when the token is about to expire."""
        self.answer(200, await self.current_status(self.owner))


kernel_handlers = [
    (r"/nevis/api/token", KernelTokenHandler),
    (r"/nevis/api/token/status", KernelStatusHandler),
]


class KernelEnvironment:
    """The server process's NEVIS_AUTH_* kernel variables: kernels inherit them when they start."""

    def __init__(self, secret: str, login_timeout: float) -> None:
        """Manage the variables for a server whose kernels authenticate with `secret`."""
        self.secret = secret
        self.login_timeout = login_timeout
        self._saved: dict[str, str | None] = {}

    def export(self, serverapp: ServerApp) -> str | None:
        """Set the variables for `serverapp`; returns why its kernels cannot get tokens, if so."""
        env = kernel_environment(serverapp, self.secret, self.login_timeout)
        for name in SERVER_ENV:
            self._saved.setdefault(name, os.environ.get(name))
            if name in env:
                os.environ[name] = env[name]
            else:
                os.environ.pop(name, None)
        return env.get(ENV_ERROR)

    def restore(self) -> None:
        """Give the process back the values it had before export()."""
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved.clear()
