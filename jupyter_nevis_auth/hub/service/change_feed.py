"""Other replicas' token writes, heard as they commit: PostgreSQL's LISTEN/NOTIFY.

Each write to the tokens table sends a notice in its own transaction (PostgreSQL delivers it
when, and only if, that transaction commits), naming the row and the process that wrote it,
and carrying the row's new ciphertext when it fits a notice (encrypted as in the table; a
deletion carries the sentence saying why its user is signed out instead). Every replica
listens on a connection of its own and takes the new row into what it cached of that row
(or drops it, keeping why), so a refresh or a sign-out at one replica is seen at the others
within milliseconds, what a replica read stays in its memory until another writes it, and
another replica's refresh costs no read either: most reads need no query.

The feed vouches for the cache only while it is known to hear everything: it asks the
database a question every HEARTBEAT_SHARE of the cache time, and a notice committed before
the question was sent arrives before its answer. When the connection is lost, or a question
goes unanswered, entries are trusted `max_age` seconds after the last answer at most, as
without the feed; on reconnecting, everything cached is dropped (notices may have been
missed meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import URL

if TYPE_CHECKING:
    from psycopg import AsyncConnection

    from .read_cache import ReadCache

#: The channel the tokens table's writes are announced on.
CHANNEL = "nevis_auth_tokens"
#: The listening connection's name in pg_stat_activity.
APPLICATION_NAME = "jupyter-nevis-auth change feed"
#: The longest payload PostgreSQL takes in a notice is 7999 bytes: a longer row is announced
#: without its ciphertext, and the replicas read it again when they next need it.
MAX_PAYLOAD = 7999
#: The share of the cache time between two questions on the listening connection.
HEARTBEAT_SHARE = 0.25
#: Seconds between attempts to listen again after the connection was lost (doubling).
RETRY_FROM, RETRY_TO = 0.5, 5.0
#: The longest stop() waits for the listening to end: it does not hold a replica's stop up.
STOP_SECONDS = 5.0


async def answered_within(question: Awaitable[Any], seconds: float) -> Any:
    """`question`'s answer, or asyncio.TimeoutError after `seconds`.

    Before Python 3.12, asyncio.wait_for loses a cancellation that comes as the answer does:
    ChangeFeed.stop() therefore also tells its loop to end, and does not count on it.
    """
    return await asyncio.wait_for(question, seconds)


def notice(origin: str, row: str, ciphertext: str | None = None, reason: str = "") -> str:
    """The payload announcing a write of `row` by the process `origin`, with the row's new
    `ciphertext` when it fits (None: deleted, or read it again); a deletion with the
    `reason` its user is signed out, in a sentence, after a "-" (no ciphertext starts so)."""
    payload = f"{origin} {row}"
    if ciphertext is not None and len(payload) + 1 + len(ciphertext) <= MAX_PAYLOAD:
        payload = f"{payload} {ciphertext}"
    elif ciphertext is None and reason and len(payload) + 2 + len(reason) <= MAX_PAYLOAD:
        payload = f"{payload} -{reason}"
    return payload


#: Hears another process's write of a row: (row id, its new ciphertext or None, the reason
#: a deletion's user is signed out or "").
Heard = Callable[[str, "str | None", str], None]


class ChangeFeed:
    """Listens for the tokens table's writes and tells `heard` of them; see the module."""

    def __init__(
        self,
        url: URL,
        cache: ReadCache,
        heard: Heard,
        max_age: float,
        log: logging.Logger,
        timeout: float,
    ) -> None:
        # psycopg's own URI: SQLAlchemy's driver name is not one of libpq's schemes.
        self.conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.cache = cache
        self.heard = heard
        self.max_age = max_age
        self.log = log
        self.timeout = timeout
        #: This process, in its notices: its own writes are in its cache already.
        self.origin = secrets.token_hex(8)
        #: When the last question on the listening connection was sent that was answered
        #: (time.monotonic()): every write committed before it has been heard.
        self.heard_at = -math.inf
        self._task: asyncio.Task[None] | None = None
        #: Set by stop(): the loop ends at its next turn, even where a cancellation was lost.
        self._stopping = False
        self._lost_logged = False

    def start(self) -> None:
        """Listen in the background until stop()."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.ensure_future(self._run())
            self.cache.vouched = self.vouches

    def vouches(self, now: float) -> bool:
        """Whether every write committed up to `max_age` before `now` has been heard."""
        return now - self.heard_at <= self.max_age

    async def stop(self) -> None:
        """Stop listening, within STOP_SECONDS; the cache trusts entries `max_age` seconds
        again."""
        self.cache.vouched = None
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            task.cancel()
            await asyncio.wait([task], timeout=STOP_SECONDS)
            if task.done() and not task.cancelled():
                task.exception()  # the loop's own errors are logged where they happen

    async def _run(self) -> None:
        import psycopg  # the hub extra's driver; only a PostgreSQL store gets here

        delay = RETRY_FROM
        while not self._stopping:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo,
                    autocommit=True,
                    connect_timeout=max(1, int(self.timeout)),
                    application_name=APPLICATION_NAME,
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    # Whatever was cached before may have been written unheard.
                    self.cache.drop_all()
                    if self._lost_logged:
                        self.log.warning("Listening for other replicas' token writes again.")
                        self._lost_logged = False
                    delay = RETRY_FROM
                    await self._listen(conn)
            except (psycopg.Error, OSError, asyncio.TimeoutError) as e:
                self.heard_at = -math.inf
                if not self._lost_logged:
                    self._lost_logged = True
                    self.log.warning(
                        "Not listening for other replicas' token writes (%s): what this "
                        "replica read is trusted %g s at most until it listens again.",
                        type(e).__name__,
                        self.max_age,
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_TO)

    async def _listen(self, conn: AsyncConnection[Any]) -> None:
        interval = max(self.max_age * HEARTBEAT_SHARE, 0.05)
        while not self._stopping:
            asked = time.monotonic()
            await answered_within(conn.execute("SELECT 1"), self.timeout)
            # Notices that came with the answer first, then the question's moment counts.
            async for heard in conn.notifies(timeout=0):
                self._heard(heard.payload)
            self.heard_at = asked
            async for heard in conn.notifies(timeout=interval):
                self._heard(heard.payload)

    def _heard(self, payload: str) -> None:
        origin, _, rest = payload.partition(" ")
        if origin != self.origin:
            row, _, ciphertext = rest.partition(" ")
            if ciphertext.startswith("-"):
                self.heard(row, None, ciphertext[1:])
            else:
                self.heard(row, ciphertext or None, "")
