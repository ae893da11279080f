"""The SQL store's decrypted rows, as this process last read or wrote them."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from ...core.tokens import TokenSet, fingerprint


class ReadCache:
    """The decrypted tokens of the store's rows, as this process last read or wrote them.

    Each write counts, before and after it: a read that began before a write and ends after
    it is not kept, however the two interleave. Where this process is the database's only
    writer, an entry stays true until the process writes or deletes that key (`max_age`
    infinite); where replicas share the database, an entry is trusted `max_age` seconds, so
    another replica's refresh or sign-out is seen within that time, or for as long as
    `vouched` says that every other replica's write is heard (change_feed.py), which then
    replaces or drops the entry when one comes.
    """

    def __init__(self, max_age: float = math.inf) -> None:
        self.max_age = max_age
        #: Given the time.monotonic() of now: whether every write committed `max_age`
        #: seconds before it has been heard; None where nothing listens.
        self.vouched: Callable[[float], bool] | None = None
        self._tokens: dict[str, tuple[TokenSet, float]] = {}
        self._writes: dict[str, int] = {}
        #: The key of each row (its id, as notices name it) this process has read or written.
        self._keys: dict[str, str] = {}
        #: Counts drop_all(): a read that began before one is not kept either.
        self._epoch = 0

    def get(self, key: str) -> TokenSet | None:
        """The tokens kept for `key`, None when not cached (signed-out keys never are)."""
        entry = self._tokens.get(key)
        if entry is None:
            return None
        tokens, kept = entry
        if self.max_age != math.inf:
            now = time.monotonic()
            if now - kept > self.max_age and not (self.vouched and self.vouched(now)):
                del self._tokens[key]
                return None
        return tokens

    def generation(self, key: str) -> tuple[int, int]:
        """How many times `key` was written; a read notes it before it starts."""
        self._keys.setdefault(fingerprint(key), key)
        return self._epoch, self._writes.get(key, 0)

    def keep(self, key: str, tokens: TokenSet, generation: tuple[int, int]) -> None:
        """Keep what a read found, unless `key` was written since `generation`."""
        if (self._epoch, self._writes.get(key, 0)) == generation:
            self._tokens[key] = (tokens, time.monotonic())

    def forget(self, key: str) -> None:
        """Drop `key`, which is being written or deleted."""
        self._tokens.pop(key, None)
        self._writes[key] = self._writes.get(key, 0) + 1

    def key_of(self, row: str) -> str | None:
        """The key whose row id is `row`, if this process has read or written it."""
        return self._keys.get(row)

    def drop_all(self) -> None:
        """Drop every entry, and keep no read under way: writes may have gone unheard."""
        self._tokens.clear()
        self._epoch += 1

    def written(self, key: str, tokens: TokenSet | None) -> None:
        """`key` now holds `tokens` (None: deleted) in the database."""
        self.forget(key)
        self._keys.setdefault(fingerprint(key), key)
        if tokens is not None:
            self._tokens[key] = (tokens, time.monotonic())
