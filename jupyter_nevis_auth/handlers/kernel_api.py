"""The kernels' endpoints: nevis/api/token and nevis/api/token/status, behind the kernel secret."""

from __future__ import annotations

import hmac
import math

from jupyter_server.auth.decorator import allow_unauthenticated
from tornado import web

from ..claims import public_claims
from ..errors import LoginRequiredError, NevisAuthError, RequestError
from ..protocol import (
    DEFAULT_MIN_TTL,
    FORCE_REFRESH_PARAM,
    INVALID_REQUEST,
    LEGACY_SECRET_HEADER,
    LOGIN_REQUIRED,
    MIN_TTL_PARAM,
    PROVIDER_PARAM,
    SECRET_HEADER,
    TokenAnswer,
    secret_in,
)
from ..status import sign_in_url
from ..web.base import token_failure
from .base import NevisAPIHandler


class KernelAPIHandler(NevisAPIHandler):
    """Base of the kernel endpoints: the kernel secret is the only credential they take."""

    # A kernel asking for tokens is not a person using the server.
    _track_activity = False

    async def prepare(self) -> None:  # type: ignore[override]
        """Refuse any request without the kernel secret, whatever cookie or token it has."""
        # Before anything else can fail: a failed request's headers may be logged, and the
        # logs hide only the Authorization header's value.
        legacy = self.request.headers.pop(LEGACY_SECRET_HEADER, "")
        given = secret_in(self.request.headers.get(SECRET_HEADER, "")) or legacy
        await super().prepare()
        expected = self.settings.get("nevis_auth_kernel_secret", "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise web.HTTPError(403, "This endpoint is only for kernels of this server.")

    def check_xsrf_cookie(self) -> None:
        """No XSRF check: the secret travels in a header no other site can set or know."""

    def _log(self) -> None:
        """The request log line; a 401 (not signed in: a cell is about to wait for a sign-in)
        at debug level, as Jupyter logs successes, not as a warning for every waiting cell."""
        if self.get_status() != 401:
            super()._log()
            return
        self.log.debug(
            "401 %s %s (not signed in) %.2fms",
            self.request.method,
            self.request.path,
            1000 * self.request.request_time(),
        )


class KernelTokenHandler(KernelAPIHandler):
    """nevis/api/token: the current tokens, for the kernel helper."""

    @allow_unauthenticated
    async def get(self) -> None:
        """The token asked for, with at least `min_ttl` seconds left, refreshed first if needed."""
        try:
            min_ttl = float(self.get_argument(MIN_TTL_PARAM, str(DEFAULT_MIN_TTL)))
        except ValueError:
            min_ttl = math.nan
        if not 0 <= min_ttl < math.inf:
            message = f"{MIN_TTL_PARAM} must be a number of seconds."
            self.answer(400, {"error": INVALID_REQUEST, "message": message})
            return
        force = self.get_argument(FORCE_REFRESH_PARAM, "") in ("1", "true")
        try:
            provider, api = self.nevis.selection(self.selection_params())
        except RequestError as e:
            self.answer(400, {"error": INVALID_REQUEST, "message": str(e)})
            return
        try:
            tokens = await self.nevis.fresh_tokens(
                self.owner, min_ttl, force=force, provider=provider, api=api
            )
        except LoginRequiredError as e:
            # Not signed in at the provider at all: its own sign-in covers its APIs.
            signed_in = await self.nevis.signed_in(self.owner, provider)
            # Absolute where the server knows its address: the message may be read far
            # from Jupyter (papermill's output, a job's log).
            login_url = self.nevis.public_origin(provider) + sign_in_url(
                self.base_url, provider, api if signed_in else None
            )
            self.answer(
                401,
                {
                    "error": LOGIN_REQUIRED,
                    "message": str(e),
                    "provider": provider,
                    "api": api.name if api and api.name else None,
                    "scopes": list(api.scopes) if api else [],
                    "login_url": login_url,
                    **self.nevis.refused_sign_in(self.owner, provider),
                },
            )
            return
        except NevisAuthError as e:
            status, error = token_failure(e, self.log, f"a kernel of {self.owner}")
            self.answer(status, {"error": error, "message": str(e)})
            return
        answer: TokenAnswer = {
            "access_token": tokens.access_token,
            "token_type": tokens.token_type,
            "expires_at": tokens.expires_at,
            "expires_in": tokens.expires_in(),
            "scope": " ".join(tokens.scope),
            "id_token": tokens.id_token,
            "claims": public_claims(tokens.claims),
            "api": api.name if api and api.name else None,
            "provider": provider,
        }
        if tokens.dpop_jwk:
            # The kernel signs each request's proof itself (SECURITY.md, DPoP-bound tokens).
            answer["dpop_jwk"] = dict(tokens.dpop_jwk)
        self.answer(200, dict(answer))

    @allow_unauthenticated
    async def delete(self) -> None:
        """Sign out of every provider, or of `provider` (for the widget); answers the status."""
        try:
            provider, _api = self.nevis.selection(self.selection_params())
        except RequestError as e:
            self.answer(400, {"error": INVALID_REQUEST, "message": str(e)})
            return
        named = bool(self.get_argument(PROVIDER_PARAM, ""))
        await self.nevis.logout(self.owner, provider if named else None)
        self.answer(200, await self.nevis.status(self.owner, self.base_url))


class KernelStatusHandler(KernelAPIHandler):
    """nevis/api/token/status: what nevis/api/status says, for the widget in a kernel."""

    @allow_unauthenticated
    async def get(self) -> None:
        """The status JSON, refreshing first when the token is about to expire."""
        self.answer(200, await self.nevis.status(self.owner, self.base_url, refresh=True))


class KernelApisHandler(KernelAPIHandler):
    """nevis/api/token/apis: the configured APIs, so kernels can choose a token by URL."""

    @allow_unauthenticated
    async def get(self) -> None:
        """The APIs (names, URL prefixes, scopes; never a secret) and the unlisted-URL rule."""
        self.answer(
            200,
            {
                "apis": [spec.info() for spec in self.nevis.apis.values()],
                "default_for_unlisted_urls": self.nevis.config.default_token_for_unlisted_urls,
            },
        )
