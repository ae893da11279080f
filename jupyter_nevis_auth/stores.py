"""Where token sets are kept: the TokenStore interface and the in-memory store."""

from __future__ import annotations

from typing import Any

from traitlets.config import LoggingConfigurable

from .tokens import TokenSet


class TokenStore(LoggingConfigurable):
    """Where each Jupyter user's token set is kept."""

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
