"""The service's store on PostgreSQL: a real server (Debian's postgresql) for the module."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import event, text

from jupyter_nevis_auth.core.apis import token_key
from jupyter_nevis_auth.core.tokens import TokenSet
from jupyter_nevis_auth.hub.service.sql_store import SQLTokenStore, make_fernet
from tests.support.postgres import running_postgres

pytestmark = pytest.mark.hub

ALICE = TokenSet("alice-access", refresh_token="alice-refresh", claims={"sub": "alice"})
BOB = TokenSet("bob-access", refresh_token="bob-refresh", claims={"sub": "bob"})


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port; its SQLAlchemy URL."""
    for server in running_postgres():
        yield server.url


def test_tokens_survive_a_new_store_encrypted_at_rest(postgres_url: str) -> None:
    key = Fernet.generate_key().decode()
    store = SQLTokenStore(postgres_url, make_fernet(key))
    sales = token_key("alice", "partner", "sales")
    asyncio.run(store.set("alice", ALICE))
    asyncio.run(store.set(sales, BOB))
    with store.engine.connect() as db:
        raw = " ".join(str(row) for row in db.execute(text("SELECT * FROM nevis_auth_tokens")))
    assert "alice-access" not in raw and "alice-refresh" not in raw
    store.close()

    again = SQLTokenStore(postgres_url, make_fernet(key))
    assert asyncio.run(again.get("alice")) == ALICE
    assert asyncio.run(again.get(sales)) == BOB
    asyncio.run(again.delete("alice"))
    assert asyncio.run(again.get("alice")) is None
    asyncio.run(again.delete(sales))
    again.close()


def test_a_rotated_key_reads_old_rows(postgres_url: str) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    store = SQLTokenStore(postgres_url, make_fernet(old))
    asyncio.run(store.set("bob", BOB))
    store.close()
    rotated = SQLTokenStore(postgres_url, make_fernet(f"{new},{old}"))
    assert asyncio.run(rotated.get("bob")) == BOB
    asyncio.run(rotated.delete("bob"))
    rotated.close()


def test_many_users_at_once(postgres_url: str) -> None:
    store = SQLTokenStore(postgres_url, make_fernet(Fernet.generate_key().decode()))

    async def each(n: int) -> TokenSet | None:
        tokens = TokenSet(f"access-{n}", refresh_token=f"refresh-{n}", claims={"sub": f"u{n}"})
        await store.set(f"user{n}", tokens)
        return await store.get(f"user{n}")

    async def all_of_them() -> list[TokenSet | None]:
        return await asyncio.gather(*(each(n) for n in range(50)))

    found = asyncio.run(all_of_them())
    assert [t.access_token if t else None for t in found] == [f"access-{n}" for n in range(50)]
    store.close()


async def test_a_lease_reads_its_row_as_it_is_taken_and_a_write_under_it_gives_it_back(
    postgres_url: str,
) -> None:
    key = Fernet.generate_key().decode()
    here = SQLTokenStore(postgres_url, make_fernet(key), shared=True)
    there = SQLTokenStore(postgres_url, make_fernet(key), shared=True)
    calls: list[object] = []
    event.listen(here.engine.pool, "checkout", lambda *args: calls.append(args))
    newer = TokenSet("carol-access-2", refresh_token="carol-refresh-2")
    try:
        await here.set("carol", ALICE)
        await there.set("carol", newer)  # another replica's refresh, not heard here
        assert await here.get("carol") == ALICE  # cached, trusted its few seconds
        calls.clear()
        async with here.lease("carol"):
            assert len(calls) == 1  # the lease taken
            # What the lease's transaction read: the other replica's write, no call more.
            assert await here.reread("carol") == newer
            assert len(calls) == 1
        assert await here.get("carol") == newer

        # A write here after the lease was taken: the row is read again, not the old read.
        # The write gave the lease back in its own transaction: another replica may take it.
        async with here.lease("carol"):
            async with there.lease("carol", wait=False) as elsewhere:
                assert elsewhere.busy
            await here.set("carol", BOB)
            async with there.lease("carol", wait=False) as elsewhere:
                assert not elsewhere.busy
            calls.clear()
            assert await here.reread("carol") == BOB
            assert len(calls) == 1

        # Signed out at the other replica: None under the lease, and nothing older kept.
        await there.delete("carol")
        async with here.lease("carol"):
            assert await here.reread("carol") is None
        assert await here.get("carol") is None
    finally:
        here.close()
        there.close()
