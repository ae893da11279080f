"""The server API: a user server asks for its own user's tokens, status and APIs."""

from __future__ import annotations

import math

from ..claims import public_claims
from ..errors import LoginRequiredError, NevisAuthError, RequestError
from ..protocol import (
    DEFAULT_MIN_TTL,
    FORCE_REFRESH_PARAM,
    INVALID_REQUEST,
    LOGIN_REQUIRED,
    MIN_TTL_PARAM,
    PROVIDER_PARAM,
    ApisAnswer,
    ErrorAnswer,
    TokenAnswer,
)
from ..status import sign_in_url
from ..web.base import token_failure
from .base import ServiceAPI


class TokenHandler(ServiceAPI):
    """api/token: GET a fresh token of the calling server's user; DELETE signs them out."""

    async def get(self) -> None:
        """The token asked for, with at least `min_ttl` seconds left, refreshed first if needed."""
        user = self.caller.user
        try:
            min_ttl = float(self.get_argument(MIN_TTL_PARAM, str(DEFAULT_MIN_TTL)))
        except ValueError:
            min_ttl = math.nan
        if not 0 <= min_ttl < math.inf:
            self.refuse(f"{MIN_TTL_PARAM} must be a number of seconds.")
            return
        force = self.get_argument(FORCE_REFRESH_PARAM, "") in ("1", "true")
        try:
            provider, api = self.nevis.selection(self.selection_params())
        except RequestError as e:
            self.refuse(str(e))
            return
        await self.take_over(user)
        try:
            tokens = await self.nevis.fresh_tokens(
                user, min_ttl, force=force, provider=provider, api=api
            )
        except LoginRequiredError as e:
            # Not signed in at the provider at all: its own sign-in covers its APIs.
            signed_in = await self.nevis.signed_in(user, provider)
            url = sign_in_url(self.base_url, provider, api if signed_in else None)
            self.answer(
                401,
                dict(
                    ErrorAnswer(
                        error=LOGIN_REQUIRED,
                        message=str(e),
                        provider=provider,
                        api=api.name if api and api.name else None,
                        scopes=list(api.scopes) if api else [],
                        login_url=self.service_login_url(url),
                        **self.nevis.refused_sign_in(user, provider),
                    )
                ),
            )
            return
        except NevisAuthError as e:
            status, error = token_failure(e, self.log, f"a server of {user}")
            self.answer(status, dict(ErrorAnswer(error=error, message=str(e))))
            return
        answer = TokenAnswer(
            access_token=tokens.access_token,
            token_type=tokens.token_type,
            expires_at=tokens.expires_at,
            expires_in=tokens.expires_in(),
            scope=" ".join(tokens.scope),
            id_token=tokens.id_token,
            claims=public_claims(tokens.claims),
            api=api.name if api and api.name else None,
            provider=provider,
        )
        if tokens.dpop_jwk:
            # The user's kernels sign each request's proof themselves, as the token goes to
            # the calling server's user only (SECURITY.md, DPoP-bound tokens).
            answer["dpop_jwk"] = dict(tokens.dpop_jwk)
        self.answer(200, dict(answer))

    async def delete(self) -> None:
        """Sign the user out of every provider, or of `provider`; answers the status."""
        try:
            provider, _api = self.nevis.selection(self.selection_params())
        except RequestError as e:
            self.refuse(str(e))
            return
        named = bool(self.get_argument(PROVIDER_PARAM, ""))
        await self.nevis.logout(self.caller.user, provider if named else None)
        self.answer(200, await self.status_of(self.caller.user))

    def refuse(self, message: str) -> None:
        """Answer a malformed request."""
        self.answer(400, dict(ErrorAnswer(error=INVALID_REQUEST, message=message)))


class StatusHandler(ServiceAPI):
    """api/status: the user's sign-ins, until when; never a token."""

    async def get(self) -> None:
        """The Status JSON, refreshing first when a token is about to expire."""
        self.answer(200, await self.status_of(self.caller.user, refresh=True))


class ApisHandler(ServiceAPI):
    """api/apis: the configured APIs, so kernels can choose a token by URL."""

    async def get(self) -> None:
        """The APIs (names, URL prefixes, scopes; never a secret) and the unlisted-URL rule."""
        self.answer(
            200,
            dict(
                ApisAnswer(
                    apis=[spec.info() for spec in self.nevis.apis.values()],
                    default_for_unlisted_urls=self.nevis.config.default_token_for_unlisted_urls,
                )
            ),
        )
