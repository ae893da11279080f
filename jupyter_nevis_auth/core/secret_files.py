"""Files holding secrets: made readable by their owner only, refused when anybody may read them.

The rule is JupyterHub's for its cookie secret file: a secret every account of the machine
can read is no secret, so such a file is refused, with the command that fixes it, rather
than used. Group access is left alone: a Kubernetes Secret mounted with `fsGroup` is
readable by the pod's group.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SettingsError


def check_private(file: Path, what: str) -> None:
    """SettingsError when accounts other than the file's owner and group may read or write it."""
    if os.name != "nt" and file.stat().st_mode & 0o007:
        raise SettingsError(
            f"The {what} {file} can be read or written by anybody; make it readable by its "
            f"owner only (chmod 600 {file})."
        )


def create_private(file: Path) -> int:
    """A descriptor, open for writing, of the new file `file`: its owner's alone from the start.

    FileExistsError when `file` exists: an existing file is never taken over.
    """
    # Never readable by anyone else for a moment, whatever the umask.
    return os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def read_secret_file(path: str, what: str, option: str) -> str:
    """The text of the file at `path`, stripped; SettingsError naming `option` when unusable.

    `what` names the file for a person ("store key file"); `option` is how to set its path,
    e.g. "NevisAuth.store_key_file ($NEVIS_AUTH_STORE_KEY_FILE)".
    """
    file = Path(path).expanduser()
    try:
        check_private(file, what)
        text = file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
        raise SettingsError(f"The {what} {path} cannot be read ({why}); fix {option}.") from e
    if not text:
        raise SettingsError(f"The {what} {path} is empty; fix {option}.")
    return text
