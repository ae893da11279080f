"""The SQL store's decrypted rows, as this process last read or wrote them."""

from __future__ import annotations

import math
import time

from ...core.tokens import TokenSet


class ReadCache:
    """The decrypted tokens of the store's rows, as this process last read or wrote them.

    Each write counts, before and after it: a read that began before a write and ends after
    it is not kept, however the two interleave. Where this process is the database's only
    writer, an entry stays true until the process writes or deletes that key (`max_age`
    infinite); where replicas share the database, an entry is trusted `max_age` seconds, so
    another replica's refresh or sign-out is seen within that time.
    """

    def __init__(self, max_age: float = math.inf) -> None:
        self.max_age = max_age
        self._tokens: dict[str, tuple[TokenSet, float]] = {}
        self._writes: dict[str, int] = {}

    def get(self, key: str) -> TokenSet | None:
        """The tokens kept for `key`, None when not cached (signed-out keys never are)."""
        entry = self._tokens.get(key)
        if entry is None:
            return None
        tokens, kept = entry
        if self.max_age != math.inf and time.monotonic() - kept > self.max_age:
            del self._tokens[key]
            return None
        return tokens

    def generation(self, key: str) -> int:
        """How many times `key` was written; a read notes it before it starts."""
        return self._writes.get(key, 0)

    def keep(self, key: str, tokens: TokenSet, generation: int) -> None:
        """Keep what a read found, unless `key` was written since `generation`."""
        if self._writes.get(key, 0) == generation:
            self._tokens[key] = (tokens, time.monotonic())

    def forget(self, key: str) -> None:
        """Drop `key`, which is being written or deleted."""
        self._tokens.pop(key, None)
        self._writes[key] = self._writes.get(key, 0) + 1

    def written(self, key: str, tokens: TokenSet | None) -> None:
        """`key` now holds `tokens` (None: deleted) in the database."""
        self.forget(key)
        if tokens is not None:
            self._tokens[key] = (tokens, time.monotonic())
