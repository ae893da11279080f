"""Each grant's refresh lease in the database: replicas sharing it refresh a grant one at a time.

A replica that needs a grant refreshed takes the grant's lease first (a row of its own,
stamped with the holder and an expiry in the database's clock), renews it while the refresh
runs, and gives it back once the new tokens are stored. Another replica needing the same
grant waits for the lease, then reads the stored tokens, and finds them refreshed. A replica
killed while it holds a lease renews it no more: the lease expires after `seconds`, and the
grant is refreshed again at once by a replica that finds the lease abandoned (`abandoned`):
a provider with a reuse grace period for rotated refresh tokens then takes the refresh token
the killed replica had sent once more. A refresh that failed leaves, with the lease, how long
every replica leaves that grant alone (TokenManager.failure_cooldown).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import Update

from ...core.stores import Lease
from ...core.tokens import fingerprint
from ...errors import StoreUnavailableError
from .token_rows import tokens_table

metadata = MetaData()
leases_table = Table(
    "nevis_auth_leases",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("holder", String(32), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("quiet_until", DateTime(timezone=True), nullable=True),
    Column("reason", Text, nullable=True),
)

#: Seconds between two tries for a lease another replica holds, at first and at most.
FIRST_TRY_AGAIN = 0.05
LAST_TRY_AGAIN = 0.5

Call = Callable[..., Awaitable[Any]]


class SQLLease(Lease):
    """A lease held in the database; what a failed refresh asks of the others, kept to write."""

    def __init__(
        self, lid: str, holder: str, quiet_for: float, quiet_reason: str, read: Any = None
    ) -> None:
        self.lid, self.holder = lid, holder
        self.quiet_for = quiet_for
        self.quiet_reason = quiet_reason
        #: What `hold`'s `read` found in the transaction that took the lease.
        self.read = read
        self.cooling: tuple[float, str] | None = None
        #: Whether a transaction that wrote the grant gave the lease back too.
        self.given_back = False

    def cool_down(self, seconds: float, reason: str) -> None:
        """Written when the lease is given back."""
        self.cooling = (seconds, reason)

    def give_back_in(self, db: Connection) -> None:
        """Give the lease back in `db`'s transaction (the grant's write): when it commits."""
        db.execute(self.giving_back())

    def giving_back(self) -> Update:
        """The statement giving the lease back, for the grant's write to run with it."""
        return giving_back(self.lid, self.holder, self.cooling)


class Leases:
    """The refresh leases of one database; `call` runs a function on a thread (the store's)."""

    def __init__(self, engine: Engine, call: Call, seconds: float) -> None:
        self.engine = engine
        self.call = call
        self.seconds = seconds
        #: Keys whose lease this process waits for.
        self.waiting: set[str] = set()
        #: Keys whose lease this process holds: when it took it (time.monotonic()).
        self.taken_at: dict[str, float] = {}
        #: Leases seen expired while held: (holder, expiry) and when first seen so.
        self._expired: dict[str, tuple[tuple[str, Any], float]] = {}
        metadata.create_all(engine)

    @contextlib.asynccontextmanager
    async def hold(
        self, key: str, wait: bool = True, read: Callable[[Connection], Any] | None = None
    ) -> AsyncIterator[Lease]:
        """Wait for `key`'s lease, hold it (renewed) while the block runs, then give it back.

        `wait` False: one try; while another replica holds it, the block gets a busy Lease.
        `read` runs in the transaction that takes the lease, its answer kept as the lease's
        `read`: what was stored when the lease was taken, without a call of its own.
        """
        lid, holder = fingerprint(key), secrets.token_hex(16)
        delay = FIRST_TRY_AGAIN
        self.waiting.add(key)
        try:
            while (taken := await self.call(self._take, lid, holder, read)) is None and wait:
                await asyncio.sleep(delay)
                delay = min(delay * 2, LAST_TRY_AGAIN)
        finally:
            self.waiting.discard(key)
        if taken is None:
            busy = Lease()
            busy.busy = True
            yield busy
            return
        lease = SQLLease(lid, holder, *taken)
        self.taken_at[key] = time.monotonic()
        renewing = asyncio.ensure_future(self._renew(lid, holder))
        try:
            yield lease
        finally:
            self.taken_at.pop(key, None)
            renewing.cancel()
            try:
                if not lease.given_back:
                    await self.call(self._give_back, lid, holder, lease.cooling)
            except StoreUnavailableError:
                pass  # it expires by itself; the store has said the database is gone

    async def abandoned(self) -> list[str]:
        """Keys whose refresh a process began and no process ended: their lease expired held.

        One is named once its lease has stayed so, unrenewed by the same holder, for half of
        `seconds`: a holder still alive renews it within a third of `seconds` (once the
        database is back, when it was gone), and its refresh's answer is its to write.
        """
        found = await self.call(self._expired_held)
        now, named, seen = time.monotonic(), [], {}
        for lid, holder, expires_at, key in found:
            first = self._expired.get(lid)
            if first is None or first[0] != (holder, expires_at):
                seen[lid] = ((holder, expires_at), now)
            elif now - first[1] >= self.seconds / 2:
                named.append(key)
            else:
                seen[lid] = first
        self._expired = seen
        return named

    def _expired_held(self) -> list[tuple[str, str, Any, str]]:
        query = (
            select(leases_table.c.id, leases_table.c.holder, leases_table.c.expires_at)
            .add_columns(tokens_table.c.key)
            .join(tokens_table, tokens_table.c.id == leases_table.c.id)
            .where(leases_table.c.holder.is_not(None), leases_table.c.expires_at < func.now())
        )
        with self.engine.connect() as db:
            return [(lid, holder, expires, key) for lid, holder, expires, key in db.execute(query)]

    def just_taken(self, key: str, seconds: float) -> bool:
        """Whether this process took `key`'s lease (a write) within the last `seconds`."""
        return time.monotonic() - self.taken_at.get(key, -math.inf) < seconds

    async def _renew(self, lid: str, holder: str) -> None:
        while True:
            await asyncio.sleep(self.seconds / 3)
            with contextlib.suppress(StoreUnavailableError):
                await self.call(self._extend, lid, holder)

    def _take(
        self, lid: str, holder: str, read: Callable[[Connection], Any] | None = None
    ) -> tuple[float, str, Any] | None:
        """(seconds of quiet asked for, why, what `read` found) once taken; None while another
        holds it."""
        free = (leases_table.c.holder.is_(None)) | (leases_table.c.expires_at < func.now())
        held = {"holder": holder, "expires_at": func.now() + timedelta(seconds=self.seconds)}
        answer = (leases_table.c.quiet_until, leases_table.c.reason, func.now())
        with self.engine.begin() as db:
            if self.engine.dialect.name == "postgresql":
                # One statement: the row made held, or the existing one taken while free.
                row = db.execute(
                    postgresql.insert(leases_table)
                    .values(id=lid, **held)
                    .on_conflict_do_update(index_elements=["id"], set_=held, where=free)
                    .returning(*answer)
                ).first()
            else:
                if not db.execute(leases_table.select().where(leases_table.c.id == lid)).first():
                    with contextlib.suppress(IntegrityError), db.begin_nested():
                        db.execute(insert(leases_table).values(id=lid))
                row = db.execute(
                    update(leases_table)
                    .where(leases_table.c.id == lid)
                    .where(free)
                    .values(**held)
                    .returning(*answer)
                ).first()
            found = read(db) if row is not None and read is not None else None
        if row is None:
            return None
        quiet_until, reason, now = row
        quiet = (quiet_until - now).total_seconds() if quiet_until is not None else 0.0
        return max(quiet, 0.0), reason or "", found

    def _extend(self, lid: str, holder: str) -> None:
        with self.engine.begin() as db:
            db.execute(
                update(leases_table)
                .where(leases_table.c.id == lid, leases_table.c.holder == holder)
                .values(expires_at=func.now() + timedelta(seconds=self.seconds))
            )

    def _give_back(self, lid: str, holder: str, cooling: tuple[float, str] | None) -> None:
        with self.engine.begin() as db:
            db.execute(giving_back(lid, holder, cooling))


def giving_back(lid: str, holder: str, cooling: tuple[float, str] | None) -> Update:
    """The statement freeing the lease `lid` if `holder` holds it; with `cooling`, (seconds,
    why) of quiet."""
    values: dict[str, Any] = {"holder": None, "expires_at": None}
    if cooling is not None:
        values.update(quiet_until=func.now() + timedelta(seconds=cooling[0]), reason=cooling[1])
    return (
        update(leases_table)
        .where(leases_table.c.id == lid, leases_table.c.holder == holder)
        .values(**values)
    )
