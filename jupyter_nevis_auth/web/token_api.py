"""The kernel-facing token API of both apps: a token, signing out, the status, the APIs.

The mixins hold the work, for a server's kernels (behind the kernel secret,
handlers/kernel_api.py) and for user servers in hub mode at the hub's service (behind the
server's own token, hubservice/api.py). Each app's handler base is the adapter: it says whose
tokens a request is about, what readies them, and where a person signs in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..core.apis import ApiSpec
from ..errors import LoginRequiredError, NevisAuthError, RequestError
from ..protocol import (
    DEFAULT_MIN_TTL,
    FORCE_REFRESH_PARAM,
    INVALID_REQUEST,
    MIN_TTL_PARAM,
    PROVIDER_PARAM,
)
from .answers import apis_answer, error_answer, login_required_answer, token_answer
from .base import NevisHandlerMixin, token_failure


class TokenAPIMixin(NevisHandlerMixin):
    """What every kernel-facing endpoint needs of its app, and the answer to a bad request."""

    answer: Callable[[int, dict[str, Any]], None]
    get_argument: Callable[..., str]
    #: The user whose tokens the request is about: the server's owner, or the calling
    #: server's user at the hub service.
    signer: Callable[[], str]
    #: Where a person signs in for a provider's own token (api None) or for an API's.
    sign_in_url: Callable[[str, ApiSpec | None], str]
    #: Who asks, as log lines name it ("No token for a kernel of alice").
    asker: str

    def refuse(self, message: str) -> None:
        """Answer a malformed request."""
        self.answer(400, error_answer(INVALID_REQUEST, message))

    def chosen(self) -> tuple[str, ApiSpec | None] | None:
        """The provider and API the parameters choose; None once a 400 is answered."""
        try:
            return self.nevis.selection(self.selection_params())
        except RequestError as e:
            self.refuse(str(e))
            return None


class TokenMixin(TokenAPIMixin):
    """GET: a fresh token of the user; DELETE: sign them out."""

    async def get(self) -> None:
        """The token asked for, with at least `min_ttl` seconds left, refreshed first if needed."""
        try:
            min_ttl = float(self.get_argument(MIN_TTL_PARAM, str(DEFAULT_MIN_TTL)))
        except ValueError:
            min_ttl = math.nan
        if not 0 <= min_ttl < math.inf:
            self.refuse(f"{MIN_TTL_PARAM} must be a number of seconds.")
            return
        force = self.get_argument(FORCE_REFRESH_PARAM, "") in ("1", "true")
        chosen = self.chosen()
        if chosen is None:
            return
        provider, api = chosen
        user = self.signer()
        await self.take_over(user)
        try:
            tokens = await self.nevis.fresh_tokens(
                user, min_ttl, force=force, provider=provider, api=api
            )
        except LoginRequiredError as e:
            # Not signed in at the provider at all: its own sign-in covers its APIs.
            signed_in = await self.nevis.signed_in(user, provider)
            url = self.sign_in_url(provider, api if signed_in else None)
            refusal = self.nevis.refused_sign_in(user, provider)
            self.answer(401, login_required_answer(str(e), provider, api, url, refusal))
            return
        except NevisAuthError as e:
            status, error = token_failure(e, self.log, f"{self.asker} of {user}")
            self.answer(status, error_answer(error, str(e)))
            return
        self.answer(200, token_answer(tokens, provider, api))

    async def delete(self) -> None:
        """Sign out of every provider, or of `provider` (for the widget); answers the status."""
        chosen = self.chosen()
        if chosen is None:
            return
        provider, _api = chosen
        named = bool(self.get_argument(PROVIDER_PARAM, ""))
        await self.nevis.logout(self.signer(), provider if named else None)
        self.answer(200, await self.status_of(self.signer()))


class StatusMixin(TokenAPIMixin):
    """GET: the user's status, as the widget in a kernel shows it; never a token."""

    async def get(self) -> None:
        """The status JSON, refreshing first when a token is about to expire."""
        self.answer(200, await self.status_of(self.signer(), refresh=True))


class ApisMixin(TokenAPIMixin):
    """GET: the configured APIs, so kernels can choose a token by URL."""

    async def get(self) -> None:
        """The APIs (names, URL prefixes, scopes; never a secret) and the unlisted-URL rule."""
        rule = self.nevis.config.default_token_for_unlisted_urls
        self.answer(200, apis_answer(self.nevis.apis.values(), rule))
