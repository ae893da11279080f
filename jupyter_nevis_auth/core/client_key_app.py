"""`jupyter nevis-auth make-client-key`: a key pair for private_key_jwt, its public JWK Set."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from jupyter_core.application import JupyterApp
from traitlets import Bool, Enum, Unicode

from ..errors import SettingsError
from .client_keys import CLIENT_ALGORITHMS, ClientKeys, new_client_key, parse_client_keys
from .secret_files import check_private, create_private

COMMAND = "jupyter nevis-auth make-client-key"


class MakeClientKeyApp(JupyterApp):
    """Writes a new private key for NevisAuth.client_key_file and prints its public JWK Set."""

    name = "jupyter-nevis-auth-make-client-key"
    description = """Write a new private key (a JWK Set, readable by its owner only) for
    NevisAuth.client_key_file ($NEVIS_AUTH_CLIENT_KEY_FILE) and print the public JWK Set to
    register at the provider (or let it read nevis/jwks.json). With --rotate the new key is
    put first in an existing file, before the key in use: register the printed set, and
    the server signs with the new key once it reads the file; drop the old key later with
    --drop-old. With --show, the public JWK Set of an existing file is printed again and
    nothing is written."""
    examples = f"""
{COMMAND} --out=client-key.json
{COMMAND} --out=client-key.json --alg=PS256
{COMMAND} --out=client-key.json --rotate
{COMMAND} --out=client-key.json --drop-old
{COMMAND} --out=client-key.json --show
"""
    aliases = {"out": "MakeClientKeyApp.out", "alg": "MakeClientKeyApp.alg"}  # noqa: RUF012
    flags = {  # noqa: RUF012 (traitlets' own class attribute)
        "rotate": ({"MakeClientKeyApp": {"rotate": True}}, "Put a new key first in --out."),
        "drop-old": (
            {"MakeClientKeyApp": {"drop_old": True}},
            "Keep only the first key of --out.",
        ),
        "show": (
            {"MakeClientKeyApp": {"show": True}},
            "Print the public JWK Set of --out again; write nothing.",
        ),
    }

    out = Unicode("client-key.json", config=True, help="The private key file to write.")
    alg = Enum(
        list(CLIENT_ALGORITHMS), "ES256", config=True, help="The new key's signature algorithm."
    )
    rotate = Bool(False, config=True, help="Put a new key first in an existing file.")
    drop_old = Bool(False, config=True, help="Keep only the first key of the file.")
    show = Bool(False, config=True, help="Print the file's public JWK Set; write nothing.")

    def start(self) -> None:
        """Write the file, print the public JWK Set; a sentence and exit code 1 on failure."""
        path = Path(self.out).expanduser()
        try:
            if self.show and (self.rotate or self.drop_old):
                raise SettingsError("--show writes nothing: leave out --rotate and --drop-old.")
            if self.rotate and self.drop_old:
                raise SettingsError(
                    "--rotate and --drop-old are two steps of a rotation: give one at a time."
                )
            keys = self._keys_now(path)
            if self.show:
                public = self._read(path).public_jwks()
                sys.stdout.write(json.dumps(public, indent=2) + "\n")
                return
            if self.drop_old:
                keys = keys[:1]
            elif self.rotate or not keys:
                keys = [new_client_key(self.alg), *keys]
            _write(path, {"keys": keys})
        except SettingsError as e:
            print(e, file=sys.stderr)
            self.exit(1)
        except OSError as e:
            print(f"Cannot write {path}: {e.strerror or e}.", file=sys.stderr)
            self.exit(1)
        public = parse_client_keys(json.dumps({"keys": keys}), str(path)).public_jwks()
        sys.stdout.write(json.dumps(public, indent=2) + "\n")
        print(f"Private key(s) in {path}: set NevisAuth.client_key_file to it.", file=sys.stderr)

    def _keys_now(self, path: Path) -> list[dict[str, object]]:
        if not path.exists():
            if self.rotate or self.drop_old or self.show:
                raise SettingsError(
                    f"{path} does not exist; make it first without --rotate, --drop-old or --show."
                )
            return []
        if not (self.rotate or self.drop_old or self.show):
            raise SettingsError(
                f"{path} exists already; use --rotate to add a new key to it, --show to print "
                "its public keys again, or another --out."
            )
        if self.show:
            return []  # read as the server reads it (_read): PEM too
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise SettingsError(f"{path} cannot be read ({e.strerror or e}).") from e
        try:
            data = json.loads(text)
        except ValueError as e:
            what = "a PEM key" if "-----BEGIN" in text else f"no JSON ({e})"
            raise SettingsError(
                f"{path} holds {what}; --rotate and --drop-old change the JWK Set files this "
                "command writes: make one with --out, then point NevisAuth.client_key_file at it."
            ) from e
        keys = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(keys, list) or not keys:
            raise SettingsError(f"{path} is no JWK Set this command wrote.")
        parse_client_keys(json.dumps(data), str(path))  # refuses what the server would
        return keys

    @staticmethod
    def _read(path: Path) -> ClientKeys:
        """The keys of `path` as the server reads them (a JWK Set, a JWK or PEM), or why not."""
        check_private(path, "client key file")
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise SettingsError(f"{path} cannot be read ({e.strerror or e}).") from e
        return parse_client_keys(text, str(path))


def _write(path: Path, data: dict[str, object]) -> None:
    """Replace `path` at once with a file only its owner can read."""
    partial = path.with_name(path.name + ".new")
    partial.unlink(missing_ok=True)
    with os.fdopen(create_private(partial), "w", encoding="utf-8") as file:
        json.dump(data, file, indent=2)
        file.write("\n")
    os.replace(partial, path)
