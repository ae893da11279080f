"""A token store in a database (SQLAlchemy), each row Fernet-encrypted: the service's store."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from cryptography.fernet import InvalidToken, MultiFernet
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from ...core.apis import split_key
from ...core.stores import Lease, TokenStore
from ...core.stores import make_fernet as make_fernet  # where the service's callers found it
from ...core.tokens import TokenSet
from ...errors import StoreUnavailableError
from . import token_rows
from .change_feed import CHANNEL, ChangeFeed, notice
from .leases import Leases, SQLLease
from .read_cache import ReadCache as ReadCache  # where the tests found it
from .sql_engine import CONNECT_TIMEOUT, autocommit, executor_for, make_engine
from .token_rows import metadata as metadata  # where the service's modules found them
from .token_rows import row_id as row_id
from .token_rows import tokens_table as tokens_table

T = TypeVar("T")


#: What a request that needs the database hears while it cannot be reached.
UNAVAILABLE = (
    "The token store is unavailable (its database cannot be reached); try again in a minute."
)
#: Seconds after a write a SQLite file took during which that is proof it takes the next
#: (before a refresh), instead of writing to see. A file does not restart as a database
#: server does.
RECENT_WRITE_SECONDS = 1.0


class SQLTokenStore(TokenStore):
    """Keeps every user's tokens in a database, encrypted with NevisAuth.store_key.

    A row that cannot be decrypted, or that was moved under another key, reads as
    signed out. Calls run in threads, a connection per call: a slow database holds up
    only the requests that wait for it. SQLite takes one writer at a time, and writers that
    find it busy sleep and try again (up to 100 ms a time), so its calls run one after
    another in one thread of their own. What was read or written is kept decrypted in
    memory (`ReadCache`), so most reads need neither the database nor a decryption;
    where replicas share the database, for a few seconds only.
    """

    def __init__(
        self,
        db_url: str,
        fernet: MultiFernet,
        *,
        shared: bool = False,
        cache_seconds: float = 2.0,
        lease_seconds: float = 10.0,
        **kwargs: Any,
    ) -> None:
        """A store in the database at `db_url`; its tables are created when missing.

        `shared`: other processes (replicas) use the database too, so what was read is
        trusted `cache_seconds`, and refreshes take a lease of `lease_seconds` there.
        """
        super().__init__(**kwargs)
        self.engine = make_engine(db_url)
        #: Where calls run: SQLite's one thread, or asyncio's default executor (None).
        self._executor = executor_for(self.engine)
        self.fernet = fernet
        self.shared = shared
        self._warned: set[str] = set()
        self.cache = ReadCache(cache_seconds if shared else math.inf)
        #: When the database last took a write (time.monotonic()).
        self._written_at = -math.inf
        #: Whether the last call reached the database: the log says when that changes.
        self.reachable = True
        metadata.create_all(self.engine)
        self.leases = Leases(self.engine, self._call, lease_seconds) if shared else None
        #: PostgreSQL: its statements commit alone (a refresh's write in one round trip).
        self._alone = autocommit(self.engine) if self.engine.dialect.name == "postgresql" else None
        #: Each leased key's row as the lease's transaction read it, and the key's
        #: ReadCache.generation before: what reread() answers under that lease.
        self._read_with_lease: dict[str, tuple[tuple[int, int], str | None]] = {}
        #: The leases this process holds, by key: a write of the key gives its lease back.
        self._leases_held: dict[str, SQLLease] = {}
        #: Other replicas' writes, heard as they commit (PostgreSQL only).
        self.feed: ChangeFeed | None = None
        if shared and self.engine.url.get_backend_name() == "postgresql":
            url, timeout = self.engine.url, CONNECT_TIMEOUT
            heard = self._written_elsewhere
            self.feed = ChangeFeed(url, self.cache, heard, cache_seconds, self.log, timeout)
        self.lease_seconds = lease_seconds if shared else 0.0

    @property
    def where(self) -> str:
        """The database's URL without its password, for the log."""
        return self.engine.url.render_as_string(hide_password=True)

    async def get(self, user: str) -> TokenSet | None:
        """The tokens kept under `user` (a store key), or None when signed out."""
        cached = self.cache.get(user)
        if cached is not None:
            return cached
        generation = self.cache.generation(user)
        return self._decrypted(
            user, await self._call(token_rows.read, self.engine, user), generation
        )

    def _decrypted(
        self, user: str, ciphertext: str | None, generation: tuple[int, int]
    ) -> TokenSet | None:
        """The tokens in `user`'s row (kept unless written since `generation`), or None."""
        if ciphertext is None:
            return None
        try:
            data = json.loads(self.fernet.decrypt(ciphertext.encode("ascii")))
            # The key is inside the encryption: a row copied under another user is refused.
            if data.get("key") != user:
                raise ValueError("row of another key")
            tokens = TokenSet.from_dict(data["tokens"])
        except (InvalidToken, ValueError, TypeError, KeyError, AttributeError) as e:
            self._warn_once(user, e)
            return None
        self.cache.keep(user, tokens, generation)
        return tokens

    async def reread(self, user: str) -> TokenSet | None:
        """The tokens under `user` in the database now (where other processes share it).

        Under a lease just taken: what the lease's own transaction read, unless this process
        wrote `user` since.
        """
        if self.shared:
            taken = self._read_with_lease.pop(user, None)
            if taken is not None and taken[0] == self.cache.generation(user):
                tokens = self._decrypted(user, taken[1], taken[0])
                if tokens is None:
                    self.cache.forget(user)  # signed out: nothing older stays cached
                return tokens
            self.cache.forget(user)
        return await self.get(user)

    def lease(self, key: str, wait: bool = True) -> contextlib.AbstractAsyncContextManager[Lease]:
        """`key`'s refresh lease: in the database where other processes share it."""
        if self.leases is None:
            return super().lease(key)
        return self._leased(self.leases, key, wait)

    @contextlib.asynccontextmanager
    async def _leased(self, leases: Leases, key: str, wait: bool) -> AsyncIterator[Lease]:
        """The database lease of `key`, its row read in the same transaction (for reread)."""
        generation = self.cache.generation(key)
        read = functools.partial(token_rows.read_in, key=key)
        async with leases.hold(key, wait, read) as lease:
            if isinstance(lease, SQLLease):
                self._read_with_lease[key] = (generation, lease.read)
                self._leases_held[key] = lease
            try:
                yield lease
            finally:
                self._read_with_lease.pop(key, None)
                self._leases_held.pop(key, None)

    def waits_for_lease(self, key: str) -> bool:
        """Whether a refresh here waits for `key`'s lease, which another replica holds."""
        return self.leases is not None and key in self.leases.waiting

    async def abandoned_refreshes(self) -> list[str]:
        """Keys whose refresh a replica began and never ended (killed): Leases.abandoned."""
        return await self.leases.abandoned() if self.leases is not None else []

    async def set(self, user: str, tokens: TokenSet) -> None:
        """Keep the tokens under `user`, encrypted with the newest key.

        Under `user`'s lease (a refresh's answer), the same transaction gives the lease back:
        both happen, or neither does and the lease is held on (KeptWrites).
        """
        payload = json.dumps({"key": user, "tokens": tokens.to_dict()}).encode()
        ciphertext = self.fernet.encrypt(payload).decode("ascii")
        self.cache.forget(user)
        lease = self._leases_held.get(user)
        if lease is not None and lease.given_back:
            lease = None
        if self._alone is not None:
            told = notice(self.feed.origin, row_id(user), ciphertext) if self.feed else None
            also = [lease.giving_back()] if lease is not None else []
            statement = token_rows.one_write(user, ciphertext, also, told)
            await self._call(token_rows.run_alone, self._alone, statement)
        else:  # in one transaction (SQLite, other databases: no notices there)
            give_back = lease.give_back_in if lease is not None else None
            await self._call(token_rows.write, self.engine, user, ciphertext, give_back)
        if lease is not None:
            lease.given_back = True
        self._written_at = time.monotonic()
        self.cache.written(user, tokens)
        self._warned.discard(user)

    async def delete(self, user: str) -> None:
        """Forget the tokens under `user`."""
        self.cache.forget(user)
        announce = functools.partial(self._announce, reason=self.signed_out_reason.get(user, ""))
        await self._call(token_rows.remove, self.engine, user, announce)
        self._written_at = time.monotonic()
        self.cache.written(user, None)

    async def keys(self) -> list[str]:
        """Every key tokens are kept under."""
        return await self._call(token_rows.keys, self.engine)

    async def check_writable(self, key: str) -> None:
        """Raise StoreUnavailableError unless the database takes a write now.

        A write within RECENT_WRITE_SECONDS answers, so that a refresh costs one write: on
        SQLite any, on a server the refresh's lease of `key`. (KeptWrites keeps what fails.)
        """
        recent = RECENT_WRITE_SECONDS
        if self._executor is not None and time.monotonic() - self._written_at < recent:
            return
        if self.leases is not None and self.leases.just_taken(key, recent):
            return
        await self._call(token_rows.touch, self.engine, key)
        self._written_at = time.monotonic()

    async def ping(self) -> None:
        """Raise StoreUnavailableError unless the database answers now."""
        await self._call(token_rows.ping, self.engine)

    async def _call(self, work: Callable[..., T], *args: Any) -> T:
        """Run `work` in a thread; the database's being unreachable is StoreUnavailableError."""
        try:
            result = await asyncio.get_running_loop().run_in_executor(
                self._executor, functools.partial(work, *args)
            )
        except (DBAPIError, DisconnectionError, PoolTimeoutError) as e:
            if isinstance(e, IntegrityError):
                raise
            if self.reachable:
                self.reachable = False
                cause = type(getattr(e, "orig", None) or e).__name__
                self.log.error(
                    "The token database %s cannot be reached (%s): requests that need it get "
                    "503 until it is back.",
                    self.where,
                    cause,
                )
            raise StoreUnavailableError(UNAVAILABLE) from e
        if not self.reachable:
            self.reachable = True
            self.log.warning("The token database %s is reachable again.", self.where)
        return result

    async def rotate(self) -> int:
        """Encrypt every row with the newest key, so older keys can be dropped; returns how many."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, token_rows.rotate, self.engine, self.fernet, self._warn_once
        )

    def listen(self) -> None:
        """Hear other replicas' writes from now on, where the database can say (PostgreSQL)."""
        if self.feed is not None:
            self.feed.start()

    async def stop_listening(self) -> None:
        """Stop hearing other replicas' writes (before close())."""
        if self.feed is not None:
            await self.feed.stop()

    def close(self) -> None:
        """Close the database connections."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self.engine.dispose()

    def _warn_once(self, key: str, error: Exception) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        why = (
            "it cannot be decrypted with NevisAuth.store_key (another key, or damaged)"
            if isinstance(error, InvalidToken)
            else f"it cannot be read ({type(error).__name__})"
        )
        self.log.warning(
            "Ignoring the stored tokens of %s: %s. That sign-in counts as signed out "
            "until the next one replaces it.",
            split_key(key)[0],
            why,
        )

    def _announce(self, db: Connection, key: str, reason: str) -> None:
        """Tell the other replicas, once this transaction commits, that `key` is gone, and why."""
        if self.feed is not None:
            payload = notice(self.feed.origin, row_id(key), None, reason)
            db.execute(select(func.pg_notify(CHANNEL, payload)))

    def _written_elsewhere(self, row: str, ciphertext: str | None, reason: str) -> None:
        """Another replica wrote `row`: what it holds now replaces what was cached of it.

        Its new ciphertext came with the notice (None: deleted, or too long for one): the
        tokens are then kept as if read, so the next request needs no query. A deletion
        says why its user is signed out, and this replica says so too.
        """
        key = self.cache.key_of(row)
        if key is None:
            return  # never read here: nothing cached
        self.cache.forget(key)
        if reason:
            self.signed_out_reason[key] = reason
        elif ciphertext is not None:
            self.signed_out_reason.pop(key, None)
            self._decrypted(key, ciphertext, self.cache.generation(key))
