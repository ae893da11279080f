"""Client keys for private_key_jwt: key files, assertions, rotation, make-client-key."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from jupyter_nevis_auth.core.client_keys import (
    ASSERTION_LIFETIME,
    ClientKeyFile,
    new_client_key,
    parse_client_keys,
    thumbprint,
)
from jupyter_nevis_auth.errors import SettingsError

JUPYTER = str(Path(sys.executable).parent / "jupyter")
OPTION = "NevisAuth.client_key_file ($NEVIS_AUTH_CLIENT_KEY_FILE)"


def pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def private_file(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_a_pem_file_with_two_keys_signs_with_the_first_and_publishes_both():
    new, old = ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 2048)
    keys = parse_client_keys(pem(new) + "\n" + pem(old), "the file")

    published = keys.public_jwks()["keys"]
    assert [k["kty"] for k in published] == ["EC", "RSA"]
    assert all("d" not in k and "p" not in k for k in published)
    assert published[0]["kid"] == thumbprint(published[0])

    assertion = keys.assertion("client-1", "https://id.example")
    header = jwt.get_unverified_header(assertion)
    assert header["alg"] == "ES256"
    assert header["kid"] == published[0]["kid"]
    claims = jwt.decode(
        assertion, new.public_key(), algorithms=["ES256"], audience="https://id.example"
    )
    assert claims["iss"] == claims["sub"] == "client-1"
    assert claims["exp"] - claims["iat"] == ASSERTION_LIFETIME
    assert keys.assertion("client-1", "https://id.example") != assertion
    other = jwt.decode(
        keys.assertion("client-1", "https://id.example"),
        options={"verify_signature": False},
    )
    assert other["jti"] != claims["jti"]


def test_a_jwk_set_keeps_its_kids_and_algorithms():
    first, second = new_client_key("PS256"), new_client_key("ES256")
    keys = parse_client_keys(json.dumps({"keys": [first, second]}), "the file")
    assert [k["kid"] for k in keys.public_jwks()["keys"]] == [first["kid"], second["kid"]]
    assert jwt.get_unverified_header(keys.assertion("c", "https://id.example"))["alg"] == "PS256"
    # One private JWK alone is a key file too.
    alone = parse_client_keys(json.dumps(second), "the file")
    assert alone.public_jwks()["keys"][0]["alg"] == "ES256"


def test_an_rsa_key_without_an_algorithm_signs_ps256_under_fapi():
    keys = parse_client_keys(pem(rsa.generate_private_key(65537, 2048)), "the file")
    assert jwt.get_unverified_header(keys.assertion("c", "i"))["alg"] == "RS256"
    assert jwt.get_unverified_header(keys.assertion("c", "i", fapi=True))["alg"] == "PS256"


PUBLIC_ONLY = {k: v for k, v in new_client_key("ES256").items() if k != "d"}


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("not a key", "neither PEM nor JSON"),
        (json.dumps(PUBLIC_ONLY), "no private RSA or EC key"),
        (json.dumps({**new_client_key("ES256"), "alg": "HS256"}), "use one of RS256"),
        (json.dumps({"keys": []}), "holds no private key"),
        # A weak key, made on purpose to be refused.
        (pem(rsa.generate_private_key(65537, 1024)), "under 2048 bits"),  # noqa: S505
        (pem(ec.generate_private_key(ec.SECP384R1())), "no private RSA or P-256 key"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "cannot be read"),
    ],
)
def test_an_unusable_key_file_is_refused_with_a_sentence(text: str, phrase: str):
    with pytest.raises(SettingsError, match=phrase) as raised:
        parse_client_keys(text, "The client key file k")
    assert str(raised.value).startswith("The client key file k")


def test_the_file_is_read_again_when_it_changes_and_refused_when_anybody_may_read_it(
    tmp_path: Path,
):
    path = private_file(tmp_path / "key.json", json.dumps(new_client_key("ES256")))
    key_file = ClientKeyFile(str(path), OPTION)
    first = key_file.keys().public_jwks()["keys"][0]["kid"]
    assert key_file.keys().public_jwks()["keys"][0]["kid"] == first

    rotated = new_client_key("ES256")
    path.write_text(json.dumps({"keys": [rotated, json.loads(path.read_text())]}))
    assert [k["kid"] for k in key_file.keys().public_jwks()["keys"]] == [rotated["kid"], first]

    path.chmod(0o644)
    with pytest.raises(SettingsError, match=r"readable by its owner only \(chmod 600 "):
        key_file.keys()
    path.unlink()
    with pytest.raises(SettingsError, match="cannot be read"):
        key_file.keys()


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [JUPYTER, "nevis-auth", "make-client-key", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_make_client_key_writes_a_private_file_and_prints_only_the_public_set(tmp_path: Path):
    made = run("--out=key.json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    path = tmp_path / "key.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    private = json.loads(path.read_text())["keys"]
    public = json.loads(made.stdout)["keys"]
    assert [k["kid"] for k in public] == [k["kid"] for k in private]
    assert public[0]["alg"] == "ES256" and "d" not in public[0]
    assert private[0]["d"] not in made.stdout + made.stderr
    assert "NevisAuth.client_key_file" in made.stderr
    # The file is one the server takes.
    assert ClientKeyFile(str(path), OPTION).keys().public_jwks()["keys"] == public

    again = run("--out=key.json", cwd=tmp_path)
    assert again.returncode == 1
    assert "exists already; use --rotate" in again.stderr
    assert "Traceback" not in again.stderr
    assert json.loads(path.read_text())["keys"] == private


def test_make_client_key_rotates_and_drops_the_old_key(tmp_path: Path):
    assert run("--out=key.json", cwd=tmp_path).returncode == 0
    old = json.loads((tmp_path / "key.json").read_text())["keys"][0]["kid"]

    rotated = run("--out=key.json", "--rotate", "--alg=PS256", cwd=tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    kids = [k["kid"] for k in json.loads(rotated.stdout)["keys"]]
    assert kids[1] == old and kids[0] != old
    assert json.loads(rotated.stdout)["keys"][0]["alg"] == "PS256"
    assert stat.S_IMODE((tmp_path / "key.json").stat().st_mode) == 0o600

    dropped = run("--out=key.json", "--drop-old", cwd=tmp_path)
    assert [k["kid"] for k in json.loads(dropped.stdout)["keys"]] == kids[:1]
    assert not list(tmp_path.glob("*.new"))


def test_make_client_key_shows_the_public_set_again_and_writes_nothing(tmp_path: Path):
    made = run("--out=key.json", cwd=tmp_path)
    path = tmp_path / "key.json"
    before = path.read_text()
    shown = run("--out=key.json", "--show", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == json.loads(made.stdout)
    assert path.read_text() == before
    assert json.loads(before)["keys"][0]["d"] not in shown.stdout + shown.stderr

    missing = run("--out=none.json", "--show", cwd=tmp_path)
    assert missing.returncode == 1
    assert "none.json does not exist" in missing.stderr and "Traceback" not in missing.stderr
    both = run("--out=key.json", "--show", "--rotate", cwd=tmp_path)
    assert both.returncode == 1 and "--show writes nothing" in both.stderr
    assert path.read_text() == before


def test_make_client_key_shows_a_pem_file_as_the_server_reads_it_and_refuses_what_it_refuses(
    tmp_path: Path,
):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = tmp_path / "key.pem"
    path.write_bytes(pem)
    path.chmod(0o600)
    shown = run("--out=key.pem", "--show", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == ClientKeyFile(str(path), OPTION).keys().public_jwks()
    # A PEM file holds one key: rotations change the JWK Set files the command writes.
    rotated = run("--out=key.pem", "--rotate", cwd=tmp_path)
    assert rotated.returncode == 1 and path.read_bytes() == pem
    assert "key.pem holds a PEM key; --rotate and --drop-old change the JWK Set" in rotated.stderr
    path.chmod(0o644)
    readable = run("--out=key.pem", "--show", cwd=tmp_path)
    assert readable.returncode == 1 and "can be read or written by anybody" in readable.stderr
    assert readable.stdout == ""


def test_make_client_key_says_what_it_cannot_do_in_one_sentence(tmp_path: Path):
    nowhere = run("--out=missing/key.json", cwd=tmp_path)
    assert nowhere.returncode == 1 and "Traceback" not in nowhere.stderr
    assert nowhere.stderr.strip() == "Cannot write missing/key.json: No such file or directory."
    assert run("--out=key.json", cwd=tmp_path).returncode == 0
    both = run("--out=key.json", "--rotate", "--drop-old", cwd=tmp_path)
    assert both.returncode == 1
    assert "--rotate and --drop-old are two steps of a rotation" in both.stderr


def test_make_client_key_is_listed():
    listed = subprocess.run(
        [JUPYTER, "nevis-auth", "--help-all"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ},
    )
    assert "make-client-key" in listed.stdout
    assert "Subcommands are launched as `jupyter nevis-auth cmd [args]`" in listed.stdout
