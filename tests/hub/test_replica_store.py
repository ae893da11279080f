"""Replicas of the hub service on one PostgreSQL database, at the level of their stores.

Two (or three) AuthServices, each over its own SQLTokenStore in `shared` mode on the same
real PostgreSQL, as replica processes would be, against the real provider with refresh-token
rotation: a refresh token works once, and its reuse ends the whole grant.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, event, text, update

from jupyter_nevis_auth.core.auth import SIGNED_OUT, AuthCore
from jupyter_nevis_auth.core.config import NevisAuth
from jupyter_nevis_auth.core.device_signin import DONE, PENDING, DeviceSignIn
from jupyter_nevis_auth.core.refresh import SIGNED_OUT_AT_PROVIDER
from jupyter_nevis_auth.core.tokens import TokenSet
from jupyter_nevis_auth.core.urls import extension_pages
from jupyter_nevis_auth.errors import (
    CallbackError,
    LoginRequiredError,
    RefreshElsewhereError,
    StoreUnavailableError,
)
from jupyter_nevis_auth.hub.service import change_feed
from jupyter_nevis_auth.hub.service import replicas as replicas_module
from jupyter_nevis_auth.hub.service.change_feed import APPLICATION_NAME, MAX_PAYLOAD, notice
from jupyter_nevis_auth.hub.service.leases import leases_table
from jupyter_nevis_auth.hub.service.replicas import SharedSignIns
from jupyter_nevis_auth.hub.service.shared_links import SharedLinks
from jupyter_nevis_auth.hub.service.sql_store import SQLTokenStore, make_fernet, row_id
from jupyter_nevis_auth.oidc.device_grant import DeviceCode
from tests.support.postgres import PostgresServer, running_postgres
from tests.support.provider import OIDCTestProvider, RegisteredClient, provider_login

pytestmark = pytest.mark.hub

REDIRECT_URI = "http://127.0.0.1:9/services/nevis-auth/callback"
USER = "alice"
#: Seconds a replica trusts what it read, and a lease lasts without renewal, in these tests.
CACHE_SECONDS = 1.0
LEASE_SECONDS = 3.0


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the module."""
    yield from running_postgres()


@pytest.fixture(scope="module")
def provider() -> Iterator[OIDCTestProvider]:
    """A provider of the module's own: a test stops it (an outage) and starts it again."""
    with OIDCTestProvider() as started:
        yield started


@pytest.fixture
def client(provider: OIDCTestProvider) -> RegisteredClient:
    """A client with rotation: a refresh token used twice ends the grant."""
    return provider.add_client([REDIRECT_URI], rotate_refresh_token=True, access_token_ttl=60)


class Replicas:
    """Replicas' AuthServices on one database, and the provider's counters of their client."""

    def __init__(self, db_url: str, provider: OIDCTestProvider, client: RegisteredClient, n: int):
        key = Fernet.generate_key().decode()
        self.provider, self.client = provider, client
        settings = client.nevis_settings(provider.issuer, http_timeout=2.0, refresh_leeway=2)
        self.services: list[AuthCore] = []
        self.sign_ins: list[SharedSignIns] = []
        self.links: list[SharedLinks] = []
        for i in range(n):
            config = NevisAuth(**settings)
            store = SQLTokenStore(
                db_url,
                make_fernet(key),
                shared=True,
                cache_seconds=CACHE_SECONDS,
                lease_seconds=LEASE_SECONDS,
                parent=config,
            )
            log = logging.getLogger(f"nevis-replica-{i}")
            service = AuthCore(config, store, log=log)
            self.services.append(service)
            self.sign_ins.append(SharedSignIns(store, service.pending, log))
            self.links.append(SharedLinks(store, service.links, service.devices, log))

    async def sign_in(self) -> TokenSet:
        """The code flow at the provider's form, started and finished at the first replica."""
        return await self.sign_in_at(0)

    async def sign_in_at(self, i: int) -> TokenSet:
        """The code flow at the provider's form, started and finished at replica `i`."""
        for each in self.services:
            each.tokens.store.listen()  # as the service does once its loop runs
        service = self.services[i]
        login, url = await service.start_login(REDIRECT_URI, "/")
        callback = await asyncio.to_thread(provider_login, url, USER, redirect_prefix=REDIRECT_URI)
        params = {k: v[0] for k, v in parse_qs(urlparse(callback).query).items()}
        await service.finish_login(USER, params, login.browser_key)
        tokens = await service.tokens.store.get(USER)
        assert tokens is not None
        return tokens

    async def expire(self) -> None:
        """Make the stored access token due, as time passing would; wait out every cache."""
        store = self.services[0].tokens.store
        tokens = await store.get(USER)
        assert tokens is not None
        gone = time.time() - 1
        await store.set(USER, dataclasses.replace(tokens, expires_at=gone, obtained_at=gone - 60))
        await asyncio.sleep(CACHE_SECONDS + 0.2)

    def refreshes(self) -> dict[str, int]:
        counter = self.provider.stats(self.client.client_id)["token"].get("refresh_token", {})
        return {"ok": counter.get("ok", 0), "error": counter.get("error", 0)}

    async def stop(self) -> None:
        """As each replica stops: refreshes under way end, then the database is let go."""
        for service, sign_ins, links in zip(self.services, self.sign_ins, self.links, strict=True):
            await sign_ins.stop()
            await links.stop()
            await service.tokens.drain()
            await service.tokens.store.stop_listening()
            service.tokens.store.close()


@pytest.fixture
def replicas(
    postgres: PostgresServer, provider: OIDCTestProvider, client: RegisteredClient
) -> Replicas:
    """Three replicas on the module's PostgreSQL; each test stops them."""
    return Replicas(postgres.url, provider, client, 3)


async def test_concurrent_requests_spread_over_replicas_refresh_once(replicas: Replicas):
    first = await replicas.sign_in()
    await replicas.expire()
    answers = await asyncio.gather(
        *(s.tokens.fresh(USER) for s in replicas.services for _ in range(5))
    )
    assert replicas.refreshes() == {"ok": 1, "error": 0}
    assert {a.access_token for a in answers} == {answers[0].access_token}
    assert answers[0].refresh_token != first.refresh_token
    assert answers[0].expires_in() > 30
    # The next forced refresh, at another replica, uses the one rotated refresh token.
    forced = await replicas.services[2].tokens.fresh(USER, force=True)
    assert forced.access_token != answers[0].access_token
    assert replicas.refreshes() == {"ok": 2, "error": 0}
    await replicas.stop()


async def test_a_refresh_at_a_replica_takes_four_statements_in_three_calls_and_no_ping(
    replicas: Replicas,
):
    await replicas.sign_in()
    await replicas.expire()
    store = replicas.services[1].tokens.store
    await store.ping()  # its connections idled through the wait: the one used now is tested
    statements: list[str] = []
    texts: list[str] = []
    alone: list[bool] = []
    calls: list[int] = []
    pings: list[object] = []

    def seen(conn: Any, cursor: object, statement: str, *rest: object) -> None:
        statements.append(" ".join(statement.split("(")[0].split()[:3]))
        texts.append(statement)
        # psycopg sends no BEGIN and no COMMIT of its own for a statement in autocommit.
        alone.append(conn.connection.dbapi_connection.autocommit)

    def checked_out(*args: object) -> None:
        calls.append(len(statements))  # each call to the database takes a pooled connection

    event.listen(store.engine, "before_cursor_execute", seen)
    event.listen(store.engine.pool, "checkout", checked_out)
    ping = store.engine.dialect.do_ping
    store.engine.dialect.do_ping = lambda connection: pings.append(connection) or ping(connection)
    await replicas.services[1].tokens.fresh(USER)
    assert replicas.refreshes() == {"ok": 1, "error": 0}
    # A read, the lease in one statement, the read under it (no write to test that the
    # database takes one: the lease was one), then the write, the lease given back and the
    # notice in one statement.
    assert statements == [
        "SELECT nevis_auth_tokens.ciphertext FROM",
        "INSERT INTO nevis_auth_leases",
        "SELECT nevis_auth_tokens.ciphertext FROM",
        "WITH written AS",
    ]
    write = " ".join(texts[-1].split())
    assert "INSERT INTO nevis_auth_tokens" in write and "ON CONFLICT (id) DO UPDATE" in write
    assert "UPDATE nevis_auth_leases SET holder" in write and "pg_notify" in write
    # Three calls, each on a thread: the read; the lease and the read under it in one
    # transaction; the write alone, committed in the round trip that sends it.
    assert calls == [0, 1, 3]
    assert alone == [False, False, False, True]
    assert pings == []  # connections in use moments ago are not tested first
    await replicas.stop()


async def test_a_sign_out_at_one_replica_is_seen_by_the_others_within_the_cache_time(
    replicas: Replicas,
):
    await replicas.sign_in()
    other = replicas.services[1]
    assert await other.tokens.fresh(USER)
    await replicas.services[0].logout(USER)
    await asyncio.sleep(CACHE_SECONDS + 0.2)
    assert await other.tokens.store.get(USER) is None
    await replicas.stop()


async def test_why_a_user_is_signed_out_at_one_replica_is_said_by_the_others(
    replicas: Replicas,
):
    await replicas.sign_in()
    await listening(replicas)
    first, other = replicas.services[0], replicas.services[1]
    assert await other.tokens.fresh(USER)
    # The provider ends the grant: the first replica's refresh is refused.
    assert replicas.provider.revoke_grants(replicas.client.client_id) >= 1
    with pytest.raises(LoginRequiredError) as refused:
        await first.tokens.fresh(USER, force=True)
    assert str(refused.value) == SIGNED_OUT_AT_PROVIDER
    gone = lambda: other.tokens.store.cache.get(USER) is None  # noqa: E731
    await wait_for(gone, CACHE_SECONDS / 2, "the sign-out was not heard")
    with pytest.raises(LoginRequiredError) as told:
        await other.tokens.fresh(USER)
    # The other replica says why, not that the user never signed in.
    assert str(told.value) == SIGNED_OUT_AT_PROVIDER
    # So does its status, which the widget shows.
    status = await other.status(USER, extension_pages("/"))
    assert (status["signed_out_reason"], status["signed_out_by_provider"]) == (
        SIGNED_OUT_AT_PROVIDER,
        True,
    )

    # A new sign-in at the first replica, then a sign-out there: the other says that instead.
    await replicas.sign_in()
    assert await other.tokens.fresh(USER)
    await first.logout(USER)
    await wait_for(gone, CACHE_SECONDS / 2, "the second sign-out was not heard")
    with pytest.raises(LoginRequiredError) as told:
        await other.tokens.fresh(USER)
    assert str(told.value) == SIGNED_OUT
    await replicas.stop()


async def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Wait until `condition()` holds, at most `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


async def listening(replicas: Replicas) -> None:
    """Wait until every replica has heard every write made so far."""
    feeds = [service.tokens.store.feed for service in replicas.services]
    now = time.monotonic()
    await wait_for(lambda: all(f.heard_at > now for f in feeds), 10, "not listening")


async def test_a_write_at_one_replica_is_heard_at_the_others_at_once(replicas: Replicas):
    await replicas.sign_in()
    await listening(replicas)
    writer, other = replicas.services[0], replicas.services[1]
    held = await other.tokens.fresh(USER)
    # Past the cache time, what it read is still kept: nobody wrote the row since.
    await asyncio.sleep(CACHE_SECONDS + 0.3)
    assert other.tokens.store.cache.get(USER) == held

    forced = await writer.tokens.fresh(USER, force=True)
    assert forced != held
    # Heard within moments, not after the cache time, and with the new row: the other
    # replica holds the new tokens without a query of its own.
    statements: list[str] = []
    event.listen(
        other.tokens.store.engine, "before_cursor_execute", lambda *a: statements.append(a[2])
    )
    replaced = lambda: other.tokens.store.cache.get(USER) == forced  # noqa: E731
    await wait_for(replaced, CACHE_SECONDS / 2, "the refresh was not heard")
    assert await other.tokens.fresh(USER) == forced
    assert statements == []
    # The writer's own notice leaves what it wrote in its memory.
    assert writer.tokens.store.cache.get(USER) == forced

    dropped = lambda: other.tokens.store.cache.get(USER) is None  # noqa: E731
    await writer.logout(USER)
    await wait_for(dropped, CACHE_SECONDS / 2, "the sign-out was not heard")
    assert await other.tokens.store.get(USER) is None
    with pytest.raises(LoginRequiredError):
        await other.tokens.fresh(USER)
    assert replicas.refreshes() == {"ok": 1, "error": 0}
    await replicas.stop()


async def test_a_row_too_long_for_a_notice_is_dropped_and_read_again(replicas: Replicas):
    await replicas.sign_in()
    await listening(replicas)
    writer, other = replicas.services[0], replicas.services[1]
    held = await other.tokens.fresh(USER)
    # An access token of 8,000 characters: its row no longer fits a notice's 7,999 bytes.
    long = dataclasses.replace(held, access_token="x" * 8000)
    await writer.tokens.store.set(USER, long)
    dropped = lambda: other.tokens.store.cache.get(USER) is None  # noqa: E731
    await wait_for(dropped, CACHE_SECONDS / 2, "the write was not heard")
    statements: list[str] = []
    event.listen(
        other.tokens.store.engine, "before_cursor_execute", lambda *a: statements.append(a[2])
    )
    assert await other.tokens.store.get(USER) == long
    assert len(statements) == 1  # read again from the table
    await replicas.stop()


def test_a_notice_carries_the_row_only_when_it_fits():
    assert notice("origin", "row", "c" * 100) == "origin row " + "c" * 100
    assert notice("origin", "row", None) == "origin row"
    # A deletion with why its user is signed out: no ciphertext starts with "-".
    assert notice("origin", "row", None, "You signed out.") == "origin row -You signed out."
    assert notice("origin", "row", None, "x" * MAX_PAYLOAD) == "origin row"
    fits = MAX_PAYLOAD - len("origin row ")
    assert notice("origin", "row", "c" * fits).endswith("c" * fits)
    assert notice("origin", "row", "c" * (fits + 1)) == "origin row"


async def signed_in_expiring(replicas: Replicas, expires_in: float, age: float) -> TokenSet:
    """Sign in, and store the tokens as expiring in `expires_in` s, obtained `age` s ago."""
    await replicas.sign_in()
    store = replicas.services[0].tokens.store
    tokens = await store.get(USER)
    assert tokens is not None
    now = time.time()
    stored = dataclasses.replace(tokens, expires_at=now + expires_in, obtained_at=now - age)
    await store.set(USER, stored)
    await listening(replicas)
    return stored


async def test_tokens_every_replica_handed_out_are_refreshed_once_as_their_window_opens(
    replicas: Replicas,
):
    # Due (2 s before expiry) in 2 s; its refresh window opens 1 s before that.
    soon = await signed_in_expiring(replicas, expires_in=4, age=60)
    store = replicas.services[0].tokens.store
    for service in replicas.services:
        service.tokens.refresh_ahead = 1.0
    for service in replicas.services:
        assert await service.tokens.fresh(USER) == soon  # each arms its timer
    # No request comes in the window; every timer goes off in its first half.
    await wait_for(lambda: store.cache.get(USER) != soon, 3, "not refreshed before due")
    assert time.time() < soon.expires_at - 2
    await asyncio.sleep(1.0)
    assert replicas.refreshes() == {"ok": 1, "error": 0}
    fresh = await store.get(USER)
    for service in replicas.services:
        assert await service.tokens.store.get(USER) == fresh
    await replicas.stop()


async def signed_in_within_the_window(replicas: Replicas) -> TokenSet:
    """Sign in, and store the tokens as they are in their refresh window, 8 s before due."""
    return await signed_in_expiring(replicas, expires_in=10, age=50)


async def test_a_refresh_ahead_of_time_leaves_a_grant_another_replica_refreshes_alone(
    replicas: Replicas,
):
    windowed = await signed_in_within_the_window(replicas)
    first, other = replicas.services[0].tokens, replicas.services[1].tokens
    leeway = other.effective_leeway(windowed)
    assert windowed.is_expiring(leeway + other.ahead(windowed, leeway))
    assert not windowed.is_expiring(leeway + 7)

    async with first.store.lease(USER) as held:  # the first replica refreshes it now
        assert not held.busy
        assert await other.fresh(USER) == windowed  # answered at once
        # Its own refresh ahead of time did not wait for the lease: it is over already.
        await wait_for(lambda: USER not in other._inflight, 1, "waiting for the lease")
        assert not other.store.waits_for_lease(USER)
    assert replicas.refreshes() == {"ok": 0, "error": 0}
    # Once the lease is free, the next request in the window refreshes.
    assert await other.fresh(USER) == windowed
    await wait_for(lambda: replicas.refreshes()["ok"] == 1, 5, "no refresh")
    await replicas.stop()


async def test_a_forced_refresh_joining_one_ahead_of_time_that_left_the_grant_waits_its_turn(
    replicas: Replicas,
):
    windowed = await signed_in_within_the_window(replicas)
    first, other = replicas.services[0].tokens, replicas.services[1].tokens

    async with first.store.lease(USER):
        assert await other.fresh(USER) == windowed  # starts a refresh ahead of time
        # An API refused the token: this caller needs a new one, and joins that refresh,
        # which leaves the grant to the lease's holder.
        forced = asyncio.ensure_future(other.fresh(USER, force=True))
        await asyncio.sleep(0.5)
        assert not forced.done()  # it waits for the lease instead of taking the old token
    renewed = await forced
    assert renewed != windowed and renewed.access_token != windowed.access_token
    assert replicas.refreshes() == {"ok": 1, "error": 0}
    await replicas.stop()


async def test_a_lost_listening_connection_falls_back_to_the_cache_time_then_listens_again(
    replicas: Replicas, postgres: PostgresServer
):
    await replicas.sign_in()
    await listening(replicas)
    store = replicas.services[1].tokens.store
    held = await replicas.services[1].tokens.fresh(USER)
    await asyncio.sleep(CACHE_SECONDS + 0.3)
    assert store.cache.get(USER) == held

    # The database ends the listening connections, as a restart or a network cut would.
    engine = create_engine(postgres.url)
    ending = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"
    with engine.begin() as db:
        ended = db.execute(text(ending), {"n": APPLICATION_NAME}).all()
    engine.dispose()
    assert len(ended) == 3
    # Not vouched for any more: the entry read longer ago than the cache time is gone.
    await wait_for(lambda: not store.feed.vouches(time.monotonic()), 5, "still vouched")
    assert store.cache.get(USER) is None
    assert await store.get(USER) == held  # read again, trusted the cache time only

    # It listens again, having dropped what it could not vouch for.
    await listening(replicas)
    assert store.cache.get(USER) is None
    forced = await replicas.services[0].tokens.fresh(USER, force=True)
    assert await store.get(USER) == forced
    await replicas.stop()


def listeners(postgres: PostgresServer) -> int:
    """How many change feeds' connections the database has."""
    engine = create_engine(postgres.url)
    counting = "SELECT count(*) FROM pg_stat_activity WHERE application_name = :n"
    with engine.begin() as db:
        count = int(db.execute(text(counting), {"n": APPLICATION_NAME}).scalar_one())
    engine.dispose()
    return count


async def test_a_feed_stops_though_its_cancellation_came_with_an_answer_and_was_lost(
    replicas: Replicas, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
):
    """Before Python 3.12, asyncio.wait_for returns an answer that is there when a
    cancellation comes, and the cancellation is lost: a replica's stop must not wait on it."""
    for service in replicas.services:
        service.tokens.store.listen()
    await listening(replicas)
    answered = asyncio.Event()

    async def answer_then_lose_the_cancellation(question: Any, seconds: float) -> Any:
        answer = await question
        answered.set()
        try:
            await asyncio.sleep(60)  # the cancellation comes here, the answer being there
        except asyncio.CancelledError:
            pass
        return answer

    monkeypatch.setattr(change_feed, "answered_within", answer_then_lose_the_cancellation)
    await asyncio.wait_for(answered.wait(), 10)  # the next heartbeat's answer
    started = time.monotonic()
    stopping = asyncio.ensure_future(replicas.services[0].tokens.store.stop_listening())
    await asyncio.wait([stopping], timeout=10)
    assert stopping.done(), "the feed did not stop"
    # It ends at the loop's next turn: after one wait for notices (a quarter of the cache time).
    assert time.monotonic() - started < CACHE_SECONDS
    await wait_for(lambda: listeners(postgres) == 2, 5, "its connection is still open")
    await replicas.stop()
    await wait_for(lambda: listeners(postgres) == 0, 5, "connections still open")


async def test_a_lease_left_by_a_dead_replica_expires_and_the_grant_is_refreshed(
    replicas: Replicas,
):
    await replicas.sign_in()
    await replicas.expire()
    # As a replica killed while it held the lease leaves it: held, renewed no more.
    with replicas.services[0].tokens.store.engine.begin() as db:
        db.execute(leases_table.delete())
        db.execute(
            leases_table.insert().values(
                id=row_id(USER),
                holder="dead",
                expires_at=datetime.now(timezone.utc) + timedelta(seconds=LEASE_SECONDS),
            )
        )
    manager = replicas.services[1].tokens
    # Callers stop waiting after http_timeout, told why; the refresh waits on for the lease.
    with pytest.raises(RefreshElsewhereError) as waited:
        await manager.fresh(USER)
    assert str(waited.value) == (
        "Another replica of the service is refreshing this sign-in and has not finished "
        "within 2 seconds (if it stopped, its hold on the refresh runs out within 3 seconds); "
        "try again in 3 seconds."
    )
    assert waited.value.status_code == 503
    assert replicas.refreshes() == {"ok": 0, "error": 0}
    await asyncio.sleep(LEASE_SECONDS)
    fresh = await manager.fresh(USER)
    assert fresh.expires_in() > 30
    assert replicas.refreshes() == {"ok": 1, "error": 0}
    await replicas.stop()


def leave_lease(store: SQLTokenStore, holder: str, expired_for: float) -> None:
    """`USER`'s lease as a replica holding it leaves it: expired `expired_for` seconds ago."""
    with store.engine.begin() as db:
        db.execute(leases_table.delete())
        db.execute(
            leases_table.insert().values(
                id=row_id(USER),
                holder=holder,
                expires_at=datetime.now(timezone.utc) - timedelta(seconds=expired_for),
            )
        )


async def test_a_refresh_a_dead_replica_left_is_redone_at_once_by_one_replica(
    replicas: Replicas, caplog: pytest.LogCaptureFixture
):
    signed_in = await replicas.sign_in()
    managers = [s.tokens for s in replicas.services]
    store = replicas.services[0].tokens.store.store
    # A lease expired while held, as a holder cut off from the database leaves it: not taken
    # over while it could still be renewed, and not once it was.
    leave_lease(store, "cut-off", 0.1)
    assert [await m.take_over() for m in managers] == [0, 0, 0]
    with store.engine.begin() as db:
        renewed = datetime.now(timezone.utc) + timedelta(seconds=LEASE_SECONDS)
        db.execute(update(leases_table).values(expires_at=renewed))
    await asyncio.sleep(LEASE_SECONDS / 2)
    assert [await m.take_over() for m in managers] == [0, 0, 0]
    # Its holder killed: it stays expired, unrenewed, for half its time; then the replicas
    # take the refresh over, all at once, and one of them refreshes, with no request asking.
    leave_lease(store, "killed", 0.1)
    assert [await m.take_over() for m in managers] == [0, 0, 0]
    await asyncio.sleep(LEASE_SECONDS / 2)
    with caplog.at_level(logging.INFO):
        started = await asyncio.gather(*(m.take_over() for m in managers))
        assert sum(started) >= 1
        await wait_for(lambda: replicas.refreshes()["ok"] == 1, 10, "the refresh taken over")
        await asyncio.sleep(0.5)  # the other replicas' tries, refused the lease
    assert replicas.refreshes() == {"ok": 1, "error": 0}
    assert "another process began a refresh of them and stopped before it ended" in caplog.text
    stored = await managers[1].store.reread(USER)
    assert stored is not None and stored.refresh_token != signed_in.refresh_token
    with store.engine.connect() as db:
        assert db.execute(leases_table.select()).one().holder is None
    assert [await m.take_over() for m in managers] == [0, 0, 0]
    await replicas.stop()


async def test_a_refresh_kept_unwritten_holds_its_lease_until_the_database_takes_it(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
):
    await replicas.sign_in()
    await replicas.expire()
    holder, waiter = replicas.services[0].tokens, replicas.services[1].tokens

    async def unavailable(user: str, tokens: TokenSet) -> None:
        raise StoreUnavailableError("The token database cannot be reached.")

    # The database fails the refreshed tokens' write: they are kept in that replica's memory.
    monkeypatch.setattr(holder.store.store, "set", unavailable)
    refreshed = await holder.fresh(USER)
    assert replicas.refreshes() == {"ok": 1, "error": 0}
    assert USER in holder.store.unwritten
    # Another replica waits for the lease, held on past lease_seconds, instead of refreshing
    # with the refresh token that the kept write replaces.
    for _ in range(2):
        with pytest.raises(RefreshElsewhereError):
            await waiter.fresh(USER)
        await asyncio.sleep(LEASE_SECONDS / 2)
    assert replicas.refreshes() == {"ok": 1, "error": 0}
    # The database takes the write again: the lease is given back, and the other replica
    # reads the refreshed tokens.
    monkeypatch.undo()
    await asyncio.sleep(3)
    assert USER not in holder.store.unwritten
    seen = await waiter.fresh(USER)
    assert seen.access_token == refreshed.access_token
    assert replicas.refreshes() == {"ok": 1, "error": 0}
    await replicas.stop()


async def test_a_provider_outage_gives_one_failing_refresh_per_grant_across_replicas(
    replicas: Replicas, provider: OIDCTestProvider, caplog: pytest.LogCaptureFixture
):
    tokens = await replicas.sign_in()
    # Still valid, soon due: a request starts a refresh ahead of time.
    store = replicas.services[0].tokens.store
    soon = time.time() + 10
    await store.set(USER, dataclasses.replace(tokens, expires_at=soon, obtained_at=soon - 60))
    with store.engine.begin() as db:
        db.execute(update(leases_table).values(quiet_until=None))
    await asyncio.sleep(CACHE_SECONDS + 0.2)
    provider.stop()
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(4):
                answers = await asyncio.gather(*(s.tokens.fresh(USER) for s in replicas.services))
                # The still-valid token, from every replica.
                assert {a.access_token for a in answers} == {tokens.access_token}
                await asyncio.sleep(1.5)
    finally:
        provider.start()
    failures = [r for r in caplog.records if r.getMessage().startswith("Refresh for alice")]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    # Every replica says why in the status, although one alone asked the provider.
    for service in replicas.services:
        assert "could not be reached" in service.tokens.last_refresh_error.get(USER, "")
    await replicas.stop()


async def test_a_callback_lands_on_another_replica_and_its_state_is_used_once(
    replicas: Replicas,
):
    started, landed = replicas.services[0], replicas.services[1]
    login, url = await started.start_login(REDIRECT_URI, "/notebooks/x")
    callback = await asyncio.to_thread(provider_login, url, USER, redirect_prefix=REDIRECT_URI)
    params = {k: v[0] for k, v in parse_qs(urlparse(callback).query).items()}
    assert landed.pending.peek(params["state"]) is None
    await replicas.sign_ins[1].claim(params["state"])
    finished = await landed.finish_login(USER, params, login.browser_key)
    assert finished.next_url == "/notebooks/x"
    assert (await landed.tokens.store.get(USER)).claims["sub"] == USER
    # The same callback again, at the replica that started the sign-in: used up.
    for service, sign_ins in zip(replicas.services, replicas.sign_ins, strict=True):
        await sign_ins.claim(params["state"])
        with pytest.raises(CallbackError, match="expired or was already used"):
            await service.finish_login(USER, params, login.browser_key)
    await replicas.stop()


async def test_a_link_issued_at_one_replica_is_opened_and_used_at_another_and_used_once(
    replicas: Replicas,
):
    issuer, opener, landed = replicas.services
    before = time.monotonic()
    token = issuer.links.issue(USER, "default", None)
    await replicas.links[0].stop()  # its write has reached the database
    # The page opened at another replica shows the link, which stays usable.
    assert opener.links.peek(token) is None
    await replicas.links[1].link(token, take=False)
    shown = opener.links.peek(token)
    assert shown is not None and shown.owner == USER
    # Opened at the third replica too, which keeps a copy of its own.
    await replicas.links[2].link(token, take=False)
    assert landed.links.peek(token) is not None
    assert before + issuer.links.ttl - 1 < shown.expires <= time.monotonic() + issuer.links.ttl
    # Its button, pressed there, uses the link up and starts the sign-in; the callback lands
    # on the third replica.
    await replicas.links[1].link(token, take=True)
    link = opener.links.redeem(token)
    assert link is not None and link.owner == USER
    login, url = await opener.start_login(REDIRECT_URI, "/", via_link=True, owner=USER)
    callback = await asyncio.to_thread(provider_login, url, USER, redirect_prefix=REDIRECT_URI)
    params = {k: v[0] for k, v in parse_qs(urlparse(callback).query).items()}
    await replicas.sign_ins[2].claim(params["state"])
    await landed.finish_login(USER, params, login.browser_key)
    # The link is used up at every replica: the issuer's and the opener's copies too.
    for service, links in zip(replicas.services, replicas.links, strict=True):
        await links.link(token, take=False)
        assert service.links.peek(token) is None
        await links.link(token, take=True)
        assert service.links.redeem(token) is None
    await replicas.stop()


async def test_a_wait_at_one_replica_sees_a_sign_in_finished_at_another_within_the_bound(
    replicas: Replicas,
):
    waiting = replicas.services[0]
    with pytest.raises(LoginRequiredError):
        await waiting.fresh_tokens(USER, 0.0)
    finished = time.monotonic()
    tokens = await replicas.sign_in_at(1)
    seen = None
    while seen is None and time.monotonic() < finished + CACHE_SECONDS + 1:
        try:
            seen = await waiting.fresh_tokens(USER, 0.0)
        except LoginRequiredError:
            await asyncio.sleep(0.1)
    assert seen is not None and seen.access_token == tokens.access_token
    await replicas.stop()


async def test_a_revoked_link_is_unusable_at_every_replica(replicas: Replicas):
    token = replicas.services[0].links.issue(USER, "default", None)
    await replicas.links[0].stop()
    await replicas.links[2].link(token, take=False)  # its page shown there
    replicas.services[0].links.revoke(token, USER)
    await replicas.links[0].stop()
    await replicas.links[1].link(token, take=True)
    assert replicas.services[1].links.redeem(token) is None
    await replicas.links[2].link(token, take=True)
    assert replicas.services[2].links.redeem(token) is None
    await replicas.stop()


def device_sign_in(status: str = PENDING) -> DeviceSignIn:
    """A device sign-in as its replica holds it (the code as the provider gave it)."""
    code = DeviceCode("secret-device-code", "WDJB-MJHT", "http://op/device", None, 600, 5)
    return DeviceSignIn("d1", USER, "default", None, code, time.monotonic() + 600, status=status)


async def test_a_device_sign_in_polled_at_one_replica_is_followed_and_given_up_at_others(
    replicas: Replicas,
):
    polling, reading, giving_up = replicas.links
    sign_in = device_sign_in()
    polling.device_changed(sign_in)
    await polling.stop()
    # The kernel's next look lands on another replica: it sees the sign-in pending.
    assert replicas.services[1].devices.progress(USER, "d1") is None
    await reading.device(USER, "d1", give_up=False)
    mirror = replicas.services[1].devices.progress(USER, "d1")
    assert mirror is not None and mirror.status == PENDING
    assert mirror.code.device_code == ""  # the polling replica's alone
    # Nobody else's kernel sees it.
    await reading.device("bob", "d1", give_up=False)
    assert replicas.services[1].devices.progress("bob", "d1") is None
    # Done at the polling replica: the other one says so.
    sign_in.status = DONE
    polling.device_changed(sign_in)
    await polling.stop()
    await reading.device(USER, "d1", give_up=False)
    assert replicas.services[1].devices.progress(USER, "d1").status == DONE
    # A sign-in given up at a third replica ends the polling at the first.
    second = dataclasses.replace(device_sign_in(), id="d2")
    polling.device_changed(second)
    await polling.stop()
    assert await polling.device_wanted(second)
    await giving_up.device(USER, "d2", give_up=True)
    assert not await polling.device_wanted(second)
    await replicas.stop()


async def test_a_sign_in_tied_to_its_link_keeps_the_link_in_the_database_whatever_commits_first(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
):
    # The sign-in's two writes (started, then tied to its link) run in two of the default
    # executor's threads: the first is made the slower, as a busy database can make it.
    put_row, calls = replicas_module.put_row, []

    def slow_first(*args: Any) -> None:
        calls.append(args)
        if len(calls) == 1:
            time.sleep(0.5)
        put_row(*args)

    monkeypatch.setattr(replicas_module, "put_row", slow_first)
    started, _, landed = replicas.services
    login, _url = await started.start_login(REDIRECT_URI, "/", via_link=True, owner=USER)
    started.pending.tie_to_link(login.state, "link-fingerprint")
    await replicas.sign_ins[0].stop()
    assert len(calls) == 2
    await replicas.sign_ins[2].claim(login.state)
    held = landed.pending.peek(login.state)
    assert held is not None and held.link == "link-fingerprint"
    await replicas.stop()


async def test_a_link_given_up_at_one_replica_ends_its_sign_in_at_every_replica(
    replicas: Replicas,
):
    started, waited, landed = replicas.services
    login, url = await started.start_login(REDIRECT_URI, "/", via_link=True, owner=USER)
    started.pending.tie_to_link(login.state, "link-fingerprint")
    await replicas.sign_ins[0].stop()  # written to the database
    callback = await asyncio.to_thread(provider_login, url, USER, redirect_prefix=REDIRECT_URI)
    params = {k: v[0] for k, v in parse_qs(urlparse(callback).query).items()}
    # The cell that asked for the link stops waiting; its server's request reaches another
    # replica than the one the sign-in started at.
    assert waited.pending.end_link("link-fingerprint", USER) == 0
    await replicas.sign_ins[1].stop()
    # The callback lands on a third: the sign-in is refused there, as at its own replica.
    await replicas.sign_ins[2].claim(params["state"])
    assert landed.pending.ended(params["state"])
    # The replica that started it holds it no more either.
    await replicas.sign_ins[0].claim(params["state"])
    assert started.pending.peek(params["state"]) is None
    assert await landed.tokens.store.get(USER) is None
    await replicas.stop()


async def test_a_cell_waiting_at_one_replica_is_seen_where_its_link_sign_in_ends(
    replicas: Replicas,
):
    waiting, ending = replicas.services[0], replicas.services[2]
    with waiting.links.cells.waiting(USER):
        await replicas.links[0].stop()
        assert not ending.links.cells.waits(USER)
        await replicas.links[2].cell_waits(USER)
        assert ending.links.cells.waits(USER)
        # Nobody else's cell.
        await replicas.links[2].cell_waits("bob")
        assert not ending.links.cells.waits("bob")
    await replicas.stop()
