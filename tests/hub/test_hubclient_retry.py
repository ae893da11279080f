"""A hub-mode server's client of the service asks a read again once, on another replica.

The client (jupyter_nevis_auth.server.hub_client) against a real HTTP stand-in for the proxy
in front of the service's replicas, which answers each request as the test says: a proxy's
own error page when the replica it chose is gone, or the service's JSON.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jupyter_nevis_auth.core.config import NevisAuth
from jupyter_nevis_auth.server.hub_client import HubServiceClient

TOKEN = {"access_token": "stand-in", "claims": {"sub": "alice"}}
#: What JupyterHub's proxy answers when the service's replica it chose does not answer.
PROXY_PAGE = (503, "text/html", b"<html><body>Service Unavailable</body></html>")
#: The service's own 503: its store is down, at every replica alike.
STORE_DOWN = {"error": "store_unavailable", "message": "The token store is unavailable."}


class StandIn(ThreadingHTTPServer):
    """Answers each request with the next of `answers`; counts the requests by method."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.answers: list[tuple[int, str, bytes]] = []
        self.asked: list[str] = []


class Handler(BaseHTTPRequestHandler):
    server: StandIn

    def answer(self) -> None:
        self.server.asked.append(self.command)
        status, kind, body = self.server.answers.pop(0)
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = answer

    def log_message(self, *args: object) -> None:
        """Quiet."""


def as_json(status: int, data: dict[str, object]) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(data).encode()


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(stand_in: StandIn) -> HubServiceClient:
    url = f"http://127.0.0.1:{stand_in.server_address[1]}/services/nevis-auth/"
    config = NevisAuth(hub_service_url=url, http_timeout=5.0)
    return HubServiceClient(config, "server-token", logging.getLogger("hub-mode"))


async def test_a_read_the_proxy_could_not_deliver_is_asked_again(
    stand_in: StandIn, client: HubServiceClient
) -> None:
    stand_in.answers = [PROXY_PAGE, as_json(200, TOKEN)]
    assert await client.call("GET", "api/token") == (200, TOKEN)
    assert stand_in.asked == ["GET", "GET"]


async def test_a_read_is_asked_again_once_only(stand_in: StandIn, client: HubServiceClient) -> None:
    stand_in.answers = [PROXY_PAGE, PROXY_PAGE, as_json(200, TOKEN)]
    status, answer = await client.call("GET", "api/token")
    assert status == 502 and "without JSON" in answer["message"]
    assert stand_in.asked == ["GET", "GET"]


@pytest.mark.parametrize(
    ("method", "first"),
    [
        # A change is never sent twice: the first may have been made.
        ("POST", PROXY_PAGE),
        ("DELETE", PROXY_PAGE),
        # The service's own failure: another replica would say the same.
        ("GET", as_json(503, STORE_DOWN)),
    ],
)
async def test_no_second_try(
    stand_in: StandIn, client: HubServiceClient, method: str, first: tuple[int, str, bytes]
) -> None:
    stand_in.answers = [first, as_json(200, TOKEN)]
    status, _answer = await client.call(method, "api/token")
    assert status in (502, 503)
    assert stand_in.asked == [method]


async def test_a_read_whose_connection_failed_is_asked_again(
    stand_in: StandIn, client: HubServiceClient
) -> None:
    # The replica's connection closed without an answer, as when it is killed.
    original = Handler.answer

    def drop_first(handler: Handler) -> None:
        if not handler.server.asked:
            handler.server.asked.append("dropped")
            handler.close_connection = True
            handler.connection.close()
            return
        original(handler)

    Handler.do_GET = drop_first  # type: ignore[method-assign]
    try:
        stand_in.answers = [as_json(200, TOKEN)]
        assert await client.call("GET", "api/token") == (200, TOKEN)
    finally:
        Handler.do_GET = original  # type: ignore[method-assign]
    assert stand_in.asked == ["dropped", "GET"]
