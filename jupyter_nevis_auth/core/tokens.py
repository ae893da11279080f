"""The token set of a signed-in user: expiry maths, serialisation, a repr without tokens."""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..dpop import DPoPKey


def fingerprint(secret: str) -> str:
    """A stand-in for a token or key that can be kept and compared, and shows nothing of it."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, repr=False)
class TokenSet:
    """The tokens of one signed-in user; its repr never shows a token."""

    access_token: str
    token_type: str = "Bearer"  # noqa: S105 (a token type, not a secret)
    expires_at: float | None = None
    refresh_token: str | None = None
    id_token: str | None = None
    scope: tuple[str, ...] = ()
    claims: dict[str, Any] = field(default_factory=dict)
    obtained_at: float = 0.0
    #: How an API's token was obtained (api_tokens: a narrowed refresh, a token exchange);
    #: empty for a sign-in's. Kept with the tokens, so the status says it after a restart.
    obtained_by: str = ""
    #: The private JWK of the DPoP key the tokens are bound to (RFC 9449), None for bearer
    #: tokens; kept with them so that refreshes after a restart stay bound to it.
    dpop_jwk: dict[str, str] | None = None

    @classmethod
    def from_response(
        cls,
        data: dict[str, Any],
        claims: dict[str, Any],
        *,
        requested_scope: list[str] | tuple[str, ...] = (),
        previous: TokenSet | None = None,
        now: float | None = None,
        dpop: DPoPKey | None = None,
    ) -> TokenSet:
        """A token set from a token-endpoint answer; keeps what a refresh answer leaves out.

        `dpop`: the key the request was made with, which the tokens are bound to.
        """
        now = time.time() if now is None else now
        expires_in = data.get("expires_in")
        expires_at = None
        if isinstance(expires_in, str) and expires_in.isdigit():
            expires_in = int(expires_in)
        # bool is an int to Python, and NaN would never count as expiring.
        if (
            isinstance(expires_in, (int, float))
            and not isinstance(expires_in, bool)
            and math.isfinite(expires_in)
            and expires_in >= 0
        ):
            expires_at = now + float(expires_in)
        scope = data.get("scope")
        if isinstance(scope, str):
            scopes = tuple(scope.split())
        else:
            scopes = previous.scope if previous else tuple(requested_scope)
        return cls(
            access_token=data["access_token"],
            token_type=str(data.get("token_type", "Bearer")),
            expires_at=expires_at,
            refresh_token=data.get("refresh_token")
            or (previous.refresh_token if previous else None),
            id_token=data.get("id_token") or (previous.id_token if previous else None),
            scope=scopes,
            claims=claims,
            obtained_at=now,
            dpop_jwk=dpop.private_jwk() if dpop is not None else None,
        )

    def dpop_key(self) -> DPoPKey | None:
        """The DPoP key the tokens are bound to, None for bearer tokens."""
        return DPoPKey.from_jwk(self.dpop_jwk) if self.dpop_jwk else None

    def expires_in(self, now: float | None = None) -> float | None:
        """Seconds the access token has left, None when the provider did not say."""
        if self.expires_at is None:
            return None
        return self.expires_at - (time.time() if now is None else now)

    def lifetime(self) -> float | None:
        """Seconds the access token was issued for, None when unknown."""
        if self.expires_at is None or self.obtained_at <= 0:
            return None
        return self.expires_at - self.obtained_at

    def is_expiring(self, leeway: float, now: float | None = None) -> bool:
        """True when fewer than `leeway` seconds are left."""
        left = self.expires_in(now)
        return left is not None and left < leeway

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a store to serialise."""
        data = asdict(self)
        data["scope"] = list(self.scope)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenSet:
        """The inverse of to_dict; fields it does not know (from a later version) are left out."""
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in data.items() if k in known}
        return cls(**{**kept, "scope": tuple(data.get("scope", ()))})

    def __repr__(self) -> str:
        return (
            f"TokenSet(sub={self.claims.get('sub')!r}, scope={' '.join(self.scope)!r}, "
            f"expires_at={self.expires_at!r}, access_token=<redacted>, "
            f"refresh_token={'<redacted>' if self.refresh_token else None})"
        )
