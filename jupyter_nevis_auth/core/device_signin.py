"""Device sign-ins (RFC 8628): the server gets a code for the person and polls for the tokens.

The server, not the kernel, polls: it holds the client secret. The tokens are validated and
kept exactly as after the code flow; the kernel waits on its token endpoint as for any sign-in.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..dpop import DPoPKey
from ..errors import (
    InvalidTokenError,
    NevisAuthError,
    OAuthError,
    ProviderError,
    SettingsError,
    WrongIdentityError,
)
from ..oidc import IDTokenChecks, refusals
from ..oidc.device_grant import DeviceCode, authorize_device, poll_device
from . import step_up
from .apis import ApiSpec
from .signin import SignIns

#: Device sign-ins kept at once (pending or just ended); the oldest goes first.
MAX_DEVICE_SIGN_INS = 16
#: RFC 8628 3.5: seconds added to the interval on every slow_down.
SLOW_DOWN = 5.0
#: Seconds an ended sign-in's outcome stays readable by the kernel that started it.
KEEP_ENDED = 300.0

PENDING, DONE, FAILED = "pending", "done", "failed"
#: What the token endpoint's refusals of a device code mean for the person.
ENDINGS = {
    "access_denied": "The sign-in was refused at the provider (access_denied); run the cell "
    "again to start over.",
    "expired_token": "The code expired before the sign-in was confirmed (expired_token); run "
    "the cell again for a new code.",
}
EXPIRED = "The code expired before anyone signed in with it; run the cell again for a new code."


@dataclass(repr=False)
class DeviceSignIn:
    """One device sign-in: its code, and how it is going."""

    id: str
    user: str
    provider: str
    api: ApiSpec | None
    code: DeviceCode
    deadline: float
    status: str = PENDING
    message: str = ""
    ended: float = 0.0
    task: asyncio.Task[None] | None = field(default=None)
    #: The key the tokens will be bound to (DPoP), made when the sign-in starts.
    dpop: DPoPKey | None = None


class DeviceSignIns:
    """Starts device sign-ins and polls the provider for each in the background."""

    def __init__(self, sign_ins: SignIns, enabled: bool, log: logging.Logger) -> None:
        self.sign_ins = sign_ins
        self.enabled = enabled
        self.log = log
        self._running: OrderedDict[str, DeviceSignIn] = OrderedDict()
        #: Told of each sign-in started here and of its end, so that replicas can share its
        #: progress (hubservice/shared_links.py); asked before each poll whether anyone still
        #: waits for it (a kernel may give it up at another replica).
        self.changed: Callable[[DeviceSignIn], None] | None = None
        self.wanted: Callable[[DeviceSignIn], Awaitable[bool]] | None = None

    async def offered(self, provider: str) -> bool:
        """Whether a device sign-in can be started at `provider`."""
        if not self.enabled:
            return False
        try:
            metadata = await self.sign_ins.providers[provider].client.metadata()
        except NevisAuthError:
            return False
        return bool(metadata.device_authorization_endpoint)

    async def start(self, user: str, provider: str, api: ApiSpec | None) -> DeviceSignIn:
        """Ask the provider for a code and start polling; the code is for the person."""
        if not self.enabled:
            raise SettingsError(
                "This server does not offer device sign-ins (NevisAuth."
                "device_flow is off); sign in with the link instead."
            )
        api = await self.sign_ins.sign_in_for(user, provider, api)
        metadata = await self.sign_ins.usable_metadata(provider)
        client = self.sign_ins.providers[provider].client
        scopes = client.requested_scopes(metadata)
        scopes += [s for s in self.sign_ins.extra_scopes(provider, api) if s not in scopes]
        try:
            code = await authorize_device(
                client,
                metadata,
                scopes,
                api.resource if api else None,
                step_up.authorize_params(api),
            )
        except OAuthError as e:
            scope_sentence = self.sign_ins.scope_sentence(
                self.sign_ins.providers[provider], metadata
            )
            raise refusals.token_error(e.error, scope_sentence, client.config) from e
        self._prune()
        while len(self._running) >= MAX_DEVICE_SIGN_INS:
            self._end(self._running.popitem(last=False)[1])
        # A poll's worth of grace: the provider's own expired_token is the better answer.
        deadline = time.monotonic() + code.expires_in + code.interval
        sign_in = DeviceSignIn(
            secrets.token_urlsafe(16),
            user,
            provider,
            api,
            code,
            deadline,
            dpop=self.sign_ins.new_dpop_key(provider, api),
        )
        self._running[sign_in.id] = sign_in
        sign_in.task = asyncio.ensure_future(self._poll(sign_in))
        sign_in.task.add_done_callback(functools.partial(self._done, sign_in))
        self._changed(sign_in)
        self.log.info("Device sign-in for %s at %s started", user, provider)
        return sign_in

    def progress(self, user: str, sign_in_id: str) -> DeviceSignIn | None:
        """The device sign-in `sign_in_id` of `user`, if it is known."""
        self._prune()
        sign_in = self._running.get(sign_in_id)
        return sign_in if sign_in is not None and sign_in.user == user else None

    def restore(self, sign_in: DeviceSignIn) -> None:
        """Show the progress of `sign_in`, polled for at another replica; never replaces one
        polled for here."""
        mine = self._running.get(sign_in.id)
        if mine is None or mine.task is None:
            self._running[sign_in.id] = sign_in

    def forget(self, sign_in_id: str) -> None:
        """Drop the progress of `sign_in_id` shown from another replica (it is gone there)."""
        mine = self._running.get(sign_in_id)
        if mine is not None and mine.task is None:
            del self._running[sign_in_id]

    def cancel(self, user: str, sign_in_id: str) -> None:
        """Stop polling for a sign-in nobody waits for any more."""
        sign_in = self.progress(user, sign_in_id)
        if sign_in is not None:
            self._running.pop(sign_in_id, None)
            self._end(sign_in)

    async def _poll(self, sign_in: DeviceSignIn) -> None:
        client = self.sign_ins.providers[sign_in.provider].client
        interval = sign_in.code.interval
        while True:
            await asyncio.sleep(interval)
            if self.wanted is not None and not await self.wanted(sign_in):
                self._running.pop(sign_in.id, None)
                return
            try:
                data = await poll_device(client, sign_in.code, sign_in.dpop)
            except OAuthError as e:
                if e.error == "slow_down":
                    interval += SLOW_DOWN
                if e.error in ("authorization_pending", "slow_down"):
                    # The provider says expired_token once the code expires; this is in case
                    # it never does.
                    if time.monotonic() >= sign_in.deadline:
                        self._fail(sign_in, EXPIRED)
                        return
                    continue
                self._fail(
                    sign_in,
                    ENDINGS.get(e.error)
                    or str(
                        refusals.token_error(
                            e.error, "", self.sign_ins.providers[sign_in.provider].config
                        )
                    ),
                )
                return
            except ProviderError as e:
                # Trouble reaching the provider may pass before the code expires: keep asking.
                self.log.warning("Device sign-in for %s: %s", sign_in.user, e)
                if time.monotonic() >= sign_in.deadline:
                    self._fail(sign_in, EXPIRED)
                    return
                continue
            try:
                id_token = data.get("id_token")
                if not isinstance(id_token, str):
                    raise InvalidTokenError("The provider answered without an ID token.")
                claims = await client.validate_id_token(id_token, IDTokenChecks.device())
                await self.sign_ins.keep(
                    sign_in.user, sign_in.provider, sign_in.api, data, claims, dpop=sign_in.dpop
                )
            except NevisAuthError as e:
                again = (
                    ""
                    if isinstance(e, WrongIdentityError)
                    else " Run the cell again to start over."
                )
                self._fail(sign_in, f"{e}{again}")
                return
            sign_in.status, sign_in.ended = DONE, time.monotonic()
            self._changed(sign_in)
            return

    def _fail(self, sign_in: DeviceSignIn, message: str) -> None:
        self.log.warning("Device sign-in for %s failed: %s", sign_in.user, message)
        sign_in.status, sign_in.message, sign_in.ended = FAILED, message, time.monotonic()
        self._changed(sign_in)

    def _changed(self, sign_in: DeviceSignIn) -> None:
        if self.changed is not None:
            self.changed(sign_in)

    def _done(self, sign_in: DeviceSignIn, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.log.error(
                "Device sign-in for %s ended unexpectedly (%s)", sign_in.user, type(error).__name__
            )
            self._fail(sign_in, "Something unexpected went wrong; run the cell again.")

    @staticmethod
    def _end(sign_in: DeviceSignIn) -> None:
        if sign_in.task is not None and not sign_in.task.done():
            sign_in.task.cancel()

    def _prune(self) -> None:
        limit = time.monotonic() - KEEP_ENDED
        for key in [k for k, s in self._running.items() if s.status != PENDING and s.ended < limit]:
            del self._running[key]
