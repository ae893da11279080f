"""Refresh before expiry, single flight, invalid_grant and outages, against the real provider."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from jupyter_nevis_auth.core.refresh import INVALID_REFRESH, SIGNED_OUT_AT_PROVIDER
from jupyter_nevis_auth.core.stores import MemoryTokenStore
from jupyter_nevis_auth.core.tokens import TokenSet
from jupyter_nevis_auth.errors import LoginRequiredError, ProviderError, ProviderTimeoutError
from tests.conftest import Browser
from tests.support.provider import OIDCTestProvider, RegisteredClient

LEEWAY = 2


@pytest.fixture
def client_options() -> dict[str, Any]:
    return {"access_token_ttl": 4, "rotate_refresh_token": True}


@pytest.fixture
def nevis_config(nevis_config: dict[str, Any]) -> dict[str, Any]:
    return {**nevis_config, "refresh_leeway": LEEWAY}


class Session:
    """The signed-in user as the server holds them, and the provider's view of the client."""

    def __init__(
        self,
        jp_serverapp: Any,
        provider: OIDCTestProvider,
        client: RegisteredClient,
        browser: Browser,
        redirect_uri: str,
        username: str,
    ) -> None:
        self.service = jp_serverapp.web_app.settings["nevis_auth"]
        self.user = jp_serverapp.web_app.settings["nevis_auth_owner"]
        self.provider = provider
        self.client = client
        self.browser = browser
        self.redirect_uri = redirect_uri
        self.username = username

    async def sign_in(self) -> TokenSet:
        """The whole code flow in the browser; returns the tokens it stored."""
        response = await self.browser.sign_in(self.username, redirect_uri=self.redirect_uri)
        assert response.code == 302
        tokens = await self.stored()
        assert tokens is not None
        return tokens

    async def stored(self) -> TokenSet | None:
        return await self.service.tokens.store.get(self.user)

    async def current(self, **kwargs: Any) -> TokenSet:
        return await self.service.tokens.fresh(self.user, **kwargs)

    async def expire(self, at: float | None = None) -> TokenSet:
        """Move the access token's expiry to `at` (default: just now), as time passing would.

        The provider still honours the refresh token; obtained_at moves along so that the
        token's lifetime stays long and the configured leeway applies.
        """
        tokens = await self.stored()
        assert tokens is not None
        at = time.time() - 1 if at is None else at
        moved = dataclasses.replace(tokens, expires_at=at, obtained_at=at - 3600)
        await self.service.tokens.store.set(self.user, moved)
        return moved

    def refreshes(self) -> dict[str, int]:
        counter = self.provider.stats(self.client.client_id)["token"].get("refresh_token", {})
        return {"ok": counter.get("ok", 0), "error": counter.get("error", 0)}


@pytest.fixture
def session(
    browser: Browser, redirect_uri, username, jp_serverapp, oidc_provider, oidc_client
) -> Session:
    return Session(jp_serverapp, oidc_provider, oidc_client, browser, redirect_uri, username)


async def status(browser: Browser) -> dict[str, Any]:
    response = await browser.get("nevis", "api", "status")
    assert response.code == 200
    return json.loads(response.body)


async def sleep_until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.time()))


async def test_refreshes_before_expiry_and_replaces_the_refresh_token(session, browser):
    first = await session.sign_in()
    assert (await status(browser))["expires_at"] == first.expires_at
    assert session.refreshes() == {"ok": 0, "error": 0}

    await sleep_until(first.expires_at - LEEWAY + 0.3)
    body = await status(browser)
    refreshed_at = time.time()

    assert refreshed_at < first.expires_at
    assert session.refreshes() == {"ok": 1, "error": 0}
    fresh = await session.stored()
    assert fresh.access_token != first.access_token
    assert fresh.refresh_token != first.refresh_token
    assert fresh.claims["sub"] == first.claims["sub"]
    assert body["logged_in"] is True
    assert body["expires_at"] == fresh.expires_at > first.expires_at
    assert body["refresh_possible"] is True
    assert body["last_refresh_error"] is None


async def test_a_token_close_to_due_is_refreshed_in_the_background_once(session):
    first = await session.sign_in()
    manager = session.service.tokens
    # Due LEEWAY before expiry; the background refresh may start `ahead` earlier still,
    # at most a quarter of the time the token is used before it is due.
    assert 0 < manager.ahead(first, LEEWAY) <= (first.lifetime() - LEEWAY) / 4
    # Halfway through that window (an hour-long token: `ahead` is refresh_ahead), with
    # seconds to spare on either side however late this test runs.
    ahead = manager.refresh_ahead
    close = await session.expire(at=time.time() + LEEWAY + ahead / 2)
    assert manager.ahead(close, LEEWAY) == ahead
    # The provider answers a second late: a caller who waited for it would show.
    session.provider.delay_token_answers(session.client.client_id, 1.0)
    try:
        started = time.monotonic()
        answers = await asyncio.gather(*(session.current() for _ in range(10)))
        answered_in = time.monotonic() - started
        assert all(tokens is close for tokens in answers)  # with the current token,
        assert answered_in < 1.0  # at once
        deadline = time.monotonic() + 4
        while (fresh := await session.stored()) == close:
            assert time.monotonic() < deadline, "no refresh in the background"
            await asyncio.sleep(0.05)
    finally:
        session.provider.delay_token_answers(session.client.client_id, 0)
    assert session.refreshes() == {"ok": 1, "error": 0}
    assert fresh.refresh_token != first.refresh_token
    assert await session.current() is fresh


async def test_a_token_asked_for_before_its_window_is_refreshed_when_it_opens(session):
    first = await session.sign_in()
    ahead = session.service.tokens.ahead(first, LEEWAY)
    assert await session.current() is first  # once, long before its refresh window
    # Nobody asks in the window; the refresh starts in it all the same.
    while (fresh := await session.stored()) == first:
        assert time.time() < first.expires_at, "the token expired unrefreshed"
        await asyncio.sleep(0.05)
    assert fresh.obtained_at >= first.expires_at - LEEWAY - ahead
    assert session.refreshes() == {"ok": 1, "error": 0}
    assert fresh.refresh_token != first.refresh_token
    # The next caller gets the new tokens without waiting for the provider.
    assert await session.current() == fresh
    assert session.refreshes() == {"ok": 1, "error": 0}


async def test_short_lived_tokens_are_not_refreshed_on_every_request(session):
    first = await session.sign_in()
    for _ in range(5):
        # Asking for more time than the token ever had must not refresh each call.
        assert await session.current(min_ttl=60) is first
    assert session.refreshes() == {"ok": 0, "error": 0}


class TestCallersAtExpiry:
    @pytest.fixture
    def client_options(self) -> dict[str, Any]:
        # The refreshed token must not be due before the last of the 100 callers is answered
        # on a busy machine: due 6 s after it came (LEEWAY before its expiry), not 2 s.
        return {"access_token_ttl": 8, "rotate_refresh_token": True}

    async def test_concurrent_callers_at_expiry_share_one_refresh(self, session, browser):
        session.service.tokens.refresh_ahead = 0
        first = await session.sign_in()
        await session.expire()

        direct = [session.current() for _ in range(50)]
        over_http = [status(browser) for _ in range(50)]
        started = time.monotonic()
        results = await asyncio.gather(*direct, *over_http)
        took = time.monotonic() - started

        fresh = await session.stored()
        seen = {t.expires_at for t in results[:50]} | {b["expires_at"] for b in results[50:]}
        # Should it fail: how long the callers took, and how many different tokens they got.
        why = f"answered in {took:.2f} s with {len(seen)} tokens; stored {fresh.expires_at}"
        assert session.refreshes() == {"ok": 1, "error": 0}, why
        assert all(tokens is fresh for tokens in results[:50])
        assert fresh.access_token != first.access_token
        assert {body["expires_at"] for body in results[50:]} == {fresh.expires_at}

        # Twice more at expiry: every refresh uses the newest refresh token, none is replayed.
        for _ in range(2):
            await session.expire()
            await asyncio.gather(*(session.current() for _ in range(20)))
        assert session.refreshes() == {"ok": 3, "error": 0}
        assert (await status(browser))["logged_in"] is True


class TestWithoutRotation:
    @pytest.fixture
    def client_options(self) -> dict[str, Any]:
        return {"access_token_ttl": 4, "echo_refresh_token": False}

    async def test_the_old_refresh_token_is_kept_when_none_comes_back(self, session):
        first = await session.sign_in()
        await session.expire()
        fresh = await session.current()
        assert fresh.access_token != first.access_token
        assert fresh.refresh_token == first.refresh_token
        assert fresh.id_token and fresh.claims["sub"] == first.claims["sub"]
        await session.expire()
        assert (await session.current()).refresh_token == first.refresh_token
        assert session.refreshes() == {"ok": 2, "error": 0}


async def test_invalid_grant_signs_out_with_the_reason(session, browser):
    tokens = await session.sign_in()
    with requests.post(
        session.provider.revocation_endpoint,
        data={"token": tokens.refresh_token, "token_type_hint": "refresh_token"},
        auth=(session.client.client_id, session.client.client_secret),
        timeout=10,
    ) as revoked:
        assert revoked.status_code == 200
    await session.expire()

    body = await status(browser)

    assert body["logged_in"] is False
    assert body["signed_out_reason"] == SIGNED_OUT_AT_PROVIDER
    assert "claims" not in body
    with pytest.raises(LoginRequiredError) as raised:
        await session.current()
    assert str(raised.value) == SIGNED_OUT_AT_PROVIDER and raised.value.status_code == 401
    assert session.refreshes() == {"ok": 0, "error": 1}


@pytest.mark.parametrize(
    ("claim", "before"), [("sub", "mallory"), ("iss", "https://old-issuer.example")]
)
async def test_refreshed_id_token_must_keep_subject_and_issuer(session, browser, claim, before):
    tokens = await session.sign_in()
    # As if the first sign-in had been for another user, or at another issuer.
    await session.service.tokens.store.set(
        session.user,
        dataclasses.replace(tokens, claims={**tokens.claims, claim: before}, expires_at=0.0),
    )

    body = await status(browser)

    assert body["logged_in"] is False
    assert body["signed_out_reason"] == INVALID_REFRESH
    # Not retried: the refused answer held the only valid (rotated) refresh token.
    assert session.refreshes() == {"ok": 1, "error": 0}


class SlowStore(MemoryTokenStore):
    """A store whose answers arrive late, as from a database across the network."""

    async def get(self, user: str) -> TokenSet | None:
        tokens = await super().get(user)
        await asyncio.sleep(0.02)
        return tokens


class TestSlowStore:
    @pytest.fixture
    def nevis_config(self, nevis_config: dict[str, Any]) -> dict[str, Any]:
        return {**nevis_config, "token_store_class": f"{__name__}.SlowStore"}

    async def test_late_callers_never_replay_a_rotated_refresh_token(self, session):
        await session.sign_in()
        await session.expire()

        async def caller(delay: float) -> TokenSet:
            await asyncio.sleep(delay)
            return await session.current()

        # Some callers read the old tokens just before the refresh stores the new ones.
        results = await asyncio.gather(*(caller(i * 0.005) for i in range(60)))

        fresh = await session.stored()
        assert session.refreshes() == {"ok": 1, "error": 0}
        assert all(tokens == fresh for tokens in results)


class TestProviderOutage:
    @pytest.fixture
    def oidc_provider(self) -> Iterator[OIDCTestProvider]:
        """A private provider this test may stop."""
        with OIDCTestProvider() as provider:
            yield provider

    @pytest.fixture
    def nevis_config(self, nevis_config: dict[str, Any]) -> dict[str, Any]:
        return {**nevis_config, "http_timeout": 3.0, "refresh_leeway": 4}

    async def test_down_serves_the_valid_token_then_502_then_recovers(
        self, session, browser, jp_fetch
    ):
        first = await session.sign_in()
        session.provider.stop()

        valid = await session.expire(at=time.time() + 3.5)
        started = time.monotonic()
        assert await session.current() is valid
        assert time.monotonic() - started < 3.5
        body = await status(browser)
        assert body["logged_in"] is True
        assert body["last_refresh_error"] == (
            "The provider's token endpoint could not be reached; try again later."
        )
        # Right after a failure the still-valid token is served without waiting again.
        started = time.monotonic()
        assert await session.current() is valid
        assert time.monotonic() - started < 0.2

        await session.expire()
        started = time.monotonic()
        # Callers waiting together share one round of retries, however many they are.
        pending = asyncio.gather(*(session.current() for _ in range(10)), return_exceptions=True)
        assert (await jp_fetch("api", "status")).code == 200
        assert time.monotonic() - started < 0.5
        errors = await pending
        assert time.monotonic() - started < 3.5
        assert {type(e) for e in errors} == {ProviderError}
        assert {e.status_code for e in errors} == {502}
        assert "could not be reached" in str(errors[0])

        # The provider comes back while a caller's refresh is being retried.
        pending = asyncio.ensure_future(session.current())
        await asyncio.to_thread(session.provider.start)
        fresh = await pending
        assert fresh.access_token != first.access_token
        assert (await status(browser))["last_refresh_error"] is None

    async def test_slow_provider_gives_504_within_the_timeout(self, session, jp_fetch):
        await session.sign_in()
        await session.expire()
        pid = session.provider._process.pid  # the provider process, frozen to stop answering
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            pending = asyncio.ensure_future(session.current())
            assert (await jp_fetch("api", "status")).code == 200
            assert time.monotonic() - started < 0.5
            with pytest.raises(ProviderTimeoutError) as raised:
                await pending
            assert time.monotonic() - started < 4.5
        finally:
            os.kill(pid, signal.SIGCONT)
        assert raised.value.status_code == 504
        assert "did not answer within 3 seconds" in str(raised.value)
