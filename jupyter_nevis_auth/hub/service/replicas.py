"""Sign-ins under way, shared by the service's replicas through their database.

A sign-in's state, nonce and PKCE verifier are written (encrypted with NevisAuth.store_key)
as the sign-in starts, so that its callback may land on any replica: the replica it lands on
takes the row from the database, which uses it up for every replica (a state is used once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime, timedelta, timezone

from cryptography.fernet import InvalidToken
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, delete, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ...core.pending import PendingLogin, PendingLogins
from ...core.tokens import fingerprint
from ...errors import StoreUnavailableError
from .pages import CallbackHandler
from .pending_store import login_data, login_of
from .sql_store import SQLTokenStore

metadata = MetaData()
sign_ins_table = Table(
    "nevis_auth_sign_ins",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("ciphertext", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

#: Seconds a callback waits for its sign-in to reach the database: the replica that started
#: it writes it as the browser leaves for the provider, which takes longer.
ARRIVAL_WAIT = 2.0
ARRIVAL_POLL = 0.1


class SharedSignIns:
    """Writes this replica's sign-ins to the database; takes any replica's from there."""

    def __init__(self, store: SQLTokenStore, pending: PendingLogins, log: logging.Logger) -> None:
        self.store = store
        self.pending = pending
        self.log = log
        #: States written to the database, whose rows are used up there once taken.
        self._written: set[str] = set()
        self._writing: set[asyncio.Task[None]] = set()
        #: Each sign-in's last write: the next waits for it, so that they commit in order.
        self._last_write: dict[str, asyncio.Task[None]] = {}
        metadata.create_all(store.engine)
        pending.changed = self.changed
        pending.link_ended = self.link_ended

    def changed(self, login: PendingLogin) -> None:
        """Write the sign-in `login` (new, or tied to a link) while its browser is away.

        A sign-in tied to a link right after it started is written twice at once: on a
        database server's several threads the first write could commit last, and the row
        lose its link. Each write waits for the one before it.
        """
        before = self._last_write.get(login.state)
        task = asyncio.ensure_future(self._write(login, before))
        self._last_write[login.state] = task
        self._writing.add(task)
        task.add_done_callback(lambda done: self._wrote(login.state, done))

    def _wrote(self, state: str, task: asyncio.Task[None]) -> None:
        self._writing.discard(task)
        if self._last_write.get(state) is task:
            del self._last_write[state]

    def link_ended(self, link: str, owner: str) -> None:
        """Mark the link `link` of `owner` ended for every replica: the cell stopped waiting."""
        text = self.store.fernet.encrypt(b"{}").decode("ascii")
        expires = datetime.now(timezone.utc) + timedelta(seconds=self.pending.ttl)
        work = self.store._call(
            put_row, self.store.engine, sign_ins_table, _ended_id(link, owner), text, expires
        )
        task = asyncio.ensure_future(work)
        self._writing.add(task)
        task.add_done_callback(self._ended_written)

    def _ended_written(self, task: asyncio.Task[None]) -> None:
        self._writing.discard(task)
        if not task.cancelled() and isinstance(task.exception(), StoreUnavailableError):
            self.log.warning(
                "A link's end could not be written to the database: its sign-in may still "
                "finish at another replica."
            )

    async def claim(self, state: str) -> None:
        """Before a callback: the sign-in `state` here if it is anywhere, else nowhere.

        Taken from the database, it can no longer be taken by another replica; one this
        replica wrote that is gone from the database was used at another replica.
        """
        if not state:
            return
        rid = fingerprint(state)
        waited = 0.0
        try:
            while (ciphertext := await self.store._call(_take, self.store.engine, rid)) is None:
                if state in self._written or waited >= ARRIVAL_WAIT:
                    break
                await asyncio.sleep(ARRIVAL_POLL)
                waited += ARRIVAL_POLL
        except StoreUnavailableError:
            return  # the store has said so; this replica's own sign-ins still finish
        if ciphertext is None:
            if state in self._written:
                self._written.discard(state)
                self.pending.pop(state)
            return
        self._written.discard(state)
        with contextlib.suppress(InvalidToken, ValueError, TypeError, KeyError, AttributeError):
            data = json.loads(self.store.fernet.decrypt(ciphertext.encode("ascii")))
            if self.pending.peek(state) is None:
                self.pending.restore(login_of(data))
        login = self.pending.peek(state)
        if login is not None and login.link:
            # The cell may have stopped waiting at another replica: then no sign-in is kept.
            ended = _ended_id(login.link, login.owner)
            with contextlib.suppress(StoreUnavailableError):
                if await self.store._call(_exists, self.store.engine, ended):
                    self.pending.end_link(login.link, login.owner)

    async def stop(self) -> None:
        """Let the writes under way end."""
        if self._writing:
            await asyncio.wait(list(self._writing), timeout=5)

    async def _write(self, login: PendingLogin, before: asyncio.Task[None] | None = None) -> None:
        if before is not None:
            await asyncio.wait([before])
        text = self.store.fernet.encrypt(json.dumps(login_data(login)).encode()).decode("ascii")
        expires = datetime.now(timezone.utc) + timedelta(seconds=self.pending.ttl)
        row = (self.store.engine, sign_ins_table, fingerprint(login.state), text, expires)
        try:
            await self.store._call(put_row, *row)
        except StoreUnavailableError:
            self.log.warning(
                "A sign-in of %s could not be written to the database: its callback must "
                "reach this replica.",
                login.owner or "a user",
            )
            return
        self._written.add(login.state)


def put_row(engine: Engine, table: Table, rid: str, ciphertext: str, expires: datetime) -> None:
    """Write one encrypted row of `table` over any row of its id; expired rows go with it."""
    try:
        _put(engine, table, rid, ciphertext, expires)
    except IntegrityError:
        # Another write of the same id (a sign-in started, then changed) inserted its row
        # between this one's delete and insert: write once more over it, the later one wins.
        _put(engine, table, rid, ciphertext, expires)


def _put(engine: Engine, table: Table, rid: str, ciphertext: str, expires: datetime) -> None:
    with engine.begin() as db:
        # The expired rows of every replica go with each new one.
        now = datetime.now(timezone.utc)
        db.execute(delete(table).where(table.c.expires_at < now))
        db.execute(delete(table).where(table.c.id == rid))
        db.execute(insert(table).values(id=rid, ciphertext=ciphertext, expires_at=expires))


def _ended_id(link: str, owner: str) -> str:
    return fingerprint(f"link-ended:{owner}:{link}")


def _exists(engine: Engine, rid: str) -> bool:
    with engine.begin() as db:
        found = select(sign_ins_table.c.id).where(sign_ins_table.c.id == rid)
        return db.execute(found).first() is not None


def _take(engine: Engine, rid: str) -> str | None:
    with engine.begin() as db:
        taken = delete(sign_ins_table).where(sign_ins_table.c.id == rid)
        return db.execute(taken.returning(sign_ins_table.c.ciphertext)).scalar_one_or_none()


class ReplicaCallbackHandler(CallbackHandler):
    """callback, where replicas share the sign-ins: the sign-in is taken from the database."""

    async def prepare(self) -> None:
        """Take the callback's sign-in, wherever it started, before the callback looks."""
        await super().prepare()
        state = self.get_query_argument("state", "", strip=False)
        await self.settings["nevis_auth_sign_ins"].claim(state)
        login = self.nevis.pending.peek(state) if state else None
        if login is not None and login.via_link and self.settings["nevis_auth_links"]:
            # Its done page says whether the cell waits, which it may do at another replica.
            await self.settings["nevis_auth_links"].cell_waits(login.owner)
