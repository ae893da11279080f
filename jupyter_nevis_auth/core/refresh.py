"""Current tokens for each user: refreshed before expiry, one refresh per user at a time."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..errors import (
    InvalidTokenError,
    LoginRequiredError,
    OAuthError,
    ProviderError,
    ProviderTimeoutError,
    RefreshElsewhereError,
    StoreUnavailableError,
)
from .refresh_history import RefreshHistory
from .refresh_timing import LeaseBusy, RefreshOptions, WindowTimers
from .stores import KeptWrites, Lease, TokenStore
from .tokens import TokenSet

SIGNED_OUT_AT_PROVIDER = "Your session at the provider has ended; sign in again."
INVALID_REFRESH = "The provider's answer to a token refresh failed validation; sign in again."
NOT_SIGNED_IN = "You are not signed in; sign in first."
#: Seconds a stopping process waits for refreshes under way, so their answers are kept.
DRAIN_SECONDS = 10.0

#: Refreshes the tokens kept under a key (the key says whose, at which provider, for which API).
RefreshFunction = Callable[[str, TokenSet], Awaitable[TokenSet]]
T = TypeVar("T")


class TokenManager(RefreshOptions):
    """Hands out current tokens: refreshes before expiry, one refresh per user at a time."""

    def __init__(
        self,
        store: TokenStore,
        refresh: RefreshFunction,
        *,
        leeway: float,
        retry_budget: float,
        log: logging.Logger | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if log is not None:
            self.log = log
        self.store: TokenStore = store if isinstance(store, KeptWrites) else KeptWrites(store)
        self._refresh = refresh
        self.leeway = leeway
        #: Seconds a refresh may spend on retries before its error is final.
        self.retry_budget = retry_budget
        self._inflight: dict[str, asyncio.Task[TokenSet]] = {}
        # Held while a user's tokens are refreshed, replaced or dropped, so that a sign-out
        # never races a refresh that would store new tokens after it.
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.history = RefreshHistory(self.log)
        self.signed_out_reason = self.store.signed_out_reason
        self.last_refresh_error = self.history.last_error
        self.timers = WindowTimers(self._timer_fired)
        self._checks: set[asyncio.Task[None]] = set()

    async def save(self, user: str, tokens: TokenSet) -> None:
        """Store a fresh sign-in."""
        async with self._locks[user]:
            await self.store.set(user, tokens)
            self.signed_out_reason.pop(user, None)
            self.history.succeeded(user)

    async def sign_out(self, user: str, reason: str) -> TokenSet | None:
        """Drop the user's tokens, remembering why; returns what was dropped.

        A refresh under way finishes first, so what is dropped (and then revoked) is the
        newest refresh token, not one the provider has already replaced.
        """
        async with self._locks[user]:
            return await self._drop(user, reason)

    async def use_grant(
        self, key: str, use: Callable[[TokenSet], Awaitable[tuple[T, TokenSet | None]]]
    ) -> T:
        """Run `use` on the tokens under `key` while no refresh can replace them.

        `use` returns its result and the tokens to keep instead (a rotated refresh token),
        or None to keep them as they are. An invalid_grant signs the key's owner out.
        """
        async with self._locks[key]:
            tokens = await self.store.get(key)
            if tokens is None:
                raise LoginRequiredError(self.signed_out_reason.get(key, NOT_SIGNED_IN))
            # A rotated refresh token that `use` gets back must be kept.
            await self.store.check_writable(key)
            try:
                result, replaced = await use(tokens)
            except OAuthError as e:
                if e.error != "invalid_grant":
                    raise
                self.history.refused(key)
                await self._drop(key, SIGNED_OUT_AT_PROVIDER)
                raise LoginRequiredError(SIGNED_OUT_AT_PROVIDER) from e
            if replaced is not None:
                await self.store.set(key, replaced)
            return result

    async def _drop(self, user: str, reason: str) -> TokenSet | None:
        tokens = await self.store.get(user)
        self.timers.cancel(user)
        self.signed_out_reason[user] = reason
        await self.store.delete(user)
        self.history.succeeded(user)
        return tokens

    async def fresh(
        self, user: str, min_ttl: float | None = None, *, force: bool = False
    ) -> TokenSet:
        """Tokens with at least `min_ttl` seconds left, refreshed first when needed."""
        tokens = await self.store.get(user)
        if tokens is None:
            raise LoginRequiredError(self.signed_out_reason.get(user, NOT_SIGNED_IN))
        force = force and self.history.may_force(user)
        leeway = self.effective_leeway(tokens, min_ttl)
        if not force and not tokens.is_expiring(leeway):
            ahead = self.ahead(tokens, leeway)
            if tokens.refresh_token and tokens.is_expiring(leeway + ahead):
                # Good for this caller still: the refresh runs while callers are answered.
                self._window_opened(user, tokens)
            elif tokens.refresh_token and tokens.expires_at and ahead > 0 and self.refresh_in_use:
                opens_in = tokens.expires_at - time.time() - leeway - ahead
                self.timers.arm(user, tokens, opens_in, ahead / 2)
            return tokens
        if not tokens.refresh_token:
            if tokens.is_expiring(0):
                raise LoginRequiredError(
                    "Your access token has expired and cannot be refreshed; sign in again."
                )
            return tokens
        still_valid = not tokens.is_expiring(0)
        if not force and still_valid and self.history.quiet(user):
            return tokens
        try:
            # Shielded: a caller that gives up must not cancel a refresh others wait for,
            # nor lose a rotated refresh token the provider has already issued.
            try:
                task = self._start_refresh(user, tokens)
                return await asyncio.wait_for(asyncio.shield(task), self.retry_budget)
            except LeaseBusy:  # it joined one ahead of time that left the grant to a replica
                task = self._start_refresh(user, tokens)
                return await asyncio.wait_for(asyncio.shield(task), self.retry_budget)
        except asyncio.TimeoutError:
            if (force or tokens.is_expiring(0)) and self.store.waits_for_lease(user):
                seconds = self.store.lease_seconds
                raise RefreshElsewhereError.after(self.retry_budget, seconds) from None
            if force or tokens.is_expiring(0):
                raise ProviderTimeoutError(
                    f"The provider's token endpoint did not answer within "
                    f"{self.retry_budget:g} seconds (the refresh goes on in the background); "
                    "try again in a minute."
                ) from None
            return tokens
        except (ProviderError, StoreUnavailableError):
            if force or tokens.is_expiring(0):
                raise
            return tokens

    async def drain(self, timeout: float = DRAIN_SECONDS) -> None:
        """Let refreshes under way end (at most `timeout` seconds), then write what is kept.

        Before the process stops: a refresh given up on, or one whose answer stays in
        memory only, could cost its grant.
        """
        self.timers.cancel_all()
        for check in list(self._checks):
            check.cancel()
        running = list(self._inflight.values())
        if running:
            self.log.info("Waiting for %d token refreshes under way.", len(running))
            await asyncio.wait(running, timeout=timeout)
        if isinstance(self.store, KeptWrites):
            if not await self.store.flush():
                self.log.error(
                    "The token store could not take %d refreshed token sets before the stop; "
                    "those sign-ins may have to be made again.",
                    len(self.store.unwritten),
                )
            await self.store.stop_writing()

    async def take_over(self) -> int:
        """Refresh again the grants whose refresh another process began and never ended.

        That process was killed during it. The refresh token it sent may be used up, which a
        provider with a reuse grace period still takes for a while: so the refresh is redone
        at once, not at the user's next request. Returns how many were started.
        """
        started = 0
        for key in await self.store.abandoned_refreshes():
            if key in self._inflight or self.history.quiet(key):
                continue
            tokens = await self.store.reread(key)
            if tokens is None or not tokens.refresh_token:
                continue
            self.log.info(
                "Refreshing the tokens of %s again: another process began a refresh of them "
                "and stopped before it ended.",
                key,
            )
            self._start_refresh(key, tokens, ahead=True)
            started += 1
        return started

    def _timer_fired(self, user: str, seen: TokenSet) -> None:
        """The window of `seen` opened with no request in it: refresh them if still stored."""
        if user not in self._inflight and not self.history.quiet(user):
            check = asyncio.ensure_future(self._refresh_if_stored(user, seen))
            self._checks.add(check)
            check.add_done_callback(self._checks.discard)

    async def _refresh_if_stored(self, user: str, seen: TokenSet) -> None:
        # Another process sharing the store (a replica) may have refreshed them already: a
        # read costs less than waiting for its lease to find that out.
        with contextlib.suppress(StoreUnavailableError):
            if await self.store.get(user) == seen:
                self._window_opened(user, seen)

    def _window_opened(self, user: str, tokens: TokenSet) -> None:
        """`tokens` came into their refresh window: refresh them in the background."""
        if not self.history.quiet(user):
            self._start_refresh(user, tokens, ahead=True)

    def _start_refresh(
        self, user: str, tokens: TokenSet, ahead: bool = False
    ) -> asyncio.Task[TokenSet]:
        """The user's refresh under way, started now from `tokens` if there is none."""
        task = self._inflight.get(user)
        if task is None:
            task = asyncio.ensure_future(self._refresh_under_lock(user, tokens, ahead))
            self._inflight[user] = task
            task.add_done_callback(functools.partial(self._refresh_done, user))
        return task

    def _refresh_done(self, user: str, task: asyncio.Task[TokenSet]) -> None:
        if self._inflight.get(user) is task:
            del self._inflight[user]
        if not task.cancelled():
            # Retrieved here so that a refresh whose callers all left is not reported
            # as an unhandled exception.
            task.exception()

    async def _refresh_under_lock(self, user: str, seen: TokenSet, ahead: bool) -> TokenSet:
        # The lease keeps other processes sharing the store (the hub service's replicas) from
        # refreshing this grant meanwhile: they wait for it, then read what this one stored.
        async with self._locks[user], self.store.lease(user, wait=not ahead) as lease:
            if lease.busy:
                raise LeaseBusy  # refreshed elsewhere now; the callers' tokens are still good
            try:
                return await self._refresh_locked(user, seen, lease)
            except ProviderError as e:
                if not isinstance(e, InvalidTokenError):
                    lease.cool_down(self.failure_cooldown, str(e))
                raise

    async def _refresh_locked(self, user: str, seen: TokenSet, lease: Lease) -> TokenSet:
        tokens = await self.store.reread(user)
        if tokens is None:
            raise LoginRequiredError(self.signed_out_reason.get(user, NOT_SIGNED_IN))
        if tokens != seen:
            # Another refresh or a new sign-in finished since the caller looked; its
            # refresh token may be the only valid one, so never use the caller's.
            return tokens
        if lease.quiet_for and not tokens.is_expiring(0):
            # Another process's refresh failed moments ago: one failing refresh per grant per
            # failure_cooldown, however many processes serve it.
            self.history.quiet_for(user, lease.quiet_reason, lease.quiet_for)
            return tokens
        # Never ask the provider for tokens that could not be kept: its answer may hold the
        # only valid refresh token.
        try:
            await self.store.check_writable(user)
        except StoreUnavailableError as e:
            self.log.debug("Refresh for %s not started: %s", user, e)
            raise
        deadline = time.monotonic() + self.retry_budget
        delay = self.retry_backoff
        while True:
            try:
                fresh = await self._refresh(user, tokens)
            except OAuthError as e:
                if e.error == "invalid_grant":
                    self.history.refused(user)
                    await self._drop(user, SIGNED_OUT_AT_PROVIDER)
                    raise LoginRequiredError(SIGNED_OUT_AT_PROVIDER) from e
                self.history.failed(user, e, self.failure_cooldown)
                raise
            except ProviderTimeoutError as e:
                # No retry: the provider may have answered, rotating the refresh token.
                self.history.lost(user, e, self.failure_cooldown)
                raise
            except InvalidTokenError as e:
                # No retry: the provider may have rotated the refresh token already,
                # and the only new one came in the answer just refused.
                self.log.warning("Refresh answer for %s refused: %s", user, e)
                await self._drop(user, INVALID_REFRESH)
                raise LoginRequiredError(INVALID_REFRESH) from e
            except ProviderError as e:
                if time.monotonic() + delay >= deadline:
                    self.history.failed(user, e, self.failure_cooldown)
                    raise
                self.log.info("Refresh failed (%s); retrying in %.1fs.", type(e).__name__, delay)
                await asyncio.sleep(delay)
                delay *= 2
                continue
            await self.store.set(user, fresh)
            self.history.succeeded(user)
            return fresh
