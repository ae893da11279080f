"""Client authentication by key (private_key_jwt, RFC 7523 and OpenID Connect Core 9).

A key file holds one private key or several, newest first: the first signs every client
assertion, all of them are published (NevisAuth.client_key_file), so a new key can be
registered at the provider before it signs and the old one dropped after.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from ..errors import SettingsError
from .secret_files import check_private

#: RFC 7523 2.2: the client_assertion_type of a JWT client assertion.
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Signature algorithms a client key may sign with; FAPI 2.0 allows the last two only.
CLIENT_ALGORITHMS = ("RS256", "PS256", "ES256")
FAPI_ALGORITHMS = ("PS256", "ES256")
#: Seconds a client assertion is valid: long enough for one call, too short to be reused.
ASSERTION_LIFETIME = 60
MIN_RSA_BITS = 2048
PEM_BEGIN = "-----BEGIN "
PEM_END = "-----END "

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def thumbprint(public_jwk: dict[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public RSA or EC JWK, base64url."""
    members = ("e", "kty", "n") if public_jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
    canonical = json.dumps({m: public_jwk[m] for m in members}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _public_jwk(key: PrivateKey) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        return RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return ECAlgorithm.to_jwk(key.public_key(), as_dict=True)


@dataclass(frozen=True, repr=False)
class ClientKey:
    """One private key of the client, with its key id and the algorithm it signs with."""

    private_key: PrivateKey
    kid: str
    #: The algorithm the key file names for it ("" when it names none).
    alg: str = ""

    def __repr__(self) -> str:
        return f"ClientKey(kid={self.kid!r})"

    def algorithm(self, fapi: bool = False) -> str:
        """The algorithm it signs with: the file's, else RS256 (PS256 under FAPI) or ES256."""
        if self.alg:
            return self.alg
        if isinstance(self.private_key, ec.EllipticCurvePrivateKey):
            return "ES256"
        return "PS256" if fapi else "RS256"

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK with its kid, use and (when known) alg."""
        jwk = {**_public_jwk(self.private_key), "kid": self.kid, "use": "sig"}
        return {**jwk, "alg": self.alg} if self.alg else jwk


@dataclass(frozen=True, repr=False)
class ClientKeys:
    """The keys of a key file, newest first: the first signs, all are published."""

    keys: tuple[ClientKey, ...]

    def __repr__(self) -> str:
        return f"ClientKeys(kids={[k.kid for k in self.keys]!r})"

    def assertion(self, client_id: str, audience: str, *, fapi: bool = False) -> str:
        """A fresh client assertion (RFC 7523 3): iss = sub = client_id, a unique jti."""
        key = self.keys[0]
        now = int(time.time())
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "jti": secrets.token_urlsafe(24),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        }
        return jwt.encode(
            claims, key.private_key, algorithm=key.algorithm(fapi), headers={"kid": key.kid}
        )

    def public_jwks(self) -> dict[str, Any]:
        """The JWK Set to register at the provider (or to serve at its jwks_uri)."""
        return {"keys": [k.public_jwk() for k in self.keys]}


def _from_jwk(jwk: Any, where: str) -> ClientKey:
    if not isinstance(jwk, dict) or jwk.get("kty") not in ("RSA", "EC") or "d" not in jwk:
        raise SettingsError(f"{where} holds a JWK that is no private RSA or EC key.")
    alg = jwk.get("alg", "")
    if alg and alg not in CLIENT_ALGORITHMS:
        raise SettingsError(
            f"{where} names the algorithm {alg}; use one of {', '.join(CLIENT_ALGORITHMS)}."
        )
    try:
        reader = RSAAlgorithm if jwk["kty"] == "RSA" else ECAlgorithm
        key = reader.from_jwk(jwk)
    except (jwt.InvalidKeyError, ValueError, KeyError, TypeError) as e:
        raise SettingsError(f"{where} holds a malformed JWK.") from e
    checked = _checked(key, where)
    kid = jwk.get("kid")
    return ClientKey(checked, kid if isinstance(kid, str) and kid else _kid(checked), alg)


def _checked(key: Any, where: str) -> PrivateKey:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise SettingsError(f"{where} holds an RSA key under {MIN_RSA_BITS} bits.")
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise SettingsError(f"{where} holds no private RSA or P-256 key (RS256, PS256, ES256).")


def _kid(key: PrivateKey) -> str:
    return thumbprint(_public_jwk(key))


def _from_pem(text: str, where: str) -> list[ClientKey]:
    keys: list[ClientKey] = []
    for block in text.split(PEM_BEGIN)[1:]:
        pem = PEM_BEGIN + block
        if "PRIVATE KEY" not in pem.partition("\n")[0]:
            continue  # a certificate or a public key beside the private one
        try:
            key = serialization.load_pem_private_key(pem.encode(), password=None)
        except (ValueError, TypeError) as e:
            raise SettingsError(f"{where} holds a PEM key that cannot be read.") from e
        checked = _checked(key, where)
        keys.append(ClientKey(checked, _kid(checked)))
    return keys


def parse_client_keys(text: str, where: str) -> ClientKeys:
    """The keys of a key file's text: PEM private keys, a private JWK or a JWK Set."""
    if PEM_BEGIN in text:
        keys = _from_pem(text, where)
    else:
        try:
            data = json.loads(text)
        except ValueError as e:
            raise SettingsError(f"{where} is neither PEM nor JSON (a JWK or JWK Set).") from e
        found = data.get("keys") if isinstance(data, dict) and "keys" in data else [data]
        keys = [_from_jwk(jwk, where) for jwk in found] if isinstance(found, list) else []
    if not keys:
        raise SettingsError(f"{where} holds no private key.")
    if len({k.kid for k in keys}) != len(keys):
        raise SettingsError(f"{where} holds two keys with the same kid.")
    return ClientKeys(tuple(keys))


class ClientKeyFile:
    """A key file, read again when it changes (a rotated key is picked up without a restart)."""

    def __init__(self, path: str, option: str) -> None:
        self.path = Path(path).expanduser()
        #: How to name the setting in a sentence, e.g. "NevisAuth.client_key_file ($...)".
        self.option = option
        self._seen: tuple[int, int, int] | None = None
        self._keys: ClientKeys | None = None
        self._lock = threading.Lock()

    def keys(self) -> ClientKeys:
        """The keys now in the file; SettingsError naming the option when it cannot be used.

        Blocking (a stat, and a read after a change): call it off the event loop.
        """
        where = f"The client key file {self.path}"
        with self._lock:
            try:
                check_private(self.path, "client key file")
                info = os.stat(self.path)
                seen = (info.st_mtime_ns, info.st_size, info.st_ino)
                if seen == self._seen and self._keys is not None:
                    return self._keys
                text = self.path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                why = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
                raise SettingsError(f"{where} cannot be read ({why}); fix {self.option}.") from e
            try:
                keys = parse_client_keys(text, where)
            except SettingsError as e:
                raise SettingsError(f"{str(e).rstrip('.')}; fix {self.option}.") from e
            self._seen, self._keys = seen, keys
            return keys


def new_client_key(alg: str) -> dict[str, Any]:
    """A new private JWK for `alg` (RS256 and PS256: RSA 3072 bits; ES256: P-256)."""
    key: PrivateKey
    if alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
        jwk = ECAlgorithm.to_jwk(key, as_dict=True)
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
    return {**jwk, "kid": _kid(key), "alg": alg, "use": "sig"}
