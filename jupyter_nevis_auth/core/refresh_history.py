"""What happened to each key's refreshes lately: failures, quiet periods, lost answers."""

from __future__ import annotations

import logging
import time

#: Seconds between two refreshes forced by callers (after a 401 from an API).
FORCED_REFRESH_INTERVAL = 10.0
#: Seconds after a refresh whose answer was lost during which an invalid_grant is said to
#: follow from it.
LOST_ANSWER_MEMORY = 3600.0


class RefreshHistory:
    """Per store key: the last failure, until when not to try again, answers that were lost."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        #: The sentence of each key's last failed refresh, for the status.
        self.last_error: dict[str, str] = {}
        self._quiet_until: dict[str, float] = {}
        self._last_forced: dict[str, float] = {}
        #: When a refresh of each key last got no answer: the provider may have rotated
        #: the refresh token in it.
        self._lost: dict[str, float] = {}

    def failed(self, key: str, error: Exception, cooldown: float) -> None:
        """A refresh of `key` failed: say so, and try no other for `cooldown` seconds."""
        # Said here too: a refresh started ahead of time has no caller to tell.
        self.log.warning("Refresh for %s failed: %s", key, error)
        self.last_error[key] = str(error)
        self._quiet_until[key] = time.monotonic() + cooldown

    def quiet_for(self, key: str, reason: str, seconds: float) -> None:
        """Another process's refresh of `key` failed (`reason`): try none here for `seconds`."""
        self.last_error[key] = reason
        self._quiet_until[key] = time.monotonic() + seconds

    def lost(self, key: str, error: Exception, cooldown: float) -> None:
        """A refresh of `key` got no answer: the provider may have rotated its token in it."""
        self._lost[key] = time.monotonic()
        self.failed(key, error, cooldown)

    def succeeded(self, key: str) -> None:
        """`key` holds new tokens (a refresh or a sign-in): the past failures are over."""
        self.last_error.pop(key, None)
        self._quiet_until.pop(key, None)
        self._lost.pop(key, None)

    def quiet(self, key: str) -> bool:
        """Whether `key` had a failed refresh too recently to try again."""
        return time.monotonic() < self._quiet_until.get(key, 0.0)

    def may_force(self, key: str) -> bool:
        """Whether a caller may force a refresh of `key` now (an API that keeps answering 401
        must not turn every request into a refresh); counts the one it allows."""
        now = time.monotonic()
        if now - self._last_forced.get(key, -FORCED_REFRESH_INTERVAL) < FORCED_REFRESH_INTERVAL:
            return False
        self._last_forced[key] = now
        return True

    def refused(self, key: str) -> None:
        """The provider refused `key`'s refresh token (invalid_grant): say what likely caused it."""
        lost = self._lost.pop(key, None)
        if lost is not None and time.monotonic() - lost < LOST_ANSWER_MEMORY:
            self.log.warning(
                "Refresh for %s refused (invalid_grant) after an earlier refresh got no answer "
                "%.0f s ago: the provider probably rotated the refresh token in that lost "
                "answer and ended the grant when the old one was used again; signing %s out.",
                key,
                time.monotonic() - lost,
                key,
            )
        else:
            self.log.info("Refresh refused (invalid_grant); signing %s out.", key)
