"""The OpenID Connect client: discovery, HTTP calls, keys and ID tokens."""

from __future__ import annotations

from .client import OIDCClient
from .discovery import ProviderMetadata

__all__ = ["OIDCClient", "ProviderMetadata"]
