"""The kernels' endpoints nevis/api/token, .../status and .../apis, behind the kernel secret.

The work is web/token_api.py's; KernelAPIHandler is this server's adapter: the kernel secret
is the only credential, the tokens are the server's owner's, and sign-ins start at this
server's nevis/login.
"""

from __future__ import annotations

import hmac

from jupyter_server.auth.decorator import allow_unauthenticated
from tornado import web

from ..core.apis import ApiSpec
from ..core.status import sign_in_url
from ..protocol import LEGACY_SECRET_HEADER, SECRET_HEADER, secret_in
from ..web.token_api import ApisMixin, StatusMixin, TokenMixin
from .base import NevisAPIHandler


class KernelAPIHandler(NevisAPIHandler):
    """Base of the kernel endpoints: the kernel secret is the only credential they take."""

    # A kernel asking for tokens is not a person using the server.
    _track_activity = False
    asker = "a kernel"

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

    def signer(self) -> str:
        """The server's owner: kernels get their tokens."""
        return self.owner

    def sign_in_url(self, provider: str, api: ApiSpec | None) -> str:
        """This server's nevis/login, absolute where the server knows its address: the
        message may be read far from Jupyter (papermill's output, a job's log)."""
        return self.nevis.public_origin(provider) + sign_in_url(self.page_paths, provider, api)

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


class KernelTokenHandler(TokenMixin, KernelAPIHandler):
    """nevis/api/token: the current tokens, for the kernel helper; DELETE signs out."""

    get = allow_unauthenticated(TokenMixin.get)
    delete = allow_unauthenticated(TokenMixin.delete)


class KernelStatusHandler(StatusMixin, KernelAPIHandler):
    """nevis/api/token/status: what nevis/api/status says, for the widget in a kernel."""

    get = allow_unauthenticated(StatusMixin.get)


class KernelApisHandler(ApisMixin, KernelAPIHandler):
    """nevis/api/token/apis: the configured APIs, so kernels can choose a token by URL."""

    get = allow_unauthenticated(ApisMixin.get)
