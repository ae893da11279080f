"""Calls to JupyterHub and its services: the provider's timeout, size limit and sentences.

A stand-in API plays a hub or a service that misbehaves; the three callers (the service
reading auth_state, the hub's refresh_user_hook, a hub-mode server) go through HubHTTP.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.testing import bind_unused_port

from jupyter_nevis_auth.errors import UpstreamError, UpstreamTimeoutError
from jupyter_nevis_auth.hub import refresh_hook as hook
from jupyter_nevis_auth.hub.rest import HubHTTP
from jupyter_nevis_auth.hub.service.grants import HubUsers
from jupyter_nevis_auth.oidc.http import MAX_ANSWER_BYTES

TOKEN = "the-api-token-of-the-caller"
#: A well-formed answer, but longer than any answer is read.
HUGE = json.dumps(
    {"name": "alice", "auth_state": {"access_token": "a" * MAX_ANSWER_BYTES}}
).encode()


class StandIn(web.RequestHandler):
    """Answers as the test says: what it was asked, a huge answer, or nothing for a while."""

    def initialize(self, seen: list[dict[str, Any]], release: asyncio.Event) -> None:
        self.seen = seen
        self.release = release

    async def get(self, path: str) -> None:
        await self.answer(path)

    async def post(self, path: str) -> None:
        await self.answer(path)

    async def answer(self, path: str) -> None:
        self.seen.append(
            {
                "method": self.request.method,
                "path": path,
                "query": self.request.query,
                "body": self.request.body.decode(),
                "authorization": self.request.headers.get("Authorization"),
            }
        )
        if path.startswith("slow/"):
            await self.release.wait()
        elif path.startswith(("huge/", "users/")) or path.endswith("auth_state"):
            self.write(HUGE)
        else:
            self.write({"path": path})


@pytest.fixture
def stand_in(io_loop: IOLoop) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The stand-in's URL and the requests it saw."""
    seen: list[dict[str, Any]] = []
    release = asyncio.Event()
    sock, port = bind_unused_port()
    app = web.Application([(r"/api/(.*)", StandIn, {"seen": seen, "release": release})])
    server = HTTPServer(app)
    server.add_sockets([sock])
    yield f"http://127.0.0.1:{port}/api", seen
    release.set()
    server.stop()
    io_loop.run_sync(server.close_all_connections)


async def test_parameters_go_in_the_query_or_a_posts_body_with_the_token(stand_in):
    url, seen = stand_in
    api = HubHTTP(url, TOKEN, logging.getLogger("test"), what="JupyterHub", timeout=5)
    got = await api.call("GET", "echo", {"user": "alice", "empty": ""})
    assert (got.code, json.loads(got.body)) == (200, {"path": "echo"})
    await api.call("POST", "echo", {"user": "bob"})
    assert [(s["method"], s["query"], s["body"]) for s in seen] == [
        ("GET", "user=alice", ""),
        ("POST", "", "user=bob"),
    ]
    assert {s["authorization"] for s in seen} == {f"token {TOKEN}"}


async def test_an_answer_too_large_is_refused_with_a_sentence(stand_in, caplog):
    url, _ = stand_in
    api = HubHTTP(url, TOKEN, logging.getLogger("test"), what="JupyterHub", timeout=5)
    with pytest.raises(UpstreamError) as refused:
        await api.call("GET", "huge/users", {"user": "alice"})
    assert str(refused.value) == (
        "JupyterHub sent an answer larger than 1024 KiB, which was refused; try again later."
    )
    # What the client logs (the stand-in's own access log is another logger's, with its query).
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name == "test")
    assert f"GET {url}/huge/users failed: answer too large" in ours
    assert "alice" not in ours and TOKEN not in caplog.text


async def test_a_call_ends_at_its_timeout_with_a_sentence(stand_in):
    url, _ = stand_in
    api = HubHTTP(url, TOKEN, logging.getLogger("test"), what="the service", timeout=0.5)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeoutError) as late:
        await api.call("GET", "slow/x")
    assert time.monotonic() - started < 3
    assert str(late.value) == "The service did not answer within 0.5 seconds; try again later."
    assert late.value.status_code == 504


async def test_the_service_reading_auth_state_refuses_a_huge_user_model(stand_in, caplog):
    url, seen = stand_in
    users = HubUsers(url, TOKEN, logging.getLogger("test"), timeout=5)
    assert await users.grant("alice") is None
    assert seen[0]["path"] == "users/alice"
    assert (
        "JupyterHub's auth_state of alice could not be read: JupyterHub sent an answer larger "
        "than 1024 KiB, which was refused; try again later."
    ) in caplog.text


def hub_user(url: str) -> SimpleNamespace:
    """A user as JupyterHub hands it to refresh_user_hook, with the service at `url`."""
    service = SimpleNamespace(url=url.removesuffix("/api"), prefix="/api/", api_token=TOKEN)
    return SimpleNamespace(name="alice", settings={"services": {"nevis-auth": service}})


async def test_the_hubs_refresh_hook_keeps_auth_state_at_a_huge_answer(stand_in, caplog):
    url, seen = stand_in
    authenticator = SimpleNamespace(log=logging.getLogger("hub"))
    kept = await hook.refresh_user_hook(authenticator, hub_user(url), {"access_token": "old"})
    assert kept is True
    assert (seen[0]["path"], seen[0]["query"]) == (hook.PATH, "user=alice")
    assert (
        "alice's auth_state is kept as it is: The nevis-auth service sent an answer larger "
        "than 1024 KiB, which was refused; try again later."
    ) in caplog.text


async def test_the_hubs_refresh_hook_gives_up_at_its_timeout(stand_in, caplog, monkeypatch):
    url, _ = stand_in
    monkeypatch.setattr(hook, "TIMEOUT", 0.5)
    user = hub_user(url)
    user.settings["services"]["nevis-auth"].prefix = "/api/slow/"
    authenticator = SimpleNamespace(log=logging.getLogger("hub"))
    started = time.monotonic()
    assert await hook.refresh_user_hook(authenticator, user, {}) is True
    assert time.monotonic() - started < 3
    assert "The nevis-auth service did not answer within 0.5 seconds" in caplog.text
