"""Where token sets are kept: the TokenStore interface, the in-memory store, the stores' key."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet, MultiFernet
from traitlets.config import LoggingConfigurable

from .env import env_name
from .errors import SettingsError
from .tokens import TokenSet

MAKE_KEY = "`python -m jupyter_nevis_auth.filestore` makes one"


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
