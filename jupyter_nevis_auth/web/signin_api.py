"""Sign-ins that kernels start for a person at another browser or device, and their waits.

nevis/api/token/link hands out a one-time sign-in link; nevis/api/token/device starts a device
sign-in (RFC 8628) and tells how it goes; nevis/api/token/wait waits for a sign-in to land.
The mixins hold the work, for a server's kernels (behind the kernel secret, handlers/signin_api.py)
and for the hub's service (behind a user server's own token, hubservice/links.py).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from ..core import urls
from ..core.links import NO_PUBLIC_URL, link_url
from ..core.tokens import fingerprint
from ..errors import LoginRequiredError, NevisAuthError, ProviderTimeoutError
from ..protocol import (
    DEVICE_FLOW_UNAVAILABLE,
    DEVICE_ID_PARAM,
    INVALID_REQUEST,
    LINK_TOKEN_PARAM,
    MAX_WAIT,
    PROVIDER_ERROR,
    PROVIDER_TIMEOUT,
    WAIT_PARAM,
    WAIT_SINCE_PARAM,
)
from .answers import device_answer, device_progress, error_answer, link_answer, wait_answer
from .base import token_failure
from .token_api import TokenAPIMixin


class LinkAPIMixin(TokenAPIMixin):
    """One-time sign-in links for browsers without a Jupyter session."""

    def link_page(self) -> str:
        """The path of the page a link opens."""
        return self.page_paths.url(urls.LINK)

    async def post(self) -> None:
        """A new link for the sign-in the parameters choose (api=, provider=...)."""
        chosen = self.chosen()
        if chosen is None:
            return
        provider, api = chosen
        origin = self.nevis.public_origin(provider)
        # A kernel calls over loopback: its Host names this machine, not what browsers use.
        token = self.nevis.links.issue(self.signer(), provider, api)
        url = link_url(origin or self.origin(), self.link_page(), token)
        note = None if origin else NO_PUBLIC_URL
        offered = await self.nevis.devices.offered(provider)
        self.answer(200, link_answer(url, self.nevis.links.ttl, note, offered))

    async def delete(self) -> None:
        """Make a link, and any sign-in started from it, unusable: the cell stopped waiting."""
        token = self.get_argument(LINK_TOKEN_PARAM, "")
        self.nevis.links.revoke(token, self.signer())
        if token and self.nevis.pending.end_link(fingerprint(token), self.signer()):
            self.log.info("A sign-in from a link for %s ended with the cell's wait.", self.signer())
        self.answer(200, {})


class WaitAPIMixin(TokenAPIMixin):
    """A cell's wait for a sign-in: one request that ends once the token can be had.

    Answered 200 either way, so a wait that runs out is no failure in the server's log.
    """

    #: Seconds between two looks at the tokens (in this process: no request, no log line).
    step = 0.5
    _gone = False

    async def get(self) -> None:
        """Wait up to `seconds` (at most MAX_WAIT) for the token the parameters choose."""
        chosen = self.chosen()
        if chosen is None:
            return
        try:
            seconds = float(self.get_argument(WAIT_PARAM, "0"))
        except ValueError:
            seconds = math.nan
        if not 0 <= seconds < math.inf:
            self.refuse(f"{WAIT_PARAM} must be a number of seconds.")
            return
        provider, api = chosen
        user = self.signer()
        await self.take_over(user)
        deadline = time.monotonic() + min(seconds, MAX_WAIT)
        since = self.since()
        try:
            with self.nevis.links.cells.waiting(user):
                while not await self.ready(user, provider, api):
                    refused = self.nevis.refused_sign_in(user, provider)
                    if since is not None and refused.get("refused_at", 0.0) >= since:
                        # A sign-in of another person: no token comes for this wait.
                        self.answer(200, wait_answer(False, refused["refusal"]))
                        return
                    left = deadline - time.monotonic()
                    if left <= 0 or self._gone:
                        break
                    await asyncio.sleep(min(self.step, left))
                else:
                    self.answer(200, wait_answer(True))
                    return
        except NevisAuthError as e:
            status, error = token_failure(e, self.log, f"a waiting cell of {user}")
            self.answer(status, error_answer(error, str(e)))
            return
        if not self._gone:
            self.answer(200, wait_answer(False))

    def since(self) -> float | None:
        """When the cell began to wait (WAIT_SINCE_PARAM), if it says."""
        try:
            since = float(self.get_argument(WAIT_SINCE_PARAM, ""))
        except ValueError:
            return None
        return since if math.isfinite(since) else None

    async def ready(self, user: str, provider: str, api: Any) -> bool:
        """Whether the token can be had now; False while a sign-in is missing."""
        try:
            await self.nevis.fresh_tokens(user, 0.0, provider=provider, api=api)
        except LoginRequiredError:
            return False
        return True

    def on_connection_close(self) -> None:
        """The kernel went away (interrupted, or stopped): stop waiting for it."""
        self._gone = True
        super().on_connection_close()  # type: ignore[misc]


class DeviceAPIMixin(TokenAPIMixin):
    """Device sign-ins, polled for by the server that holds the client secret."""

    async def post(self) -> None:
        """Start a device sign-in for the parameters' choice; what the person needs."""
        chosen = self.chosen()
        if chosen is None:
            return
        provider, api = chosen
        if not await self.nevis.devices.offered(provider):
            message = (
                "This server does not offer device sign-ins (NevisAuth.device_flow, "
                "and a provider with a device authorization endpoint); sign in with the link."
            )
            self.answer(400, error_answer(DEVICE_FLOW_UNAVAILABLE, message))
            return
        try:
            sign_in = await self.nevis.devices.start(self.signer(), provider, api)
        except NevisAuthError as e:
            self.log.warning("No device sign-in for %s: %s", self.signer(), e)
            error = PROVIDER_TIMEOUT if isinstance(e, ProviderTimeoutError) else PROVIDER_ERROR
            self.answer(e.status_code, error_answer(error, str(e)))
            return
        self.answer(200, device_answer(sign_in))

    async def get(self) -> None:
        """How the device sign-in `id` goes: pending, done, or failed and why."""
        sign_in = self.nevis.devices.progress(self.signer(), self.get_argument(DEVICE_ID_PARAM, ""))
        if sign_in is None:
            message = "No such device sign-in (it ended long ago); run the cell again."
            self.answer(404, error_answer(INVALID_REQUEST, message))
            return
        self.answer(200, device_progress(sign_in))

    async def delete(self) -> None:
        """Give a device sign-in up: nobody waits for it any more."""
        self.nevis.devices.cancel(self.signer(), self.get_argument(DEVICE_ID_PARAM, ""))
        self.answer(200, {})
