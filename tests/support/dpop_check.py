"""A resource server's DPoP checks (RFC 9449 4.3 and 7.1), written apart from the product's code.

Nothing here imports jupyter_nevis_auth: a mistake in the product's proofs cannot be
repeated here and cancel out.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

import jwt

#: Seconds a proof's iat may be off the resource server's clock.
IAT_WINDOW = 60


class DPoPRefused(Exception):
    """A request the resource server refuses: `error` is its RFC 9449 error code."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of an EC or RSA public JWK."""
    names = ("crv", "kty", "x", "y") if jwk.get("kty") == "EC" else ("e", "kty", "n")
    canonical = json.dumps({k: jwk[k] for k in names}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def _htu(url: str) -> str:
    parts = urlsplit(url)
    port = (
        f":{parts.port}"
        if parts.port and parts.port != {"http": 80, "https": 443}.get(parts.scheme)
        else ""
    )
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}{port}{parts.path or '/'}"


class DPoPVerifier:
    """Checks proofs: signature by the header's key, typ, alg, htm, htu, iat, ath, the
    token's cnf.jkt, a jti never seen before, and (with `nonces`) this server's nonce."""

    def __init__(self, *, nonces: bool = True) -> None:
        """A verifier; with `nonces`, a proof must carry the current nonce (RFC 9449 9)."""
        self.nonces = nonces
        self.nonce = secrets.token_urlsafe(16)
        self.nonce_challenges = 0
        self.replays = 0
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def rotate_nonce(self) -> None:
        """Give out a new nonce: proofs with the old one are answered with use_dpop_nonce."""
        self.nonce = secrets.token_urlsafe(16)

    def check(self, proof: str | None, method: str, url: str, token: str, claims: dict) -> None:
        """Return when the proof is good for this request and token; raise DPoPRefused if not."""
        if not proof:
            raise DPoPRefused("invalid_token", "a DPoP-bound token needs a DPoP proof")
        try:
            header = jwt.get_unverified_header(proof)
            if header.get("typ") != "dpop+jwt" or header.get("alg") not in ("ES256", "PS256"):
                raise DPoPRefused("invalid_dpop_proof", "not a DPoP proof")
            jwk = header.get("jwk")
            if not isinstance(jwk, dict) or "d" in jwk:
                raise DPoPRefused("invalid_dpop_proof", "the proof's jwk is missing or private")
            key = jwt.PyJWK(jwk, header["alg"]).key
            payload = jwt.decode(
                proof,
                key,
                algorithms=[header["alg"]],
                options={"require": ["iat", "jti", "htm", "htu"], "verify_iat": False},
            )
        except jwt.PyJWTError as e:
            raise DPoPRefused("invalid_dpop_proof", f"bad proof: {e}") from e
        if payload["htm"] != method or _htu(payload["htu"]) != _htu(url):
            raise DPoPRefused("invalid_dpop_proof", "the proof is for another request")
        if abs(time.time() - payload["iat"]) > IAT_WINDOW:
            raise DPoPRefused("invalid_dpop_proof", "the proof is too old or from the future")
        ath = _b64url(hashlib.sha256(token.encode()).digest())
        if payload.get("ath") != ath:
            raise DPoPRefused("invalid_dpop_proof", "the proof is for another token")
        if (claims.get("cnf") or {}).get("jkt") != thumbprint(jwk):
            raise DPoPRefused("invalid_token", "the token is bound to another key")
        if self.nonces and payload.get("nonce") != self.nonce:
            self.nonce_challenges += 1
            raise DPoPRefused("use_dpop_nonce", "send the resource server's nonce")
        with self._lock:
            now = time.time()
            # Oldest first (arrival order): drop only the expired ones, not rebuild the table,
            # which cost every request a pass over all proofs of the last two minutes.
            for jti, seen in list(islice(self._seen.items(), 64)):
                if now - seen < 2 * IAT_WINDOW:
                    break
                del self._seen[jti]
            if payload["jti"] in self._seen:
                self.replays += 1
                raise DPoPRefused("invalid_dpop_proof", "the proof was used before")
            self._seen[payload["jti"]] = now
