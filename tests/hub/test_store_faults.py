"""The hub service's store under faults: PostgreSQL restarted, a provider answering late.

The service's own AuthCore over its SQL store, on a real PostgreSQL server (stopped and
started again) and on SQLite, against the real provider with refresh-token rotation: a
refresh token works once, and its reuse ends the whole grant. After each fault the next
forced refresh must succeed and the provider must have refused no refresh token.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.fernet import Fernet

from jupyter_nevis_auth.core.auth import AuthCore
from jupyter_nevis_auth.core.config import NevisAuth
from jupyter_nevis_auth.core.tokens import TokenSet
from jupyter_nevis_auth.errors import ProviderTimeoutError, StoreUnavailableError
from jupyter_nevis_auth.hub.service import sql_engine
from jupyter_nevis_auth.hub.service.sql_store import UNAVAILABLE, SQLTokenStore, make_fernet
from tests.support.postgres import PostgresServer, running_postgres
from tests.support.provider import OIDCTestProvider, RegisteredClient, provider_login

pytestmark = pytest.mark.hub

REDIRECT_URI = "http://127.0.0.1:9/services/nevis-auth/callback"
#: Seconds callers wait for the provider (NevisAuth.http_timeout).
CALLER_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the module's own, which tests stop and start."""
    yield from running_postgres()


@pytest.fixture
def client(oidc_provider: OIDCTestProvider) -> RegisteredClient:
    """A client with rotation: a refresh token used twice ends the grant."""
    return oidc_provider.add_client([REDIRECT_URI], rotate_refresh_token=True, access_token_ttl=60)


class Service:
    """The service's AuthCore over a SQL store, one user, and the provider's counters."""

    def __init__(self, service: AuthCore, provider: OIDCTestProvider, client: RegisteredClient):
        self.service = service
        self.provider = provider
        self.client = client
        self.user = "alice"

    async def sign_in(self) -> TokenSet:
        """The code flow at the provider's real form, finished as the callback would."""
        login, url = await self.service.start_login(REDIRECT_URI, "/")
        callback = await asyncio.to_thread(
            provider_login, url, self.user, redirect_prefix=REDIRECT_URI
        )
        params = {k: v[0] for k, v in parse_qs(urlparse(callback).query).items()}
        await self.service.finish_login(self.user, params, login.browser_key)
        tokens = await self.stored()
        assert tokens is not None
        return tokens

    async def stored(self) -> TokenSet | None:
        return await self.service.tokens.store.get(self.user)

    async def expire(self) -> None:
        """Make the access token due, as time passing would."""
        tokens = await self.stored()
        assert tokens is not None
        gone = time.time() - 1
        moved = dataclasses.replace(tokens, expires_at=gone, obtained_at=gone - 3600)
        await self.service.tokens.store.set(self.user, moved)

    def refreshes(self) -> dict[str, int]:
        counter = self.provider.stats(self.client.client_id)["token"].get("refresh_token", {})
        return {"ok": counter.get("ok", 0), "error": counter.get("error", 0)}

    async def no_grant_lost(self, refreshes: int) -> None:
        """The next forced refresh works, and the provider refused no refresh token."""
        forced = await self.service.tokens.fresh(self.user, force=True)
        assert forced.claims["sub"] == self.user
        assert self.refreshes() == {"ok": refreshes + 1, "error": 0}


def make_service(
    db_url: str, key: str, provider: OIDCTestProvider, client: RegisteredClient
) -> Service:
    config = NevisAuth(
        **client.nevis_settings(provider.issuer, http_timeout=CALLER_TIMEOUT, refresh_leeway=2)
    )
    store = SQLTokenStore(db_url, make_fernet(key), parent=config)
    return Service(AuthCore(config, store, log=logging.getLogger("nevis-faults")), provider, client)


@pytest.fixture
def on_postgres(
    postgres: PostgresServer, oidc_provider: OIDCTestProvider, client: RegisteredClient
) -> Iterator[Service]:
    """The service with its store on the module's PostgreSQL."""
    service = make_service(postgres.url, Fernet.generate_key().decode(), oidc_provider, client)
    yield service
    postgres.start()  # whatever the test left it as
    service.service.tokens.store.close()


async def test_postgres_restarted_while_a_refresh_is_due(
    on_postgres: Service, postgres: PostgresServer, caplog: pytest.LogCaptureFixture
):
    service = on_postgres
    await service.sign_in()
    await service.expire()
    postgres.stop()
    try:
        with caplog.at_level(logging.INFO):
            for _ in range(3):
                started = time.monotonic()
                with pytest.raises(StoreUnavailableError) as raised:
                    await service.service.tokens.fresh(service.user)
                assert time.monotonic() - started < 6
        assert str(raised.value) == UNAVAILABLE and raised.value.status_code == 503
        # Never started: its answer could not have been kept.
        assert service.refreshes() == {"ok": 0, "error": 0}
    finally:
        postgres.start()

    fresh = await service.service.tokens.fresh(service.user)
    assert fresh.expires_in() > 30
    await service.no_grant_lost(refreshes=1)
    # One line when the database went away, one when it came back; nothing per request.
    log = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert [m for m in log if m.startswith("The token database")] == [
        f"The token database {service.service.tokens.store.where} cannot be reached "
        "(OperationalError): requests that need it get 503 until it is back.",
        f"The token database {service.service.tokens.store.where} is reachable again.",
    ]
    assert len(log) == 2 + len([m for m in log if "Signed in alice" in m]), log
    assert "Traceback" not in caplog.text


async def test_connections_idle_through_a_postgres_restart_are_tested_before_use(
    on_postgres: Service, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
):
    # Nobody asked the database while it restarted: the pool still holds dead connections.
    monkeypatch.setattr(sql_engine, "IDLE_PING_SECONDS", 0.5)
    service = on_postgres
    await service.sign_in()
    store = service.service.tokens.store
    postgres.stop()
    postgres.start()
    await asyncio.sleep(0.6)
    assert await store.keys() == [service.user]
    assert store.reachable


async def test_a_refresh_answered_while_postgres_is_down_is_kept_and_written_later(
    on_postgres: Service, postgres: PostgresServer
):
    service = on_postgres
    first = await service.sign_in()
    await service.expire()
    service.provider.delay_token_answers(service.client.client_id, CALLER_TIMEOUT + 2)
    try:
        with pytest.raises(ProviderTimeoutError):
            await service.service.tokens.fresh(service.user)
        # The provider has rotated the refresh token; its answer comes while the database
        # is down.
        postgres.stop()
        await asyncio.sleep(3)
    finally:
        service.provider.delay_token_answers(service.client.client_id, 0)
    kept = await service.service.tokens.fresh(service.user)
    assert kept.refresh_token != first.refresh_token and kept.expires_in() > 30

    postgres.start()
    await asyncio.sleep(3)  # the store's next try to write what it kept

    again = SQLTokenStore(postgres.url, service.service.tokens.store.fernet)
    try:
        assert (await again.get(service.user)).refresh_token == kept.refresh_token
    finally:
        again.close()
    await service.no_grant_lost(refreshes=1)


async def test_on_sqlite_a_late_answer_is_kept(
    tmp_path: Path, oidc_provider: OIDCTestProvider, client: RegisteredClient
):
    service = make_service(
        f"sqlite:///{tmp_path / 'nevis_auth_hub.sqlite'}",
        Fernet.generate_key().decode(),
        oidc_provider,
        client,
    )
    first = await service.sign_in()
    await service.expire()
    service.provider.delay_token_answers(service.client.client_id, CALLER_TIMEOUT + 2)
    try:
        with pytest.raises(ProviderTimeoutError):
            await service.service.tokens.fresh(service.user)
        await asyncio.sleep(2.5)
    finally:
        service.provider.delay_token_answers(service.client.client_id, 0)
    kept = await service.stored()
    assert kept.refresh_token != first.refresh_token
    await service.no_grant_lost(refreshes=1)
    service.service.tokens.store.close()
