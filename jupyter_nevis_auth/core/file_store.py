"""A token store in an encrypted file, so that sign-ins survive a server restart.

`jupyter nevis-auth make-key` prints a new key for NevisAuth.store_key (store_key.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.fernet import InvalidToken, MultiFernet
from jupyter_core.paths import jupyter_data_dir
from traitlets import Unicode

from ..errors import SettingsError
from .config import NevisAuth
from .stores import TokenStore, make_fernet
from .tokens import TokenSet

#: Format of the decrypted file; a file of another version is treated as unreadable.
FILE_VERSION = 1


class EncryptedFileTokenStore(TokenStore):
    """Keeps tokens in a Fernet-encrypted file (mode 0600) that survives server restarts.

    Its file and key are NevisAuth.store_path and NevisAuth.store_key (or store_key_file).
    """

    path = Unicode(
        "",
        config=True,
        help="Deprecated: set NevisAuth.store_path ($NEVIS_AUTH_STORE_PATH) instead.",
    )

    def __init__(self, server_name: str = "", **kwargs: Any) -> None:
        """A store for one Jupyter server; a named JupyterHub server passes its name."""
        super().__init__(**kwargs)
        self.settings = self.parent if isinstance(self.parent, NevisAuth) else NevisAuth()
        if self.path:
            self.log.warning(
                "EncryptedFileTokenStore.path is deprecated; set NevisAuth.store_path instead."
            )
        # Named JupyterHub servers share the home directory but keep their own sign-ins.
        server = re.sub(r"[^A-Za-z0-9_.-]", "_", server_name)
        name = f"tokens-{server}.fernet" if server else "tokens.fernet"
        path = self.settings.store_path or self.path
        self.file = (
            Path(path).expanduser() if path else Path(jupyter_data_dir()) / "nevis_auth" / name
        )
        self._fernet = self._make_fernet()
        self._tokens: dict[str, TokenSet] = {}
        self._loaded = False
        # Set when the file exists but cannot be read: it is moved aside, never overwritten.
        self._unreadable = False
        #: Why the last write of the file failed; "" when it holds every sign-in.
        self._unsaved = ""
        self._lock = asyncio.Lock()

    def _make_fernet(self) -> MultiFernet | None:
        try:
            return make_fernet(self.settings.get_store_key())
        except SettingsError as e:
            self.log.warning(
                "%s Sign-ins are kept in memory only, not in %s, and end when the server stops.",
                e,
                self.file,
            )
            return None

    async def get(self, user: str) -> TokenSet | None:
        """The user's tokens, or None when signed out."""
        if not self._loaded:
            async with self._lock:
                await self._load()
        return self._tokens.get(user)

    async def set(self, user: str, tokens: TokenSet) -> None:
        """Keep the user's tokens, replacing older ones, and write the file."""
        async with self._lock:
            await self._load()
            self._tokens[user] = tokens
            await self._save()

    async def keys(self) -> list[str]:
        """Every key tokens are kept under."""
        if not self._loaded:
            async with self._lock:
                await self._load()
        return list(self._tokens)

    async def delete(self, user: str) -> None:
        """Forget the user's tokens and write the file."""
        async with self._lock:
            await self._load()
            if self._tokens.pop(user, None) is not None and not await self._save():
                # A sign-out must not come back with the next restart.
                try:
                    await asyncio.to_thread(self.file.unlink, True)
                except OSError as e:
                    self.log.error(
                        "Could not remove the token file %s (%s); delete it by hand to make "
                        "the sign-out last.",
                        self.file,
                        e.strerror or type(e).__name__,
                    )

    async def _load(self) -> None:
        if self._loaded:
            return
        try:
            self._tokens = await asyncio.to_thread(self._read)
        except FileNotFoundError:
            pass
        except (OSError, InvalidToken, ValueError, TypeError, KeyError, AttributeError) as e:
            self._unreadable = True
            if isinstance(e, InvalidToken):
                why = "it cannot be decrypted with NevisAuth.store_key (another key, or damaged)"
            else:
                why = f"it cannot be read ({type(e).__name__})"
            self.log.warning(
                "Ignoring the token file %s: %s. Everyone is signed out; the file is left "
                "untouched until the next sign-in, which moves it aside.",
                self.file,
                why,
            )
        # Only now: get() skips the lock once this is set, and must not see a half load.
        self._loaded = True

    def _read(self) -> dict[str, TokenSet]:
        data = self.file.read_bytes()
        if self._fernet is None:
            self._unreadable = True
            self.log.warning(
                "The token file %s exists but no valid key is set; everyone is signed out.",
                self.file,
            )
            return {}
        content = json.loads(self._fernet.decrypt(data))
        if content.get("version") != FILE_VERSION:
            raise ValueError("unknown version")
        return {str(user): TokenSet.from_dict(t) for user, t in content["users"].items()}

    async def _save(self) -> bool:
        if self._fernet is None:
            return True
        payload = json.dumps(
            {"version": FILE_VERSION, "users": {u: t.to_dict() for u, t in self._tokens.items()}}
        ).encode()
        try:
            await asyncio.to_thread(self._write, self._fernet.encrypt(payload))
        except OSError as e:
            self.log.warning(
                "Could not write the token file %s (%s); sign-ins are kept in memory and end "
                "when the server stops.",
                self.file,
                e.strerror or type(e).__name__,
            )
            self._unsaved = str(e.strerror or type(e).__name__)
            return False
        self._unsaved = ""
        return True

    async def flush(self) -> bool:
        """Write the file again if the last write failed; True when it holds every sign-in."""
        if not self._unsaved:
            return True
        async with self._lock:
            return await self._save()

    def _aside_name(self) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        for n in range(1000):
            kept = self.file.with_name(f"{self.file.name}.unreadable-{stamp}-{n}")
            if not kept.exists():
                return kept
        raise FileExistsError(f"too many unreadable token files next to {self.file}")

    def _write(self, payload: bytes) -> None:
        directory = self.file.parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self._unreadable and self.file.exists():
            kept = self._aside_name()
            os.replace(self.file, kept)
            self.log.warning("Moved the unreadable token file aside to %s.", kept)
        self._unreadable = False
        # mkstemp creates the file with mode 0600; os.replace makes the switch atomic.
        fd, temporary = tempfile.mkstemp(prefix=f".{self.file.name}.", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self.file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        with contextlib.suppress(OSError):
            # Make the rename itself durable; not every file system allows this.
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


if __name__ == "__main__":
    from .store_key import old_command

    old_command()
