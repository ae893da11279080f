"""nevis/jwks.json: the client's public keys, for providers that read a client's jwks_uri."""

from __future__ import annotations

from typing import Any

from ..errors import SettingsError
from .answers import error_answer, jwk_set_answer
from .base import NevisAPIMixin

#: Below the server's base URL; the hub service serves it as <prefix>jwks.json.
CLIENT_JWKS_PATH = "nevis/jwks.json"
NO_KEYS = (
    "This server authenticates to no provider with a key (private_key_jwt), so it publishes "
    "no keys; set NevisAuth.client_key_file to use one."
)
UNUSABLE = "The client key file cannot be read; the server's log says why."


class ClientJwksMixin(NevisAPIMixin):
    """The public JWK Set of every provider's client key file: public halves only, no auth."""

    async def get(self) -> None:
        """Answer {"keys": [...]}, each kid once (providers sharing a key file list it once)."""
        keys: list[dict[str, Any]] = []
        kids: set[str] = set()
        for name, provider in self.nevis.providers.items():
            if provider.client.authentication.key_file is None:
                continue
            try:
                found = await provider.client.client_keys()
            except SettingsError as e:
                self.log.warning("Client keys of %s not published: %s", name, e)
                self.answer(503, error_answer("client_key_unusable", UNUSABLE))
                return
            for jwk in found.public_jwks()["keys"]:
                if jwk["kid"] not in kids:
                    kids.add(jwk["kid"])
                    keys.append(jwk)
        if not keys:
            self.answer(404, error_answer("no_client_keys", NO_KEYS))
            return
        self.answer(200, jwk_set_answer(keys))
