"""The server API: a user server asks for its own user's tokens, status and APIs.

The work is web/token_api.py's; ServerAPI is the service's adapter: only a user server's own
token is taken, the tokens are its user's (started from the hub's sign-in when the service
holds none), and sign-ins start at the service's login page.
"""

from __future__ import annotations

from ...core.apis import ApiSpec
from ...core.status import sign_in_url
from ...web.token_api import ApisMixin, StatusMixin, TokenMixin
from .base import ServiceAPI


class ServerAPI(ServiceAPI):
    """Base of the API user servers call: for the calling server's user."""

    asker = "a server"

    def signer(self) -> str:
        """The calling server's user."""
        return self.caller.user

    def sign_in_url(self, provider: str, api: ApiSpec | None) -> str:
        """The service's login page, a path: the user server makes it absolute with the
        hub's public address, which it knows."""
        return sign_in_url(self.page_paths, provider, api)


class TokenHandler(TokenMixin, ServerAPI):
    """api/token: GET a fresh token of the calling server's user; DELETE signs them out."""


class StatusHandler(StatusMixin, ServerAPI):
    """api/status: the user's sign-ins, until when; never a token."""


class ApisHandler(ApisMixin, ServerAPI):
    """api/apis: the configured APIs, so kernels can choose a token by URL."""
