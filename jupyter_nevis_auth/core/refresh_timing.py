"""When tokens are refreshed: the TokenManager's options, and the timers of keys in use."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from traitlets import Bool, Float

from .env import EnvConfigurable
from .tokens import TokenSet


class LeaseBusy(Exception):
    """A refresh ahead of time found the grant's lease held by another process, and left it."""


#: The largest share of a token's lifetime a caller's min_ttl is kept for: a refresh gives a
#: whole lifetime, but above this nearly every request would need one, so such a token is
#: renewed at half its lifetime, as without min_ttl.
MIN_TTL_SHARE = 0.9


class RefreshOptions(EnvConfigurable):
    """The options of TokenManager: how early, how often and how long refreshes run."""

    #: Seconds before expiry at which tokens are refreshed (NevisAuth.refresh_leeway).
    leeway: float = 0.0

    retry_backoff = Float(
        0.5,
        config=True,
        help="""Seconds before the first retry of a failed refresh; doubles each time.
        Default: $NEVIS_AUTH_RETRY_BACKOFF""",
    )
    refresh_ahead = Float(
        30.0,
        config=True,
        help="""Seconds before a token is due for its refresh (NevisAuth.refresh_leeway) from
        which a request starts that refresh in the background and is answered at once with
        the current token, so callers seldom wait for the provider; at most a quarter of the
        time the token is used before it is due, 0 to refresh only when due.
        Default: $NEVIS_AUTH_REFRESH_AHEAD""",
    )
    refresh_in_use = Bool(
        True,
        config=True,
        help="""Also start that refresh in the background, at a random moment in the first
        half of those refresh_ahead seconds, for a token asked for since it was obtained,
        so that a caller who asks seldom does not wait for the provider either. A token
        nobody asks for any more gets one such refresh, no more. False: only a request in
        those seconds starts it. Default: $NEVIS_AUTH_REFRESH_IN_USE""",
    )
    refresh_timeout = Float(
        300.0,
        config=True,
        help="""Seconds a refresh may wait for the provider's answer. Callers stop waiting
        after NevisAuth.http_timeout (and get the still-valid token, or a 504), but the
        refresh goes on and stores what comes back: with refresh-token rotation, an answer
        given up on would leave only a used refresh token, and the provider ends the grant
        when that is used again. Default: $NEVIS_AUTH_REFRESH_TIMEOUT""",
    )
    failure_cooldown = Float(
        30.0,
        config=True,
        help="""Seconds after a failed refresh during which a still-valid access token is
        handed out without trying again, so callers do not each wait for a failing provider.
        Default: $NEVIS_AUTH_FAILURE_COOLDOWN""",
    )

    def effective_leeway(self, tokens: TokenSet, min_ttl: float | None = None) -> float:
        """Seconds before expiry at which `tokens` are refreshed."""
        leeway = self.leeway if min_ttl is None else max(min_ttl, 0.0)
        lifetime = tokens.lifetime()
        if not lifetime or lifetime <= 0:
            return leeway
        if min_ttl is not None and leeway <= lifetime * MIN_TTL_SHARE:
            return leeway  # a refresh can give what the caller asked for
        # A leeway as long as the token's lifetime would refresh on every request.
        return min(leeway, lifetime / 2)

    def ahead(self, tokens: TokenSet, leeway: float) -> float:
        """Seconds before the refresh is due (at `leeway`) it may start in the background."""
        lifetime = tokens.lifetime()
        ahead = max(self.refresh_ahead, 0.0)
        # Tokens are still refreshed about once per lifetime, not much more often.
        return min(ahead, (lifetime - leeway) / 4) if lifetime and lifetime > leeway else ahead


class WindowTimers:
    """At most one timer per key: it calls `start(key, tokens)` as the tokens' window opens.

    Armed by requests for tokens not yet in their refresh window; a key's timer is set anew
    only when it is asked for with other tokens (a refresh, a new sign-in).
    """

    def __init__(self, start: Callable[[str, TokenSet], None]) -> None:
        self._start = start
        self._armed: dict[str, tuple[TokenSet, asyncio.TimerHandle]] = {}

    def __len__(self) -> int:
        return len(self._armed)

    def arm(self, key: str, tokens: TokenSet, opens_in: float, spread: float) -> None:
        """Call `start` for `tokens` between `opens_in` and `opens_in + spread` seconds from now.

        Spread at random, so that tokens obtained together (a restart, a class signing in at
        once) are not refreshed at once either.
        """
        armed = self._armed.get(key)
        if armed is not None:
            if armed[0] == tokens:
                return
            armed[1].cancel()
        delay = max(opens_in, 0.0) + random.uniform(0.0, max(spread, 0.0))  # noqa: S311 (spreading load only)
        handle = asyncio.get_running_loop().call_later(delay, self._fire, key, tokens)
        self._armed[key] = (tokens, handle)

    def _fire(self, key: str, tokens: TokenSet) -> None:
        self._armed.pop(key, None)
        self._start(key, tokens)

    def cancel(self, key: str) -> None:
        """No refresh of `key` in the background (it was signed out)."""
        armed = self._armed.pop(key, None)
        if armed is not None:
            armed[1].cancel()

    def cancel_all(self) -> None:
        """None for any key (the process stops)."""
        for _, handle in self._armed.values():
            handle.cancel()
        self._armed.clear()
