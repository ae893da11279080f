"""Kernels of a real server that run the kernel API, and what tests ask of the server."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from jupyter_nevis_auth.protocol import (
    ENV_SECRET,
    ENV_URL,
    SECRET_HEADER,
    SERVER_ENV,
    TOKEN_PATH,
    secret_in,
)
from tests.kernel.view import kernel_view  # noqa: F401 (a fixture, for every test here)

CELL_TIMEOUT = 60.0

#: Run first in every kernel: the API under test and two small helpers.
PRELUDE = """
import hashlib, json, os, time, requests
import jupyter_nevis_auth as nevis
from jupyter_nevis_auth import (
    BearerAuth, LoginRequiredError, get_access_token, get_id_token, session, whoami,
)

def sha(value):
    return hashlib.sha256(str(value).encode()).hexdigest()

def out(**values):
    print(json.dumps(values))
"""

#: Kernel code: `serve(status, location=None)` starts a loopback server answering every GET
#: with `status` and returns (its URL, the Authorization headers it received).
SERVE = """
import http.server, threading

def serve(status, location=None):
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization", "")[:7])
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_port}/", seen
"""


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class Execution:
    """What a cell produced."""

    stdout: str
    result: str
    error: str


class Kernel:
    """A kernel started by the server's kernel manager, and a client talking to it."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def run(self, code: str, *, allow_stdin: bool = False) -> Execution:
        """Execute a cell as a frontend would (allow_stdin=True) or as nbclient does."""
        stdout, result, error = [], [], []

        def collect(msg: dict[str, Any]) -> None:
            content = msg["content"]
            if msg["msg_type"] == "stream" and content["name"] == "stdout":
                stdout.append(content["text"])
            elif msg["msg_type"] == "execute_result":
                result.append(content["data"]["text/plain"])
            elif msg["msg_type"] == "error":
                error.append(f"{content['ename']}: {content['evalue']}")

        await self.client.execute_interactive(
            textwrap.dedent(code),
            allow_stdin=allow_stdin,
            timeout=CELL_TIMEOUT,
            output_hook=collect,
        )
        return Execution("".join(stdout), "".join(result), "".join(error))

    async def values(self, code: str, *, allow_stdin: bool = False) -> dict[str, Any]:
        """Run a cell that ends with `out(...)`; what it printed."""
        execution = await self.run(code, allow_stdin=allow_stdin)
        assert not execution.error, execution.error
        return json.loads(execution.stdout.splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture
def kernel(jp_serverapp: Any, http_server: Any, jp_asyncio_loop: Any) -> Iterator[Kernel]:
    """A fresh kernel of the listening test server, with PRELUDE run; shut down afterwards."""
    manager = jp_serverapp.kernel_manager
    kernel_id = jp_asyncio_loop.run_until_complete(manager.start_kernel())
    client = manager.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        jp_asyncio_loop.run_until_complete(client.wait_for_ready(timeout=CELL_TIMEOUT))
        kernel = Kernel(client)
        prelude = jp_asyncio_loop.run_until_complete(kernel.run(PRELUDE + SERVE))
        assert not prelude.error, prelude.error
        yield kernel
    finally:
        client.stop_channels()
        jp_asyncio_loop.run_until_complete(manager.shutdown_kernel(kernel_id))


def service_of(jp_serverapp: Any) -> tuple[Any, str]:
    settings = jp_serverapp.web_app.settings
    return settings["nevis_auth"], settings["nevis_auth_owner"]


async def stored(jp_serverapp: Any) -> Any:
    service, owner = service_of(jp_serverapp)
    return await service.tokens.store.get(owner)


async def revoke_access_token(jp_serverapp: Any) -> None:
    """Leave the server holding an access token the API refuses (revoked, say)."""
    service, owner = service_of(jp_serverapp)
    tokens = await service.tokens.store.get(owner)
    await service.tokens.store.set(owner, dataclasses.replace(tokens, access_token="revoked"))


def count_token_requests(jp_serverapp: Any, monkeypatch: pytest.MonkeyPatch) -> list[float | None]:
    """Record the min_ttl of every token request the server handles."""
    manager = service_of(jp_serverapp)[0].tokens
    seen: list[float | None] = []
    fresh = manager.fresh

    async def counting(user: str, min_ttl: float | None = None, **kwargs: Any) -> Any:
        seen.append(min_ttl)
        return await fresh(user, min_ttl, **kwargs)

    monkeypatch.setattr(manager, "fresh", counting)
    return seen


def python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh Python process with only `env` of the NEVIS_AUTH_* variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEVIS_AUTH_")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class CannedServer:
    """A stand-in for the server's kernel endpoints: every request gets `status` and `body`.

    A request whose path (with query) is in `by_path` gets that answer instead.
    """

    url: str
    status: int = 200
    body: bytes = b"{}"
    #: (method, path with query, kernel secret sent) of every request.
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    by_path: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    #: (path, Authorization header) of every request.
    authorizations: list[tuple[str, str]] = field(default_factory=list)

    def answer(self, status: int, body: dict[str, Any] | bytes, path: str | None = None) -> None:
        """Answer `body` (JSON when a dict) with `status` from now on (to `path` only if given)."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        if path is None:
            self.status, self.body = status, data
        else:
            self.by_path[path] = (status, data)


@pytest.fixture
def canned_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[CannedServer]:
    """A CannedServer on loopback; the environment names it, as a server names itself."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            secret = secret_in(self.headers.get(SECRET_HEADER, ""))
            server.seen.append((self.command, self.path, secret))
            server.authorizations.append((self.path, self.headers.get("Authorization", "")))
            status, body = server.by_path.get(self.path, (server.status, server.body))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server = CannedServer(f"http://127.0.0.1:{httpd.server_port}/{TOKEN_PATH}")
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    for name in SERVER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ENV_URL, server.url)
    monkeypatch.setenv(ENV_SECRET, "canned-secret")
    yield server
    httpd.shutdown()
    httpd.server_close()
