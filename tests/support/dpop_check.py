"""A resource server's DPoP checks (RFC 9449 4.3 and 7.1), written apart from the product's code.

Nothing here imports jupyter_nevis_auth: a mistake in the product's proofs cannot be
repeated here and cancel out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import threading
import time
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

#: Seconds a proof's iat may be off the resource server's clock.
IAT_WINDOW = 60
#: Proof headers (one per client key) whose checked key is kept, as a busy API would.
KEYS_KEPT = 1024
#: ES256's signature algorithm, made once.
_ES256 = ec.ECDSA(hashes.SHA256())


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


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


class _ProofKey(NamedTuple):
    """What a proof header says, checked once: its algorithm, public key and thumbprint."""

    algorithm: Any
    key: Any
    jkt: str

    def verifies(self, signing_input: bytes, signature: bytes) -> bool:
        """Whether `signature` (as a JWS carries it) signs `signing_input` with this key."""
        if not isinstance(self.key, ec.EllipticCurvePublicKey):
            return bool(self.algorithm.verify(signing_input, self.key, signature))
        # ES256 straight with cryptography: a JWS signature is r || s, 32 bytes each
        # (RFC 7518 3.4); pyjwt's wrapper around the same call costs a busy API ~12 us more.
        if len(signature) != 64:
            return False
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        try:
            self.key.verify(encode_dss_signature(r, s), signing_input, _ES256)
        except InvalidSignature:
            return False
        return True


def _proof_key(proof: str) -> _ProofKey:
    """The checked key of a proof's header; DPoPRefused when the header is not a DPoP one."""
    try:
        header = jwt.get_unverified_header(proof)
        if header.get("typ") != "dpop+jwt" or header.get("alg") not in ("ES256", "PS256"):
            raise DPoPRefused("invalid_dpop_proof", "not a DPoP proof")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict) or "d" in jwk:
            raise DPoPRefused("invalid_dpop_proof", "the proof's jwk is missing or private")
        key = jwt.PyJWK(jwk, header["alg"]).key
        if (header["alg"] == "ES256") != (
            isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
        ):
            raise DPoPRefused("invalid_dpop_proof", "ES256 needs a P-256 key, and only ES256")
        return _ProofKey(jwt.get_algorithm_by_name(header["alg"]), key, thumbprint(jwk))
    except (jwt.PyJWTError, KeyError, ValueError) as e:
        raise DPoPRefused("invalid_dpop_proof", f"bad proof: {e}") from e


@lru_cache(maxsize=256)  # an API is called at the same few URLs again and again
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
        self._keys: dict[str, _ProofKey] = {}
        self._lock = threading.Lock()

    def rotate_nonce(self) -> None:
        """Give out a new nonce: proofs with the old one are answered with use_dpop_nonce."""
        self.nonce = secrets.token_urlsafe(16)

    def check(self, proof: str | None, method: str, url: str, token: str, claims: dict) -> None:
        """Return when the proof is good for this request and token; raise DPoPRefused if not."""
        if not proof:
            raise DPoPRefused("invalid_token", "a DPoP-bound token needs a DPoP proof")
        payload, proof_key = self._verified(proof)
        if payload["htm"] != method or _htu(payload["htu"]) != _htu(url):
            raise DPoPRefused("invalid_dpop_proof", "the proof is for another request")
        if abs(time.time() - payload["iat"]) > IAT_WINDOW:
            raise DPoPRefused("invalid_dpop_proof", "the proof is too old or from the future")
        ath = _b64url(hashlib.sha256(token.encode()).digest())
        if payload.get("ath") != ath:
            raise DPoPRefused("invalid_dpop_proof", "the proof is for another token")
        if (claims.get("cnf") or {}).get("jkt") != proof_key.jkt:
            raise DPoPRefused("invalid_token", "the token is bound to another key")
        if self.nonces and payload.get("nonce") != self.nonce:
            self.nonce_challenges += 1
            raise DPoPRefused("use_dpop_nonce", "send the resource server's nonce")
        with self._lock:
            now = time.time()
            # Oldest first (arrival order): drop only the expired ones, not rebuild the table,
            # which cost every request a pass over all proofs of the last two minutes.
            while self._seen:
                jti, seen = next(iter(self._seen.items()))
                if now - seen < 2 * IAT_WINDOW:
                    break
                del self._seen[jti]
            if payload["jti"] in self._seen:
                self.replays += 1
                raise DPoPRefused("invalid_dpop_proof", "the proof was used before")
            self._seen[payload["jti"]] = now

    def _verified(self, proof: str) -> tuple[dict[str, Any], _ProofKey]:
        """The claims and key of a proof whose signature its header's key verifies.

        A client sends the same header (its one key) with every proof, so the header's key
        is read and checked once and kept; each proof's signature is still verified.
        """
        segments = proof.split(".")
        if len(segments) != 3:
            raise DPoPRefused("invalid_dpop_proof", "bad proof: not a compact JWS")
        header, body, signature = segments
        proof_key = self._keys.get(header)
        if proof_key is None:
            proof_key = _proof_key(proof)
            with self._lock:
                if len(self._keys) >= KEYS_KEPT:
                    self._keys.clear()
                self._keys[header] = proof_key
        try:
            signed = proof_key.verifies(f"{header}.{body}".encode("ascii"), _b64decode(signature))
            payload = json.loads(_b64decode(body))
        except (binascii.Error, ValueError, UnicodeError) as e:
            raise DPoPRefused("invalid_dpop_proof", f"bad proof: {e}") from e
        if not signed:
            raise DPoPRefused("invalid_dpop_proof", "bad proof: the signature does not verify")
        if not isinstance(payload, dict) or any(
            name not in payload for name in ("iat", "jti", "htm", "htu")
        ):
            raise DPoPRefused("invalid_dpop_proof", "bad proof: iat, jti, htm or htu is missing")
        if not isinstance(payload["iat"], int | float):
            raise DPoPRefused("invalid_dpop_proof", "bad proof: iat is not a number")
        return payload, proof_key
