"""The environment a server gives its kernels: where its token endpoint is, and its secret."""

from __future__ import annotations

import ipaddress
import os

from jupyter_server.serverapp import ServerApp

from ..core import urls
from ..protocol import (
    ENV_CA,
    ENV_ERROR,
    ENV_LOGIN_TIMEOUT,
    ENV_LOGIN_URL,
    ENV_SECRET,
    ENV_URL,
    SERVER_ENV,
    TOKEN_PATH,
)


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
        ENV_LOGIN_URL: urls.login_url(base_url),
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
    env[ENV_URL] = f"{scheme}://{host}:{serverapp.port}" + urls.join(base_url, TOKEN_PATH)
    env[ENV_SECRET] = secret
    if serverapp.certfile:
        env[ENV_CA] = os.path.abspath(serverapp.certfile)
    return env


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
