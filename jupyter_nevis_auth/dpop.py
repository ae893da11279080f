"""DPoP (RFC 9449): the key a sign-in's tokens are bound to, and the proofs made with it.

Used by the server (token requests) and by kernels (requests to APIs); it imports only
the standard library and cryptography, so kernels load it cheaply and only when needed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

#: The token type, the Authorization scheme and the header of a DPoP proof.
DPOP = "DPoP"
#: The header a server's nonce comes in, and the error that asks for one.
NONCE_HEADER = "DPoP-Nonce"
USE_NONCE = "use_dpop_nonce"
_NONCE_CHALLENGE = re.compile(r'error\s*=\s*"?use_dpop_nonce\b')
#: The signature algorithm of every proof (ES256), made once.
_ES256 = ec.ECDSA(hashes.SHA256())


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def access_token_hash(access_token: str) -> str:
    """The `ath` of a proof sent with `access_token` (RFC 9449 4.2)."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


@lru_cache(maxsize=256)  # a notebook calls the same few URLs again and again
def target_uri(url: str) -> str:
    """The `htu` of a request to `url`: without its query and fragment (RFC 9449 4.2)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", "", ""))


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of an EC public JWK: what a token's cnf.jkt names."""
    members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


class DPoPKey:
    """An ES256 key pair that a sign-in's tokens are bound to; its repr shows no key."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        """Wrap a P-256 private key."""
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("A DPoP key must be a P-256 key (ES256).")
        self._key = private_key
        numbers = private_key.public_key().public_numbers()
        self.public_jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }
        self.thumbprint = jwk_thumbprint(self.public_jwk)
        #: The last access token proofs were made for, and its ath: a hash per token, not
        #: per request.
        self._ath: tuple[str, str] = ("", "")
        self._header = b64url(
            json.dumps(
                {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.public_jwk},
                separators=(",", ":"),
            ).encode()
        )

    @classmethod
    def generate(cls) -> DPoPKey:
        """A new key pair."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any] | str) -> DPoPKey:
        """The key of a private JWK (a mapping or its JSON); ValueError when it is not one."""
        data = json.loads(jwk) if isinstance(jwk, str) else jwk
        if not isinstance(data, Mapping) or data.get("kty") != "EC" or data.get("crv") != "P-256":
            raise ValueError("Not a P-256 private JWK.")
        try:
            d = int.from_bytes(_b64decode(str(data["d"])), "big")
            return cls(ec.derive_private_key(d, ec.SECP256R1()))
        except (KeyError, ValueError, TypeError) as e:
            raise ValueError("Not a P-256 private JWK.") from e

    def private_jwk(self) -> dict[str, str]:
        """The private key as a JWK: for an encrypted store and the kernel-secret channel only."""
        d = self._key.private_numbers().private_value.to_bytes(32, "big")
        return {**self.public_jwk, "d": b64url(d)}

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
        now: float | None = None,
    ) -> str:
        """A DPoP proof JWT for one request: htm, htu, iat, a new jti, ath with a token."""
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method.upper(),
            "htu": target_uri(url),
            "iat": int(time.time() if now is None else now),
        }
        if access_token is not None:
            last, ath = self._ath
            if access_token != last:
                ath = access_token_hash(access_token)
                self._ath = (access_token, ath)
            claims["ath"] = ath
        if nonce:
            claims["nonce"] = nonce
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{self._header}.{payload}".encode("ascii")
        r, s = decode_dss_signature(self._key.sign(signing_input, _ES256))
        return f"{self._header}.{payload}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def __repr__(self) -> str:
        return f"<DPoP key {self.thumbprint[:8]}…>"


class Nonces:
    """The last DPoP nonce each server (by origin) gave, for the next proof sent to it."""

    def __init__(self) -> None:
        """An empty cache."""
        self._nonces: dict[str, str] = {}
        self._lock = threading.Lock()

    @staticmethod
    @lru_cache(maxsize=256)
    def _origin(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme.lower()}://{parts.netloc.lower()}"

    def get(self, url: str) -> str | None:
        """The nonce to put in a proof for `url`, if its server gave one."""
        return self._nonces.get(self._origin(url)) if self._nonces else None

    def remember(self, url: str, headers: Mapping[str, str]) -> str | None:
        """Keep the nonce an answer from `url` carries; returns it (None when it has none)."""
        nonce = headers.get(NONCE_HEADER)
        if nonce:
            with self._lock:
                self._nonces[self._origin(url)] = nonce
        return nonce or None


def asks_for_nonce(status: int, headers: Mapping[str, str]) -> bool:
    """Whether a resource server's answer is RFC 9449 9's challenge to send its nonce."""
    if status != 401 or not headers.get(NONCE_HEADER):
        return False
    challenge = headers.get("WWW-Authenticate", "")
    return "dpop" in challenge.lower() and _NONCE_CHALLENGE.search(challenge) is not None
