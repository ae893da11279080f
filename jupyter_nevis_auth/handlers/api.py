"""nevis/api/status: the sign-in status for the widget and frontends; never a raw token."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import NevisAPIHandler


class StatusHandler(NevisAPIHandler):
    """nevis/api/status: who is signed in, until when; never a raw token."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Answer the status JSON, refreshing first when the token is about to expire."""
        owner = self.require_owner()
        self.answer(200, await self.nevis.status(owner, self.base_url, refresh=True))
