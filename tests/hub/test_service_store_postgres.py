"""The service's store on PostgreSQL: a real server (Debian's postgresql) for the module."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

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
