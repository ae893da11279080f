"""`jupyter nevis-auth make-key`: prints a new key for NevisAuth.store_key."""

from __future__ import annotations

import sys

from jupyter_core.application import JupyterApp

from .stores import MAKE_KEY_COMMAND, new_store_key

#: The release without `python -m jupyter_nevis_auth.filestore`, which made keys before.
OLD_COMMAND_DROPPED_IN = "0.3.0"


class MakeKeyApp(JupyterApp):
    """Prints a new random key for the encrypted token stores."""

    name = "jupyter-nevis-auth-make-key"
    description = """Print a new random key for NevisAuth.store_key ($NEVIS_AUTH_STORE_KEY):
    the key encrypting the tokens of EncryptedFileTokenStore's file and of the hub service's
    database. Keep it secret, e.g. in a file only the server can read
    (NevisAuth.store_key_file). To change keys, list the new key first and the old one after
    it until every store has been rewritten."""
    examples = f"""
{MAKE_KEY_COMMAND}
{MAKE_KEY_COMMAND} > store-key
"""

    def start(self) -> None:
        """Print the key, alone on its line, so that `> file` keeps nothing else."""
        sys.stdout.write(new_store_key() + "\n")


def old_command() -> None:
    """`python -m jupyter_nevis_auth.filestore`: a key, and on stderr the command to use now."""
    print(
        f"`python -m jupyter_nevis_auth.filestore` is deprecated and is dropped in "
        f"jupyter-nevis-auth {OLD_COMMAND_DROPPED_IN}; use `{MAKE_KEY_COMMAND}`.",
        file=sys.stderr,
    )
    sys.stdout.write(new_store_key() + "\n")
