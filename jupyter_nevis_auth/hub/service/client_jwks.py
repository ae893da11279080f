"""<prefix>jwks.json of the hub service: the client's public keys, open to the provider."""

from __future__ import annotations

from ...web.client_jwks import ClientJwksMixin
from .base import ServiceHandler


class ClientJwksHandler(ClientJwksMixin, ServiceHandler):
    """The client's public keys, for a provider that reads the client's jwks_uri."""
