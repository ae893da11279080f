"""Provider outages: a clear page within the timeout, a fitting status, the server keeps serving."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class Garbage(web.RequestHandler):
    def get(self) -> None:
        self.write("<html>this is not the discovery document</html>")


class WrongIssuer(web.RequestHandler):
    def get(self) -> None:
        self.write({"issuer": "https://someone-else.example", "authorization_endpoint": "x"})


@pytest.fixture
def odd_provider() -> Iterator[str]:
    sock, port = bind_unused_port()
    app = web.Application(
        [
            (r"/garbage/.well-known/openid-configuration", Garbage),
            (r"/wrong/.well-known/openid-configuration", WrongIssuer),
        ]
    )
    server = HTTPServer(app)
    server.add_sockets([sock])
    yield f"http://127.0.0.1:{port}"
    server.stop()


def configured(nevis_config: dict[str, Any], issuer: str) -> dict[str, Any]:
    nevis_config.update(issuer=issuer, http_timeout=1.0)
    return nevis_config


async def login_page(jp_fetch: Any) -> Any:
    return await jp_fetch("nevis", "login", follow_redirects=False, raise_error=False)


class TestSlowProvider:
    @pytest.fixture
    def nevis_config(self, nevis_config, silent_port):
        return configured(nevis_config, f"http://127.0.0.1:{silent_port}")

    async def test_gives_504_within_the_timeout(self, jp_fetch):
        started = time.monotonic()
        response = await login_page(jp_fetch)
        assert time.monotonic() - started < 3
        assert response.code == 504
        assert b"did not answer within 1 seconds" in response.body
        assert (await jp_fetch("api", "status")).code == 200


class TestDownProvider:
    @pytest.fixture
    def nevis_config(self, nevis_config, closed_port):
        return configured(nevis_config, f"http://127.0.0.1:{closed_port}")

    async def test_gives_502(self, jp_fetch):
        response = await login_page(jp_fetch)
        assert response.code == 502
        assert b"could not be reached" in response.body
        assert b"Traceback" not in response.body


class TestGarbageDiscovery:
    @pytest.fixture
    def nevis_config(self, nevis_config, odd_provider):
        return configured(nevis_config, odd_provider + "/garbage")

    async def test_gives_502(self, jp_fetch):
        response = await login_page(jp_fetch)
        assert response.code == 502
        assert b"not JSON" in response.body


class TestDiscoveryIssuerMismatch:
    @pytest.fixture
    def nevis_config(self, nevis_config, odd_provider):
        return configured(nevis_config, odd_provider + "/wrong")

    async def test_is_refused(self, jp_fetch):
        response = await login_page(jp_fetch)
        assert response.code == 502
        assert b"names another issuer" in response.body
