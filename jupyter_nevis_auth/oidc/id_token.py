"""Keys and ID tokens: the JWKS cache, key strength, every ID-token check, options per use."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from ..core.config import SAFE_ALGORITHMS
from ..errors import InvalidTokenError, ProviderError, SettingsError
from .discovery import Cached, Discovery, ProviderMetadata
from .http import ProviderHTTP

#: Seconds a key set is trusted before it is fetched again on the next validation.
JWKS_TTL = 3600.0
#: Seconds between two refetches of the key set forced by an unknown kid.
JWKS_MIN_REFETCH_INTERVAL = 30.0
#: RFC 7518 3.3 and 3.5: RSA keys for RS*/PS* signatures have at least this many bits.
MIN_RSA_BITS = 2048
#: RFC 7518 3.4: the curve each ECDSA algorithm is defined on.
EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}


@dataclass(frozen=True)
class IDTokenChecks:
    """What one use of an ID token checks besides its signature, key, iss, aud and azp."""

    #: How the messages call the token.
    name: str = "ID token"
    #: The nonce it must carry: only the code flow sends one.
    nonce: str | None = None
    #: Whether exp and iat are required and exp checked.
    expiry: bool = True
    #: The sub it must name; None: any.
    subject: str | None = None
    #: A refresh: the claims of the ID token it renews, whose iss it must repeat.
    renews: Mapping[str, Any] | None = None

    @classmethod
    def code_flow(cls, nonce: str) -> IDTokenChecks:
        """The code flow's: every check, with its sign-in's nonce."""
        return cls(nonce=nonce)

    @classmethod
    def device(cls) -> IDTokenChecks:
        """A device sign-in's: as the code flow's but for the nonce, which RFC 8628 has not."""
        return cls()

    @classmethod
    def refresh(cls, previous: Mapping[str, Any]) -> IDTokenChecks:
        """A refresh answer's: the subject and issuer of `previous` again (OIDC Core 12.2)."""
        return cls(subject=previous.get("sub"), renews=previous)

    @classmethod
    def auth_state(cls, subject: str | None = None) -> IDTokenChecks:
        """A hub login's, kept in auth_state: exp not checked, as the hub got it maybe long ago.

        What it proves is whom the grant belongs to (`subject`, when that must be someone).
        """
        return cls(name="ID token in auth_state", expiry=False, subject=subject)


class IDTokenValidator:
    """Validates the provider's ID tokens against its published keys."""

    def __init__(self, http: ProviderHTTP, discovery: Discovery) -> None:
        self.http = http
        self.discovery = discovery
        self.config = http.config
        self._jwks = Cached()
        self._jwks_refetched_at = -1e12
        self._lock = asyncio.Lock()

    async def key_set(self, *, force: bool = False) -> jwt.PyJWKSet:
        """The published keys, cached for JWKS_TTL; `force` fetches them now."""
        async with self._lock:
            if force or not self._jwks.fresh(JWKS_TTL):
                metadata = await self.discovery.metadata()
                data = await self.http.fetch_json(metadata.jwks_uri, what="the provider's key set")
                keys = data.get("keys")
                try:
                    # RFC 7517 5: keys that cannot be used are skipped, not fatal.
                    self._jwks.value = jwt.PyJWKSet(
                        [k for k in keys if _usable_jwk(k)] if isinstance(keys, list) else []
                    )
                except jwt.PyJWTError as e:
                    raise ProviderError("The provider's key set holds no usable key.") from e
                self._jwks.fetched_at = time.monotonic()
            return self._jwks.value  # type: ignore[no-any-return]

    async def signing_key(self, kid: str | None, name: str) -> jwt.PyJWK:
        """The provider key for `kid`, refetching the key set once when the kid is new."""
        cached_at = self._jwks.fetched_at
        key = self._find_key(await self.key_set(), kid)
        # Only refetches forced by unknown kids are rate-limited: a key rotated right after
        # the set was cached must be found at once, and a set fetched just now is current.
        now = time.monotonic()
        if (
            key is None
            and self._jwks.fetched_at == cached_at
            and now - self._jwks_refetched_at > JWKS_MIN_REFETCH_INTERVAL
        ):
            self._jwks_refetched_at = now
            key = self._find_key(await self.key_set(force=True), kid)
        if key is None:
            raise InvalidTokenError(
                f"The {name} is signed with a key the provider does not publish; sign in again."
            )
        return key

    def check_key(self, key: jwt.PyJWK, alg: str, name: str) -> None:
        """Refuse a key that does not fit `alg` or is too weak to trust (RFC 7518, RFC 8037)."""
        problem = key_problem(key.key, alg)
        if problem:
            self.http.log.warning("Refused an %s signed with %s: %s", name, alg, problem)
            raise InvalidTokenError(
                f"The provider signed the {name} with {problem}, which is not trusted; ask "
                "the provider's administrator to use a stronger signing key."
            )

    @staticmethod
    def _find_key(keys: jwt.PyJWKSet, kid: str | None) -> jwt.PyJWK | None:
        usable = [k for k in keys.keys if k.public_key_use in (None, "sig")]
        if kid is None:
            return usable[0] if len(usable) == 1 else None
        return next((k for k in usable if k.key_id == kid), None)

    def algorithm_problem(self, metadata: ProviderMetadata) -> str | None:
        """A sentence when no allowed algorithm is one the provider says it signs with."""
        offered = metadata.id_token_signing_alg_values_supported
        allowed = self.allowed_algorithms()
        if not offered or set(offered) & set(allowed):
            return None
        return (
            f"The provider signs ID tokens with {' '.join(offered)}, none of which "
            f"{self.config.label}.id_token_signing_algs allows ({' '.join(allowed)}); add one "
            f"of them (${self.config.env_var_of('id_token_signing_algs')})."
        )

    def allowed_algorithms(self) -> list[str]:
        """The configured algorithms that are safe; what the provider advertises is not trusted."""
        return [a for a in self.config.id_token_signing_algs if a in SAFE_ALGORITHMS]

    async def validate(self, id_token: str, checks: IDTokenChecks) -> dict[str, Any]:
        """Claims of `id_token` after every check `checks` asks for; raises InvalidTokenError."""
        try:
            return await self._validate(id_token, checks)
        except (InvalidTokenError, ProviderError, SettingsError):
            raise
        except Exception as e:  # hostile content can break parsers in any way
            self.http.log.warning("Refused an %s: %s", checks.name, type(e).__name__)
            raise InvalidTokenError(
                f"The provider sent an invalid {checks.name} (malformed)."
            ) from e

    async def _validate(self, id_token: str, checks: IDTokenChecks) -> dict[str, Any]:
        name = checks.name
        metadata = await self.discovery.metadata()
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as e:
            raise InvalidTokenError(f"The provider sent an {name} that is not a JWT.") from e
        algorithms = self.allowed_algorithms()
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in algorithms:
            self.http.log.warning("Refused an %s signed with alg %r", name, str(alg)[:20])
            raise InvalidTokenError(
                f"The provider signed the {name} with an algorithm that is not allowed."
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidTokenError(f"The provider sent an invalid {name} (malformed kid).")
        key = await self.signing_key(kid, name)
        self.check_key(key, alg, name)
        required = ["iss", "sub", "aud", *(["exp", "iat"] if checks.expiry else [])]
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key,
                algorithms=[alg],
                audience=self.config.client_id,
                issuer=metadata.issuer,
                leeway=self.config.clock_skew,
                options={"require": required, "verify_exp": checks.expiry, "strict_aud": False},
            )
        except jwt.PyJWTError as e:
            self.http.log.warning("Refused an %s: %s", name, type(e).__name__)
            raise InvalidTokenError(f"The provider sent an invalid {name} ({_reason(e)}).") from e
        if "iat" in claims and (
            not isinstance(claims["iat"], (int, float))
            or claims["iat"] > time.time() + self.config.clock_skew
        ):
            raise InvalidTokenError(f"The provider sent an invalid {name} (issued in the future).")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != self.config.client_id:
            raise InvalidTokenError(f"The provider sent an invalid {name} (wrong azp).")
        if checks.nonce is not None and claims.get("nonce") != checks.nonce:
            raise InvalidTokenError(f"The provider sent an invalid {name} (nonce mismatch).")
        if checks.subject is not None and claims.get("sub") != checks.subject:
            raise InvalidTokenError(f"The provider sent an {name} for another user.")
        if checks.renews is not None and claims.get("iss") != checks.renews.get("iss"):
            raise InvalidTokenError(f"The provider sent an {name} from another issuer.")
        return claims


def key_problem(key: Any, alg: str) -> str | None:
    """Why `key` must not verify `alg` signatures, or None when it may."""
    if alg[:2] in ("RS", "PS"):
        if not isinstance(key, rsa.RSAPublicKey):
            return "a key that is not an RSA key"
        if key.key_size < MIN_RSA_BITS:
            return f"an RSA key of {key.key_size} bits (at least {MIN_RSA_BITS} are required)"
    elif alg in EC_CURVES:
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != EC_CURVES[alg]:
            return f"a key that is not on the curve {alg} requires"
    elif alg == "EdDSA":
        if not isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            return "a key that is not an Ed25519 or Ed448 (OKP) key"
    else:
        return f"the algorithm {alg}"
    return None


def _usable_jwk(jwk: Any) -> bool:
    """Whether pyjwt can load `jwk`; on some malformed keys it raises more than PyJWTError."""
    if not isinstance(jwk, dict):
        return False
    try:
        jwt.PyJWK(jwk)
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return False
    return True


def _reason(error: jwt.PyJWTError) -> str:
    reasons = {
        jwt.InvalidSignatureError: "bad signature",
        jwt.ExpiredSignatureError: "expired",
        jwt.InvalidAudienceError: "wrong audience",
        jwt.InvalidIssuerError: "wrong issuer",
        jwt.ImmatureSignatureError: "not yet valid",
        jwt.MissingRequiredClaimError: "a required claim is missing",
        jwt.InvalidAlgorithmError: "algorithm not allowed",
    }
    for kind, text in reasons.items():
        if isinstance(error, kind):
            return text
    return "malformed"
