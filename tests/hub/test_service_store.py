"""The service's database store and its rule for telling a server's token from a person's."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import update

from jupyter_nevis_auth.core.apis import token_key
from jupyter_nevis_auth.core.tokens import TokenSet
from jupyter_nevis_auth.errors import SettingsError, StoreUnavailableError
from jupyter_nevis_auth.hub.service import sql_store
from jupyter_nevis_auth.hub.service.caller import ServerCaller, server_of
from jupyter_nevis_auth.hub.service.sql_store import (
    ReadCache,
    SQLTokenStore,
    make_fernet,
    row_id,
    tokens_table,
)

pytestmark = pytest.mark.hub

ALICE = TokenSet("alice-access", refresh_token="alice-refresh", claims={"sub": "alice"})
BOB = TokenSet("bob-access", refresh_token="bob-refresh", claims={"sub": "bob"})


def store_at(path: Path, keys: str) -> SQLTokenStore:
    """A store in the SQLite file `path`, encrypted with `keys`."""
    return SQLTokenStore(f"sqlite:///{path}", make_fernet(keys))


def test_tokens_survive_a_new_store_on_the_same_file_and_are_encrypted(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    store = store_at(tmp_path / "t.sqlite", key)
    sales = token_key("alice", "partner", "sales")
    asyncio.run(store.set("alice", ALICE))
    asyncio.run(store.set(sales, BOB))
    store.close()
    assert b"alice-access" not in (tmp_path / "t.sqlite").read_bytes()

    again = store_at(tmp_path / "t.sqlite", key)
    assert asyncio.run(again.get("alice")) == ALICE
    assert asyncio.run(again.get(sales)) == BOB
    assert sorted(asyncio.run(again.keys())) == sorted(["alice", sales])
    asyncio.run(again.delete("alice"))
    assert asyncio.run(again.get("alice")) is None
    assert asyncio.run(again.get("nobody")) is None


def test_a_new_key_reads_old_rows_and_rotation_lets_the_old_key_go(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    asyncio.run(store_at(tmp_path / "t.sqlite", old).set("alice", ALICE))
    both = store_at(tmp_path / "t.sqlite", f"{new}, {old}")
    assert asyncio.run(both.get("alice")) == ALICE
    assert asyncio.run(both.rotate()) == 1
    assert asyncio.run(store_at(tmp_path / "t.sqlite", new).get("alice")) == ALICE


def test_an_unreadable_or_moved_row_is_signed_out_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = Fernet.generate_key().decode()
    writer = store_at(tmp_path / "t.sqlite", key)
    asyncio.run(writer.set("alice", ALICE))
    asyncio.run(writer.set("bob", BOB))
    with writer.engine.begin() as db:
        alice_row = db.execute(tokens_table.select().where(tokens_table.c.key == "alice")).one()
        # Someone with write access to the database copies alice's row under bob's key.
        db.execute(
            update(tokens_table)
            .where(tokens_table.c.id == row_id("bob"))
            .values(ciphertext=alice_row.ciphertext)
        )
    # The service that wrote the rows keeps serving what it wrote; after a restart:
    assert asyncio.run(writer.get("bob")) == BOB
    store = store_at(tmp_path / "t.sqlite", key)
    other = store_at(tmp_path / "t.sqlite", Fernet.generate_key().decode())
    with caplog.at_level(logging.WARNING):
        assert asyncio.run(store.get("bob")) is None
        assert asyncio.run(other.get("alice")) is None
        assert asyncio.run(other.get("alice")) is None
    assert len(caplog.records) == 2
    assert "alice-access" not in caplog.text


def test_reads_come_from_memory_until_this_store_writes_the_key_again(tmp_path: Path) -> None:
    store = store_at(tmp_path / "t.sqlite", Fernet.generate_key().decode())
    asyncio.run(store.set("alice", ALICE))
    asyncio.run(store.set("bob", BOB))
    with store.engine.begin() as db:
        db.execute(tokens_table.delete())
    # Neither a query nor a decryption: what this store wrote last.
    assert asyncio.run(store.get("alice")) is asyncio.run(store.get("alice"))
    assert asyncio.run(store.get("bob")) == BOB
    newer = TokenSet("alice-newer", refresh_token="alice-refresh-2", claims={"sub": "alice"})
    asyncio.run(store.set("alice", newer))
    assert asyncio.run(store.get("alice")) == newer
    asyncio.run(store.delete("bob"))
    assert asyncio.run(store.get("bob")) is None
    # A signed-out key is read from the database each time: a sign-in written by another
    # process with the key (as the benchmark signs users in) is seen.
    asyncio.run(SQLTokenStore(str(store.engine.url), store.fernet).set("bob", BOB))
    assert asyncio.run(store.get("bob")) == BOB


def test_a_write_sqlite_took_moments_ago_shows_it_takes_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before a refresh, a SQLite store writes to see that it can, unless it wrote within
    # RECENT_WRITE_SECONDS. (A store on a database server writes every time: see
    # test_store_faults, a refresh due while PostgreSQL is down.)
    store = store_at(tmp_path / "t.sqlite", Fernet.generate_key().decode())

    async def checks() -> None:
        await store.set("alice", ALICE)
        with store.engine.begin() as db:
            tokens_table.drop(db)  # the next write fails
        await store.check_writable("alice")  # the write a moment ago answers
        monkeypatch.setattr(sql_store, "RECENT_WRITE_SECONDS", 0.0)
        with pytest.raises(StoreUnavailableError):
            await store.check_writable("alice")

    try:
        asyncio.run(checks())
    finally:
        store.close()


def test_a_read_that_a_write_overtook_is_not_kept() -> None:
    cache = ReadCache()
    before = cache.generation("alice")
    cache.written("alice", ALICE)  # the write ends while the read is still under way
    cache.keep("alice", BOB, before)  # the read found the row as it was before the write
    assert cache.get("alice") == ALICE
    cache.forget("alice")  # a write begins
    during = cache.generation("alice")
    cache.written("alice", BOB)
    cache.keep("alice", ALICE, during)
    assert cache.get("alice") == BOB
    cache.written("alice", None)
    assert cache.get("alice") is None


@pytest.mark.parametrize("keys", ["", " , ", "not a key"])
def test_a_missing_or_bad_key_is_one_sentence(keys: str) -> None:
    with pytest.raises(SettingsError, match="store_key"):
        make_fernet(keys)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The umask most services run with: files are made 0644 unless their maker says otherwise."""
    before = os.umask(0o022)
    yield
    os.umask(before)


@pytest.mark.usefixtures("umask_022")
def test_the_database_file_is_made_readable_by_the_service_only(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    store = store_at(tmp_path / "t.sqlite", key)
    asyncio.run(store.set("alice", ALICE))
    asyncio.run(store.delete("alice"))
    asyncio.run(store.set("bob", BOB))
    store.close()
    # The database, and nothing else (SQLite's journals, gone after each write), 0600.
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()}
    assert modes == {"t.sqlite": oct(0o600)}
    # Group access is left alone: a volume mounted with fsGroup gives it.
    (tmp_path / "t.sqlite").chmod(0o640)
    assert asyncio.run(store_at(tmp_path / "t.sqlite", key).get("bob")) == BOB


@pytest.mark.usefixtures("umask_022")
@pytest.mark.parametrize("mode", [0o644, 0o604, 0o602])
def test_a_database_file_anybody_may_read_is_refused_with_one_sentence(
    tmp_path: Path, mode: int
) -> None:
    path = tmp_path / "nevis_auth_hub.sqlite"
    sqlite3.connect(path).close()  # as SQLite made it before: the umask's mode
    path.chmod(mode)
    with pytest.raises(SettingsError) as raised:
        store_at(path, Fernet.generate_key().decode())
    message = str(raised.value)
    assert message == (
        f"The database file {path} can be read or written by anybody; make it readable by "
        f"its owner only (chmod 600 {path})."
    )
    assert path.stat().st_mode & 0o777 == mode  # left as it was, for its owner to fix


def test_a_database_file_that_cannot_be_made_is_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "nevis_auth_hub.sqlite"
    with pytest.raises(SettingsError) as raised:
        store_at(path, Fernet.generate_key().decode())
    message = str(raised.value)
    assert message.startswith(f"The database file {path} cannot be made (No such file")
    assert not re.search(r"\.\s+[A-Z]", message) and message.endswith(".")


@pytest.mark.parametrize(
    ("model", "caller"),
    [
        # What JupyterHub says of a server's own token (the `server` role).
        (
            {
                "kind": "user",
                "name": "alice",
                "scopes": ["access:servers!server=alice/", "users:activity!user=alice"],
            },
            ServerCaller("alice", ""),
        ),
        (
            {"kind": "user", "name": "alice", "scopes": ["access:servers!server=alice/lab2"]},
            ServerCaller("alice", "lab2"),
        ),
        # bob's token that also reaches a server alice shares with him is still bob's.
        (
            {
                "kind": "user",
                "name": "bob",
                "scopes": ["access:servers!server=bob/", "access:servers!server=alice/"],
            },
            ServerCaller("bob", ""),
        ),
        # A token a person made: it opens all their servers.
        (
            {
                "kind": "user",
                "name": "alice",
                "scopes": ["access:servers!user=alice", "access:servers!server=alice/"],
            },
            None,
        ),
        ({"kind": "user", "name": "admin", "scopes": ["access:servers", "admin:users"]}, None),
        ({"kind": "user", "name": "bob", "scopes": ["access:servers!server=alice/"]}, None),
        ({"kind": "user", "name": "alice", "scopes": ["access:servers!group=staff"]}, None),
        ({"kind": "user", "name": "alice", "scopes": ["read:users!user=alice"]}, None),
        ({"kind": "service", "name": "alice", "scopes": ["access:servers!server=alice/"]}, None),
    ],
)
def test_only_a_servers_own_token_names_a_caller(model: dict, caller: ServerCaller | None) -> None:
    assert server_of(model) == caller
