"""The tokens table of the service's store, and the statements the store runs on it.

Each function that takes an engine runs in one of the store's threads (SQLTokenStore._call);
`announce`, where replicas share the database, tells the others of a deletion when its
transaction commits. On PostgreSQL a write is `one_write`'s one statement, run by `run_alone`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from cryptography.fernet import InvalidToken, MultiFernet
from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.dml import UpdateBase

from ...core.tokens import fingerprint
from .change_feed import CHANNEL

metadata = MetaData()
#: One row per store key; `id` is the key's SHA-256, so keys of any length fit a primary key.
tokens_table = Table(
    "nevis_auth_tokens",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("key", Text, nullable=False),
    Column("ciphertext", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: Tells the other replicas, in a transaction, that a key's row changes when it commits.
Announce = Callable[[Connection, str], None]


def row_id(key: str) -> str:
    """The primary key of the row holding `key`'s tokens."""
    return fingerprint(key)


def ping(engine: Engine) -> None:
    """A question the database answers when it is up."""
    with engine.connect() as db:
        db.execute(select(1))


def touch(engine: Engine, key: str) -> None:
    """A write of `key`'s row that changes none of its tokens: whether the database takes one."""
    with engine.begin() as db:
        db.execute(
            update(tokens_table)
            .where(tokens_table.c.id == row_id(key))
            .values(updated_at=datetime.now(timezone.utc))
        )


def read(engine: Engine, key: str) -> str | None:
    """The ciphertext of `key`'s row, or None."""
    with engine.connect() as db:
        return read_in(db, key)


def read_in(db: Connection, key: str) -> str | None:
    """The same, in the transaction of `db`."""
    query = select(tokens_table.c.ciphertext).where(tokens_table.c.id == row_id(key))
    return db.execute(query).scalar_one_or_none()


def write(
    engine: Engine, key: str, ciphertext: str, also: Callable[[Connection], None] | None = None
) -> None:
    """Make `ciphertext` `key`'s row, a new one or in place of the old, and run `also` (the
    lease given back) in the same transaction."""
    values = {"ciphertext": ciphertext, "updated_at": datetime.now(timezone.utc)}
    change = update(tokens_table).where(tokens_table.c.id == row_id(key)).values(**values)
    try:
        with engine.begin() as db:
            if not db.execute(change).rowcount:
                db.execute(insert(tokens_table).values(id=row_id(key), key=key, **values))
            if also is not None:
                also(db)
    except IntegrityError:
        # Another writer inserted the row between the two statements: update theirs.
        with engine.begin() as db:
            db.execute(change)
            if also is not None:
                also(db)


def one_write(
    key: str, ciphertext: str, also: Sequence[UpdateBase], notify: str | None
) -> Executable:
    """PostgreSQL's one statement making `ciphertext` `key`'s row (a new one or in place of
    the old), running `also` (the lease given back) and sending the notice `notify` (its
    payload) to the replicas. Run alone (`run_alone`), it commits in the round trip that
    sends it: a refresh's answer is kept one round trip after it came, or not at all."""
    values = {"ciphertext": ciphertext, "updated_at": datetime.now(timezone.utc)}
    upsert = (
        postgresql.insert(tokens_table)
        .values(id=row_id(key), key=key, **values)
        .on_conflict_do_update(index_elements=[tokens_table.c.id], set_=values)
    )
    told = func.pg_notify(CHANNEL, notify) if notify is not None else literal(True)
    more = [statement.cte(f"also_{n}") for n, statement in enumerate(also)]
    return select(told).add_cte(upsert.cte("written"), *more)


def run_alone(engine: Engine, statement: Executable) -> None:
    """Run `statement` as a transaction of its own, with `engine` in autocommit: one round
    trip to a database server, no BEGIN and COMMIT of their own."""
    with engine.connect() as db:
        db.execute(statement)


def remove(engine: Engine, key: str, announce: Announce) -> None:
    """Delete `key`'s row."""
    with engine.begin() as db:
        db.execute(delete(tokens_table).where(tokens_table.c.id == row_id(key)))
        announce(db, key)


def keys(engine: Engine) -> list[str]:
    """The key of every row."""
    with engine.connect() as db:
        return list(db.execute(select(tokens_table.c.key)).scalars())


def rotate(
    engine: Engine, fernet: MultiFernet, unreadable: Callable[[str, Exception], None]
) -> int:
    """Encrypt every row with `fernet`'s newest key; how many were. `unreadable` hears of a
    row no key decrypts, which stays as it is."""
    rotated = 0
    with engine.begin() as db:
        rows = db.execute(
            select(tokens_table.c.id, tokens_table.c.key, tokens_table.c.ciphertext)
        ).all()
        for rid, key, ciphertext in rows:
            try:
                new = fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
            except InvalidToken as e:
                unreadable(key, e)
                continue
            db.execute(update(tokens_table).where(tokens_table.c.id == rid).values(ciphertext=new))
            rotated += 1
    return rotated
