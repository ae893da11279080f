"""The service's cookie secret, kept across restarts the way JupyterHub keeps its own.

The secret signs the cookies binding sign-ins to browsers and JupyterHub's OAuth cookie of
the service: with a new one at each start, every sign-in under way at a restart fails, and
every browser passes the hub's OAuth again. As JupyterHub's `cookie_secret` and
`cookie_secret_file`: a given secret (hex) wins, else the file's, else a new one is made and
written to the file, readable by its owner only.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from pathlib import Path

from ...core.secret_files import check_private, create_private
from ...errors import SettingsError

#: 256 bits, as JupyterHub makes its own.
SECRET_BYTES = 32
HEX = re.compile(r"([0-9a-fA-F]{2})+")
MAKE_ONE = "`openssl rand -hex 32` makes one"


def load_cookie_secret(given: str, path: str, log: logging.Logger) -> bytes:
    """The secret `given` (hex), else the one in the file at `path`, made there when missing.

    With neither, a new secret for this start only. SettingsError when the secret or the
    file cannot be used: a file others may read or write is refused, as JupyterHub does.
    """
    if given.strip():
        if not HEX.fullmatch(given.strip()):
            raise SettingsError(f"NevisAuthHub.cookie_secret is not hexadecimal; {MAKE_ONE}.")
        return bytes.fromhex(given.strip())
    if not path:
        return secrets.token_bytes(SECRET_BYTES)
    file = Path(path)
    try:
        if file.exists():
            return read_secret(file)
        secret = secrets.token_bytes(SECRET_BYTES)
        with os.fdopen(create_private(file), "w", encoding="ascii") as out:
            out.write(secret.hex() + "\n")
    except OSError as e:
        raise SettingsError(
            f"The cookie secret file {path} cannot be used ({e.strerror or type(e).__name__}); "
            "check NevisAuthHub.cookie_secret_file and the service's working directory."
        ) from e
    log.info("jupyter-nevis-auth: the cookie secret is kept in %s", path)
    return secret


def read_secret(file: Path) -> bytes:
    """The secret in `file`, refused when others may read or write the file."""
    check_private(file, "cookie secret file")
    text = file.read_text(encoding="ascii", errors="replace").strip()
    if not HEX.fullmatch(text):
        raise SettingsError(
            f"The cookie secret file {file} holds no hexadecimal secret; {MAKE_ONE}."
        )
    return bytes.fromhex(text)
