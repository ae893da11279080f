"""The countdown of a cell that waits for a sign-in in text: one line, rewritten each second."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from ..errors import LoginRequiredError

#: Seconds between two looks at whether the sign-in is done.
POLL = 1.0


def clock(seconds: float) -> str:
    """`seconds` as m:ss."""
    left = int(max(0.0, seconds))
    return f"{left // 60}:{left % 60:02d}"


def countdown(
    done: Callable[[], bool],
    timeout: float,
    what: str = "sign in",
    *,
    pause: Callable[[float], object] = time.sleep,
) -> bool:
    """Count down on one line until `done()` (True) or `timeout` seconds passed (False).

    Between two looks it calls `pause(seconds)`, which may end early when `done()` turns
    true. Interrupting the kernel raises KeyboardInterrupt here, which ends the wait.
    """
    deadline = time.monotonic() + timeout
    out = sys.stdout
    try:
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            out.write(f"\rThis cell waits for you to {what}: {clock(left)} left. ")
            out.flush()
            pause(min(POLL, left))
        return True
    finally:
        out.write("\n")
        out.flush()


def timed_out(error: LoginRequiredError, timeout: float, how: str) -> LoginRequiredError:
    """The error of a wait nobody ended in time."""
    return LoginRequiredError(
        f"Nobody signed in within {timeout:g} seconds; run the cell again for {how}.",
        error.login_url,
        api=error.api,
        provider=error.provider,
        scopes=error.scopes,
        request=error.request,
    )
