"""JupyterHub's answers about servers' tokens, as the service keeps them (ServerTokens).

Against a real JupyterHub (tests/hub/jupyterhub_config.py) and the tokens it makes for a
server; the hub is asked through JupyterHub's own HubAuth, counted on the way.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest
import requests
from jupyterhub.services.auth import HubAuth

from jupyter_nevis_auth.hub.service.caller import (
    FIRST_RECHECK_FROM,
    NOT_KNOWN_TO_HUB,
    RECHECK_FROM,
    RECHECK_TO,
    ServerCaller,
    ServerTokens,
)
from tests.hub.harness import JupyterHub
from tests.support.hub import HubSpec
from tests.support.provider import HTTP_TIMEOUT

pytestmark = pytest.mark.hub

MAX_AGE = 1.0


class CountingHubAuth(HubAuth):
    """JupyterHub's HubAuth, counting the questions it sends."""

    questions = 0

    def user_for_token(self, token: str, *args: Any, **kwargs: Any) -> Any:
        """Ask the hub, and count it."""
        self.questions += 1
        return super().user_for_token(token, *args, **kwargs)


@pytest.fixture(scope="module")
def hub_spec() -> HubSpec:
    """A per-server hub of its own for the module."""
    return HubSpec(name="tokens-hub")


@pytest.fixture(scope="module")
def admin_token(hub: JupyterHub) -> str:
    """An admin's API token."""
    with hub.browser("admin") as admin:
        admin.log_in()
        return admin.api_token()


def server_token(hub: JupyterHub, admin_token: str, user: str) -> tuple[str, str]:
    """A token such as JupyterHub gives `user`'s default server: its id and the token."""
    made = requests.post(
        f"{hub.url}/hub/api/users/{user}/tokens",
        timeout=HTTP_TIMEOUT,
        headers={"Authorization": f"token {admin_token}"},
        json={"scopes": [f"access:servers!server={user}/"], "note": "a server's"},
    )
    assert made.status_code == 201, made.text
    return made.json()["id"], made.json()["token"]


async def timed(tokens: ServerTokens, auth: CountingHubAuth, token: str) -> tuple[Any, bool]:
    """A verdict, and whether the request waited for a question to JupyterHub."""
    before = auth.questions
    verdict = await tokens.verdict(token)
    return verdict, auth.questions > before


def test_a_server_that_keeps_asking_never_waits_and_a_revoked_token_ends_in_time(
    hub: JupyterHub, admin_token: str
) -> None:
    token_id, token = server_token(hub, admin_token, "alice")
    auth = CountingHubAuth(api_url=hub.url + "/hub/api", api_token=admin_token)

    async def scenario() -> None:
        tokens = ServerTokens(auth, MAX_AGE)
        assert await timed(tokens, auth, token) == (ServerCaller("alice", ""), True)
        # Asking every 0.1 s for three times the answers' age: none waits for the hub,
        # which is asked again in the background, about once per answer's age.
        waited = []
        end = time.monotonic() + 3 * MAX_AGE
        while time.monotonic() < end:
            verdict, asked = await timed(tokens, auth, token)
            assert verdict == ServerCaller("alice", "")
            waited.append(asked)
            await asyncio.sleep(0.1)
        assert not any(waited) and 3 <= auth.questions <= 5

        # Revoked: refused at most MAX_AGE after the hub's last answer (plus its question).
        gone = requests.delete(
            f"{hub.url}/hub/api/users/alice/tokens/{token_id}",
            timeout=HTTP_TIMEOUT,
            headers={"Authorization": f"token {admin_token}"},
        )
        assert gone.status_code == 204
        revoked = time.monotonic()
        while (await tokens.verdict(token)) != NOT_KNOWN_TO_HUB:
            assert time.monotonic() - revoked < MAX_AGE + 2  # + the question itself
            await asyncio.sleep(0.05)

        # A token unused for longer than an answer's age is asked about again, waiting.
        _, other = server_token(hub, admin_token, "bob")
        assert await timed(tokens, auth, other) == (ServerCaller("bob", ""), True)
        await asyncio.sleep(MAX_AGE + 0.2)
        assert await timed(tokens, auth, other) == (ServerCaller("bob", ""), True)

    asyncio.run(scenario())


def test_a_tokens_first_recheck_is_spread_wider_than_the_later_ones(
    hub: JupyterHub, admin_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Servers first seen together (after a restart of the service) must not be asked about
    # again together: the first question back is drawn from most of the answer's age.
    _, token = server_token(hub, admin_token, "alice")
    auth = CountingHubAuth(api_url=hub.url + "/hub/api", api_token=admin_token)
    drawn: list[tuple[float, float]] = []
    uniform = random.uniform

    def recording(a: float, b: float) -> float:
        drawn.append((a, b))
        return uniform(a, b)

    monkeypatch.setattr(random, "uniform", recording)

    async def scenario() -> None:
        tokens = ServerTokens(auth, MAX_AGE)
        assert await tokens.verdict(token) == ServerCaller("alice", "")
        end = time.monotonic() + 2 * MAX_AGE
        while time.monotonic() < end:
            await tokens.verdict(token)
            await asyncio.sleep(0.1)

    asyncio.run(scenario())
    assert drawn[0] == (FIRST_RECHECK_FROM, RECHECK_TO)
    assert len(drawn) >= 2 and set(drawn[1:]) == {(RECHECK_FROM, RECHECK_TO)}
    assert FIRST_RECHECK_FROM < RECHECK_FROM
