"""The OpenID Connect client: discovery, HTTP calls, keys and ID tokens."""

from __future__ import annotations

from .client import OIDCClient
from .discovery import ProviderMetadata
from .id_token import IDTokenChecks

__all__ = ["IDTokenChecks", "OIDCClient", "ProviderMetadata"]
