"""nevis/jwks.json of the Jupyter server: open to anyone, as a provider fetches it."""

from __future__ import annotations

from jupyter_server.auth.decorator import allow_unauthenticated

from ..web.client_jwks import ClientJwksMixin
from .base import NevisAPIHandler


class ClientJwksHandler(ClientJwksMixin, NevisAPIHandler):
    """The client's public keys; a provider reading the client's jwks_uri has no Jupyter login."""

    @allow_unauthenticated
    async def get(self) -> None:
        """Answer the public JWK Set."""
        await super().get()
