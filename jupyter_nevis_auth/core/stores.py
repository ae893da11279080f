"""Where token sets are kept: the TokenStore interface, the in-memory store, the stores' key."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from typing import Any

from cryptography.fernet import Fernet, MultiFernet
from traitlets.config import LoggingConfigurable

from ..errors import SettingsError, StoreUnavailableError
from .apis import split_key
from .env import env_name
from .tokens import TokenSet

#: The command printing a new key, as the stores' messages and the docs name it.
MAKE_KEY_COMMAND = "jupyter nevis-auth make-key"
MAKE_KEY = f"`{MAKE_KEY_COMMAND}` makes one"
#: Seconds between two tries to write what the store could not take.
WRITE_RETRY = 2.0
#: Seconds between two looks at whether a kept write, whose lease is held on, is written.
LEASE_HELD_POLL = 0.2


def make_fernet(store_key: str) -> MultiFernet:
    """The keys of NevisAuth.store_key (comma separated, newest first), or SettingsError.

    The one reading of the key for both encrypted stores: a server's file and the hub
    service's database.
    """
    keys = [k.strip() for k in store_key.split(",") if k.strip()]
    if not keys:
        raise SettingsError(
            f"Set NevisAuth.store_key (or ${env_name('store_key')}, or "
            f"${env_name('store_key_file')} for a mounted secret file) to keep the tokens "
            f"encrypted; {MAKE_KEY}."
        )
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except ValueError as e:
        raise SettingsError(
            "NevisAuth.store_key is not a list of Fernet keys (each 44 characters of url-safe "
            f"base64, comma separated); {MAKE_KEY}."
        ) from e


def new_store_key() -> str:
    """A new random key for NevisAuth.store_key: a Fernet key (32 bytes, url-safe base64)."""
    return Fernet.generate_key().decode()


class Lease:
    """The right to refresh one key's tokens, held by one process at a time.

    Where a store is one process's own, the process's lock is enough and this is all there
    is; a store that several processes share (the hub service's replicas) holds it in the
    database, and says what the others' last failed refresh asks of this one.
    """

    #: Held by another process now, when asked for without waiting: nothing may be done.
    busy: bool = False
    #: Seconds another process's failed refresh of this key asks every process to wait.
    quiet_for: float = 0.0
    #: That refresh's failure, in a sentence.
    quiet_reason: str = ""

    def cool_down(self, seconds: float, reason: str) -> None:
        """This refresh failed: every process leaves the key alone for `seconds`."""


class TokenStore(LoggingConfigurable):
    """Where each Jupyter user's token set is kept."""

    #: Seconds another process's lease lasts unless renewed; 0 where no other process shares it.
    lease_seconds: float = 0.0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: Why each signed-out user is signed out, in a sentence (TokenManager's): set before
        #: the deletion, so that a store shared by replicas tells them why too.
        self.signed_out_reason: dict[str, str] = {}

    async def get(self, user: str) -> TokenSet | None:
        """The user's tokens, or None when signed out."""
        raise NotImplementedError

    async def set(self, user: str, tokens: TokenSet) -> None:
        """Keep the user's tokens, replacing older ones."""
        raise NotImplementedError

    async def delete(self, user: str) -> None:
        """Forget the user's tokens."""
        raise NotImplementedError

    async def keys(self) -> list[str]:
        """Every key tokens are kept under."""
        raise NotImplementedError

    async def reread(self, user: str) -> TokenSet | None:
        """The user's tokens as the store holds them now, under a lease: nothing cached."""
        return await self.get(user)

    def lease(self, key: str, wait: bool = True) -> contextlib.AbstractAsyncContextManager[Lease]:
        """Hold `key`'s refresh lease while the block runs (a store of one process: no wait).

        `wait` False: when another process holds it, a `busy` lease at once.
        """
        return contextlib.nullcontext(Lease())

    def waits_for_lease(self, key: str) -> bool:
        """Whether this process waits for `key`'s lease, which another process holds."""
        return False

    async def abandoned_refreshes(self) -> list[str]:
        """Keys whose refresh another process sharing the store began and never ended."""
        return []

    async def check_writable(self, key: str) -> None:
        """Raise StoreUnavailableError unless `key` can be written now (before a refresh).

        A refresh whose answer cannot be stored may cost the grant: with rotation, the
        provider ends it when the old refresh token is used again.
        """

    async def flush(self) -> bool:
        """Write what earlier writes could not; True when nothing is left unwritten."""
        return True

    async def ping(self) -> None:
        """Raise StoreUnavailableError unless the store can be reached now (a health check)."""


class KeptWrites(TokenStore):
    """A store whose failed writes are kept in memory, answered from, and written later.

    A refreshed token set the store cannot take yet (its database restarting) is the only
    copy of a rotated refresh token: losing it would sign the user out at the provider.
    """

    def __init__(self, store: TokenStore, **kwargs: Any) -> None:
        super().__init__(log=store.log, **kwargs)
        self.store = store
        self.signed_out_reason = store.signed_out_reason
        self.lease_seconds = store.lease_seconds
        #: What the store has not taken yet, by key; None stands for a deletion.
        self.unwritten: dict[str, TokenSet | None] = {}
        self._writer: asyncio.Task[None] | None = None
        #: Leases held on until the kept write of their key is written.
        self._holding: set[asyncio.Task[None]] = set()

    def __getattr__(self, name: str) -> Any:
        # The wrapped store's own methods (rotate, close...) stay reachable.
        store = self.__dict__.get("store")
        if store is None:
            raise AttributeError(name)
        return getattr(store, name)

    async def get(self, user: str) -> TokenSet | None:
        """The tokens under `user`: the newest kept here, else the store's."""
        if user in self.unwritten:
            return self.unwritten[user]
        return await self.store.get(user)

    async def set(self, user: str, tokens: TokenSet) -> None:
        """Write the tokens; kept here and written later when the store cannot take them now."""
        await self._write(user, tokens)

    async def delete(self, user: str) -> None:
        """Forget the tokens; the deletion is kept and written later when it cannot be now."""
        await self._write(user, None)

    async def keys(self) -> list[str]:
        """Every key, as it will be once what is kept here is written."""
        keys = set(await self.store.keys())
        keys.update(k for k, tokens in self.unwritten.items() if tokens is not None)
        keys.difference_update(k for k, tokens in self.unwritten.items() if tokens is None)
        return sorted(keys)

    async def check_writable(self, key: str) -> None:
        """Raise StoreUnavailableError unless the store can take a write of `key` now."""
        await self.store.check_writable(key)

    async def ping(self) -> None:
        """The store's own check."""
        await self.store.ping()

    async def reread(self, user: str) -> TokenSet | None:
        """The newest tokens under `user`: kept here, else the store's, uncached."""
        if user in self.unwritten:
            return self.unwritten[user]
        return await self.store.reread(user)

    def waits_for_lease(self, key: str) -> bool:
        """The store's answer."""
        return self.store.waits_for_lease(key)

    async def abandoned_refreshes(self) -> list[str]:
        """The store's answer."""
        return await self.store.abandoned_refreshes()

    @contextlib.asynccontextmanager
    async def lease(self, key: str, wait: bool = True) -> AsyncIterator[Lease]:
        """The store's lease of `key`, held on while a write of `key` is kept here.

        Given back then, another process could refresh with the refresh token the kept
        write replaces, which the provider may have rotated away.
        """
        held = self.store.lease(key, wait)
        lease = await held.__aenter__()
        try:
            yield lease
        except BaseException:
            if not await held.__aexit__(*sys.exc_info()):
                raise
        else:
            if key in self.unwritten:
                task = asyncio.ensure_future(self._hold_until_written(key, held))
                self._holding.add(task)
                task.add_done_callback(self._holding.discard)
            else:
                await held.__aexit__(None, None, None)

    async def _hold_until_written(
        self, key: str, held: contextlib.AbstractAsyncContextManager[Lease]
    ) -> None:
        try:
            while key in self.unwritten:
                await asyncio.sleep(LEASE_HELD_POLL)
        finally:
            await held.__aexit__(None, None, None)

    async def _write(self, key: str, tokens: TokenSet | None) -> None:
        self.unwritten.pop(key, None)
        try:
            await (self.store.delete(key) if tokens is None else self.store.set(key, tokens))
        except StoreUnavailableError as e:
            self.unwritten[key] = tokens
            self.log.warning(
                "The token store cannot take the tokens of %s now (%s); they are kept in "
                "memory and written once it can.",
                split_key(key)[0],
                e,
            )
            if self._writer is None or self._writer.done():
                self._writer = asyncio.ensure_future(self._write_later())

    async def _write_later(self) -> None:
        while self.unwritten:
            await asyncio.sleep(WRITE_RETRY)
            await self.flush()

    async def flush(self) -> bool:
        """Write what the store could not take before; True once nothing is left."""
        if not self.unwritten:
            return await self.store.flush()
        for key, tokens in list(self.unwritten.items()):
            try:
                await (self.store.delete(key) if tokens is None else self.store.set(key, tokens))
            except StoreUnavailableError:
                return False
            # Unless a newer write came in meanwhile, this one is done.
            if self.unwritten.get(key, 0) is tokens:
                del self.unwritten[key]
        if not self.unwritten:
            self.log.info("The token store took every write it could not take before.")
        return not self.unwritten and await self.store.flush()

    async def stop_writing(self) -> None:
        """Stop retrying in the background (after a last flush by the caller)."""
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        for task in list(self._holding):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class MemoryTokenStore(TokenStore):
    """Keeps tokens in the server's memory: a restart signs everybody out."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tokens: dict[str, TokenSet] = {}

    async def get(self, user: str) -> TokenSet | None:
        """The user's tokens, or None when signed out."""
        return self._tokens.get(user)

    async def set(self, user: str, tokens: TokenSet) -> None:
        """Keep the user's tokens, replacing older ones."""
        self._tokens[user] = tokens

    async def delete(self, user: str) -> None:
        """Forget the user's tokens."""
        self._tokens.pop(user, None)

    async def keys(self) -> list[str]:
        """Every key tokens are kept under."""
        return list(self._tokens)
