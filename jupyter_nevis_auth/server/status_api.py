"""nevis/api/status: the sign-in status for the widget and frontends; never a raw token."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..core.status import revision
from .base import NevisAPIHandler


class StatusHandler(NevisAPIHandler):
    """nevis/api/status: who is signed in, until when; never a raw token.

    Its ETag changes only when the sign-in does (not as the seconds tick away): a frontend
    that polls with If-None-Match hears an empty 304 while nothing changed.
    """

    _revision: str | None = None

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Answer the status JSON, refreshing first when the token is about to expire."""
        owner = self.require_owner()
        status = await self.status_of(owner, refresh=True)
        self._revision = revision(status)
        self.answer(200, status)

    def compute_etag(self) -> str | None:
        """The status's revision: tornado answers 304 when the request's If-None-Match has it."""
        return f'"{self._revision}"' if self._revision else None
