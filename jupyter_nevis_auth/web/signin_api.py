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
from collections.abc import Callable
from typing import Any

from .. import urls
from ..device import DeviceSignIn
from ..errors import LoginRequiredError, NevisAuthError, ProviderTimeoutError, RequestError
from ..links import LINK_PAGE_PATH, NO_PUBLIC_URL, link_url
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
    DeviceAnswer,
    LinkAnswer,
    WaitAnswer,
)
from ..tokens import fingerprint
from .base import NevisHandlerMixin, token_failure


class SignInAPIMixin(NevisHandlerMixin):
    """Whose sign-ins a request may start, and the JSON answer; the handler class says how."""

    answer: Callable[[int, dict[str, Any]], None]
    get_argument: Callable[..., str]

    def signer(self) -> str:
        """The user whose sign-in this request starts or asks about."""
        return self.owner

    def chosen(self) -> tuple[str, Any] | None:
        """The provider and API the parameters choose; None once a 400 is answered."""
        try:
            return self.nevis.selection(self.selection_params())
        except RequestError as e:
            self.answer(400, {"error": INVALID_REQUEST, "message": str(e)})
            return None


class LinkAPIMixin(SignInAPIMixin):
    """One-time sign-in links for browsers without a Jupyter session."""

    def link_page(self) -> str:
        """The path of the page a link opens."""
        return urls.join(self.base_url, LINK_PAGE_PATH)

    async def post(self) -> None:
        """A new link for the sign-in the parameters choose (api=, provider=...)."""
        chosen = self.chosen()
        if chosen is None:
            return
        provider, api = chosen
        origin = self.nevis.public_origin(provider)
        # A kernel calls over loopback: its Host names this machine, not what browsers use.
        token = self.nevis.links.issue(self.signer(), provider, api)
        answer: LinkAnswer = {
            "url": link_url(origin or self.origin(), self.link_page(), token),
            "expires_in": self.nevis.links.ttl,
            "public": bool(origin),
            "note": None if origin else NO_PUBLIC_URL,
            "device_flow": await self.nevis.devices.offered(provider),
        }
        self.answer(200, dict(answer))

    async def delete(self) -> None:
        """Make a link, and any sign-in started from it, unusable: the cell stopped waiting."""
        token = self.get_argument(LINK_TOKEN_PARAM, "")
        self.nevis.links.revoke(token, self.signer())
        if token and self.nevis.pending.end_link(fingerprint(token), self.signer()):
            self.log.info("A sign-in from a link for %s ended with the cell's wait.", self.signer())
        self.answer(200, {})


class WaitAPIMixin(SignInAPIMixin):
    """A cell's wait for a sign-in: one request that ends once the token can be had.

    Answered 200 either way, so a wait that runs out is no failure in the server's log.
    """

    #: Seconds between two looks at the tokens (in this process: no request, no log line).
    step = 0.5
    _gone = False

    async def before_wait(self, user: str) -> None:
        """Ready the user's tokens before looking at them (the hub service takes the hub's)."""

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
            message = f"{WAIT_PARAM} must be a number of seconds."
            self.answer(400, {"error": INVALID_REQUEST, "message": message})
            return
        provider, api = chosen
        user = self.signer()
        await self.before_wait(user)
        deadline = time.monotonic() + min(seconds, MAX_WAIT)
        since = self.since()
        try:
            with self.nevis.links.cells.waiting(user):
                while not await self.ready(user, provider, api):
                    refused = self.nevis.refused_sign_in(user, provider)
                    if since is not None and refused.get("refused_at", 0.0) >= since:
                        # A sign-in of another person: no token comes for this wait.
                        self.answer(200, dict(WaitAnswer(ready=False, refusal=refused["refusal"])))
                        return
                    left = deadline - time.monotonic()
                    if left <= 0 or self._gone:
                        break
                    await asyncio.sleep(min(self.step, left))
                else:
                    self.answer(200, dict(WaitAnswer(ready=True)))
                    return
        except NevisAuthError as e:
            status, error = token_failure(e, self.log, f"a waiting cell of {user}")
            self.answer(status, {"error": error, "message": str(e)})
            return
        if not self._gone:
            self.answer(200, dict(WaitAnswer(ready=False)))

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


class DeviceAPIMixin(SignInAPIMixin):
    """Device sign-ins, polled for by the server that holds the client secret."""

    async def post(self) -> None:
        """Start a device sign-in for the parameters' choice; what the person needs."""
        chosen = self.chosen()
        if chosen is None:
            return
        provider, api = chosen
        if not await self.nevis.devices.offered(provider):
            self.answer(
                400,
                {
                    "error": DEVICE_FLOW_UNAVAILABLE,
                    "message": "This server does not offer device sign-ins (NevisAuth.device_flow, "
                    "and a provider with a device authorization endpoint); sign in with the link.",
                },
            )
            return
        try:
            sign_in = await self.nevis.devices.start(self.signer(), provider, api)
        except NevisAuthError as e:
            self.log.warning("No device sign-in for %s: %s", self.signer(), e)
            error = PROVIDER_TIMEOUT if isinstance(e, ProviderTimeoutError) else PROVIDER_ERROR
            self.answer(e.status_code, {"error": error, "message": str(e)})
            return
        self.answer(200, device_answer(sign_in))

    async def get(self) -> None:
        """How the device sign-in `id` goes: pending, done, or failed and why."""
        sign_in = self.nevis.devices.progress(self.signer(), self.get_argument(DEVICE_ID_PARAM, ""))
        if sign_in is None:
            message = "No such device sign-in (it ended long ago); run the cell again."
            self.answer(404, {"error": INVALID_REQUEST, "message": message})
            return
        self.answer(200, {"status": sign_in.status, "message": sign_in.message})

    async def delete(self) -> None:
        """Give a device sign-in up: nobody waits for it any more."""
        self.nevis.devices.cancel(self.signer(), self.get_argument(DEVICE_ID_PARAM, ""))
        self.answer(200, {})


def device_answer(sign_in: DeviceSignIn) -> dict[str, Any]:
    """What the person needs to sign in on another device; never the device code."""
    code = sign_in.code
    answer: DeviceAnswer = {
        "id": sign_in.id,
        "verification_uri": code.verification_uri,
        "verification_uri_complete": code.verification_uri_complete,
        "user_code": code.user_code,
        "expires_in": code.expires_in,
        "interval": code.interval,
    }
    return dict(answer)
