"""Making a store key: `jupyter nevis-auth make-key`, and the older `python -m` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

from jupyter_nevis_auth.core.store_key import OLD_COMMAND_DROPPED_IN
from jupyter_nevis_auth.core.stores import make_fernet

ROOT = Path(__file__).resolve().parent.parent
JUPYTER = str(Path(sys.executable).parent / "jupyter")


def run(*command: str) -> subprocess.CompletedProcess[str]:
    """`command` as a person runs it in a shell, from the repository."""
    return subprocess.run(
        command, capture_output=True, text=True, check=True, cwd=ROOT, timeout=120
    )


def assert_a_new_key(printed: str) -> str:
    """`printed` is one Fernet key, alone on its line, that both stores take."""
    assert printed.endswith("\n") and printed.count("\n") == 1
    key = printed.strip()
    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"ok")) == b"ok"
    assert make_fernet(key).decrypt(Fernet(key.encode()).encrypt(b"ok")) == b"ok"
    return key


def test_make_key_prints_a_new_key_and_nothing_else():
    first, second = run(JUPYTER, "nevis-auth", "make-key"), run(JUPYTER, "nevis-auth", "make-key")
    assert assert_a_new_key(first.stdout) != assert_a_new_key(second.stdout)
    assert first.stderr == ""


def test_make_key_is_listed_and_says_what_it_does():
    listed = run(JUPYTER, "nevis-auth", "--help")
    assert "make-key\n    Print a new key for NevisAuth.store_key" in listed.stdout
    own = run(JUPYTER, "nevis-auth", "make-key", "--help")
    assert "Print a new random key for NevisAuth.store_key" in own.stdout


def test_the_old_module_still_prints_a_key_and_names_the_new_command():
    result = run(sys.executable, "-m", "jupyter_nevis_auth.core.file_store")
    assert_a_new_key(result.stdout)
    assert result.stderr == (
        "`python -m jupyter_nevis_auth.filestore` is deprecated and is dropped in "
        f"jupyter-nevis-auth {OLD_COMMAND_DROPPED_IN}; use `jupyter nevis-auth make-key`.\n"
    )
