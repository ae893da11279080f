"""Token sets, where they are kept, and the single-flight refresher."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from traitlets import Float
from traitlets.config import LoggingConfigurable

from .errors import InvalidTokenError, LoginRequiredError, OAuthError, ProviderError

SIGNED_OUT_AT_PROVIDER = "Your session at the provider has ended; sign in again."
INVALID_REFRESH = "The provider's answer to a token refresh failed validation; sign in again."
NOT_SIGNED_IN = "You are not signed in; sign in first."
NO_REFRESH_TOKEN = (
    "The provider issued no refresh token: this sign-in ends when the access token expires."  # noqa: S105
)
#: ID-token claims that say nothing about the user and are not shown.
HIDDEN_CLAIMS = ("nonce", "at_hash", "c_hash")
#: Seconds between two refreshes forced by callers (after a 401 from an API).
FORCED_REFRESH_INTERVAL = 10.0


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

    @classmethod
    def from_response(
        cls,
        data: dict[str, Any],
        claims: dict[str, Any],
        *,
        requested_scope: list[str] | tuple[str, ...] = (),
        previous: TokenSet | None = None,
        now: float | None = None,
    ) -> TokenSet:
        """A token set from a token-endpoint answer; keeps what a refresh answer leaves out."""
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
        )

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
        """The inverse of to_dict."""
        return cls(**{**data, "scope": tuple(data.get("scope", ()))})

    def __repr__(self) -> str:
        return (
            f"TokenSet(sub={self.claims.get('sub')!r}, scope={' '.join(self.scope)!r}, "
            f"expires_at={self.expires_at!r}, access_token=<redacted>, "
            f"refresh_token={'<redacted>' if self.refresh_token else None})"
        )


class TokenStore(LoggingConfigurable):
    """Where each Jupyter user's token set is kept."""

    async def get(self, user: str) -> TokenSet | None:
        """The user's tokens, or None when signed out."""
        raise NotImplementedError

    async def set(self, user: str, tokens: TokenSet) -> None:
        """Keep the user's tokens, replacing older ones."""
        raise NotImplementedError

    async def delete(self, user: str) -> None:
        """Forget the user's tokens."""
        raise NotImplementedError


class MemoryTokenStore(TokenStore):
    """Keeps tokens in the server's memory: a restart signs everybody out."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tokens: dict[str, TokenSet] = {}

    async def get(self, user: str) -> TokenSet | None:
        """The user's tokens, or None when signed out."""
        return self._tokens.get(user)

    async def set(self, user: str, tokens: TokenSet) -> None:
        """Keep the user's tokens, replacing older ones."""
        self._tokens[user] = tokens

    async def delete(self, user: str) -> None:
        """Forget the user's tokens."""
        self._tokens.pop(user, None)


RefreshFunction = Callable[[TokenSet], Awaitable[TokenSet]]


class TokenManager(LoggingConfigurable):
    """Hands out current tokens: refreshes before expiry, one refresh per user at a time."""

    retry_backoff = Float(
        0.5,
        config=True,
        help="Seconds before the first retry of a failed refresh; doubles each time.",
    )
    failure_cooldown = Float(
        30.0,
        config=True,
        help="""Seconds after a failed refresh during which a still-valid access token is
        handed out without trying again, so callers do not each wait for a failing provider.""",
    )

    def __init__(
        self,
        store: TokenStore,
        refresh: RefreshFunction,
        *,
        leeway: float,
        timeout: float,
        log: logging.Logger | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if log is not None:
            self.log = log
        self.store = store
        self._refresh = refresh
        self.leeway = leeway
        self.timeout = timeout
        self._inflight: dict[str, asyncio.Task[TokenSet]] = {}
        # Held while a user's tokens are refreshed, replaced or dropped, so that a sign-out
        # never races a refresh that would store new tokens after it.
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._quiet_until: dict[str, float] = {}
        self._last_forced: dict[str, float] = {}
        self.signed_out_reason: dict[str, str] = {}
        self.last_refresh_error: dict[str, str] = {}

    async def save(self, user: str, tokens: TokenSet) -> None:
        """Store a fresh sign-in."""
        async with self._locks[user]:
            await self.store.set(user, tokens)
            self.signed_out_reason.pop(user, None)
            self._clear_failure(user)

    async def sign_out(self, user: str, reason: str) -> TokenSet | None:
        """Drop the user's tokens, remembering why; returns what was dropped.

        A refresh under way finishes first, so what is dropped (and then revoked) is the
        newest refresh token, not one the provider has already replaced.
        """
        async with self._locks[user]:
            return await self._drop(user, reason)

    async def _drop(self, user: str, reason: str) -> TokenSet | None:
        tokens = await self.store.get(user)
        await self.store.delete(user)
        self.signed_out_reason[user] = reason
        self._clear_failure(user)
        return tokens

    def effective_leeway(self, tokens: TokenSet, min_ttl: float | None = None) -> float:
        """Seconds before expiry at which `tokens` are refreshed."""
        leeway = self.leeway if min_ttl is None else max(min_ttl, 0.0)
        lifetime = tokens.lifetime()
        # A leeway as long as the token's lifetime would refresh on every request.
        return min(leeway, lifetime / 2) if lifetime and lifetime > 0 else leeway

    async def current(
        self, user: str, min_ttl: float | None = None, *, force: bool = False
    ) -> TokenSet:
        """Tokens with at least `min_ttl` seconds left, refreshed first when needed."""
        tokens = await self.store.get(user)
        if tokens is None:
            raise LoginRequiredError(self.signed_out_reason.get(user, NOT_SIGNED_IN))
        if force:
            # An API that keeps answering 401 must not turn every request into a refresh.
            now = time.monotonic()
            force = now - self._last_forced.get(user, -FORCED_REFRESH_INTERVAL) >= (
                FORCED_REFRESH_INTERVAL
            )
            if force:
                self._last_forced[user] = now
        if not force and not tokens.is_expiring(self.effective_leeway(tokens, min_ttl)):
            return tokens
        if not tokens.refresh_token:
            if tokens.is_expiring(0):
                raise LoginRequiredError(
                    "Your access token has expired and cannot be refreshed; sign in again."
                )
            return tokens
        still_valid = not tokens.is_expiring(0)
        if not force and still_valid and time.monotonic() < self._quiet_until.get(user, 0.0):
            return tokens
        task = self._inflight.get(user)
        if task is None:
            task = asyncio.ensure_future(self._refresh_with_retries(user, tokens))
            self._inflight[user] = task
            task.add_done_callback(functools.partial(self._refresh_done, user))
        try:
            # Shielded: a caller that gives up must not cancel a refresh others wait for,
            # nor lose a rotated refresh token the provider has already issued.
            return await asyncio.shield(task)
        except ProviderError:
            if force or tokens.is_expiring(0):
                raise
            return tokens

    def _refresh_done(self, user: str, task: asyncio.Task[TokenSet]) -> None:
        if self._inflight.get(user) is task:
            del self._inflight[user]
        if not task.cancelled():
            # Retrieved here so that a refresh whose callers all left is not reported
            # as an unhandled exception.
            task.exception()

    async def _refresh_with_retries(self, user: str, seen: TokenSet) -> TokenSet:
        async with self._locks[user]:
            return await self._refresh_locked(user, seen)

    async def _refresh_locked(self, user: str, seen: TokenSet) -> TokenSet:
        tokens = await self.store.get(user)
        if tokens is None:
            raise LoginRequiredError(self.signed_out_reason.get(user, NOT_SIGNED_IN))
        if tokens != seen:
            # Another refresh or a new sign-in finished since the caller looked; its
            # refresh token may be the only valid one, so never use the caller's.
            return tokens
        deadline = time.monotonic() + self.timeout
        delay = self.retry_backoff
        while True:
            try:
                fresh = await self._refresh(tokens)
            except OAuthError as e:
                if e.error == "invalid_grant":
                    self.log.info("Refresh refused (invalid_grant); signing %s out.", user)
                    await self._drop(user, SIGNED_OUT_AT_PROVIDER)
                    raise LoginRequiredError(SIGNED_OUT_AT_PROVIDER) from e
                self._record_failure(user, e)
                raise
            except InvalidTokenError as e:
                # No retry: the provider may have rotated the refresh token already,
                # and the only new one came in the answer just refused.
                self.log.warning("Refresh answer for %s refused: %s", user, e)
                await self._drop(user, INVALID_REFRESH)
                raise LoginRequiredError(INVALID_REFRESH) from e
            except ProviderError as e:
                if time.monotonic() + delay >= deadline:
                    self._record_failure(user, e)
                    raise
                self.log.info("Refresh failed (%s); retrying in %.1fs.", type(e).__name__, delay)
                await asyncio.sleep(delay)
                delay *= 2
                continue
            await self.store.set(user, fresh)
            self._clear_failure(user)
            return fresh

    def _record_failure(self, user: str, error: ProviderError) -> None:
        self.last_refresh_error[user] = str(error)
        self._quiet_until[user] = time.monotonic() + self.failure_cooldown

    def _clear_failure(self, user: str) -> None:
        self.last_refresh_error.pop(user, None)
        self._quiet_until.pop(user, None)

    async def status(self, user: str) -> dict[str, Any]:
        """What the widget and frontend may see: never a raw token."""
        tokens = await self.store.get(user)
        status: dict[str, Any] = {
            "logged_in": tokens is not None,
            "signed_out_reason": None if tokens else self.signed_out_reason.get(user),
            "last_refresh_error": self.last_refresh_error.get(user),
        }
        if tokens is None:
            return status
        claims = public_claims(tokens.claims)
        status.update(
            claims=claims,
            scopes=list(tokens.scope),
            expires_at=tokens.expires_at,
            expires_in=tokens.expires_in(),
            refresh_possible=bool(tokens.refresh_token),
            warnings=[] if tokens.refresh_token else [NO_REFRESH_TOKEN],
        )
        return status


def public_claims(claims: dict[str, Any]) -> dict[str, Any]:
    """The ID-token claims worth showing: who the user is, not how the token was bound."""
    return {k: v for k, v in claims.items() if k not in HIDDEN_CLAIMS}
