"""How the client proves itself to the provider: its secret, or a key (private_key_jwt)."""

from __future__ import annotations

import asyncio
import base64
from urllib.parse import quote

from ..core.client_keys import JWT_BEARER, ClientKeyFile, ClientKeys
from ..core.config import NevisAuth
from ..core.config_checks import uses_client_key
from ..errors import SettingsError
from .discovery import ProviderMetadata


class ClientAuthentication:
    """The credentials of every call to the token, revocation, PAR and device endpoints."""

    def __init__(self, config: NevisAuth) -> None:
        self.config = config
        #: The private key(s) of private_key_jwt, read again when the file changes.
        self.key_file = (
            ClientKeyFile(config.client_key_file, config.option("client_key_file"))
            if config.client_key_file
            else None
        )

    def method(self, metadata: ProviderMetadata) -> str:
        """The client authentication method (RFC 7591 2's names)."""
        if uses_client_key(self.config):
            return "private_key_jwt"
        if self.config.token_endpoint_auth_method:
            return self.config.token_endpoint_auth_method
        if "client_secret_basic" in metadata.token_endpoint_auth_methods_supported:
            return "client_secret_basic"
        return "client_secret_post"

    async def keys(self) -> ClientKeys:
        """The client's keys for private_key_jwt; SettingsError naming the option if unusable."""
        if self.key_file is None:
            raise SettingsError(
                f"Set {self.config.option('client_key_file')} for private_key_jwt (make a key "
                "with `jupyter nevis-auth make-client-key`)."
            )
        # A key file may sit on a slow network mount: never read it on the event loop.
        keys = await asyncio.to_thread(self.key_file.keys)
        if self.config.profile == "fapi2" and keys.keys[0].algorithm(fapi=True) == "RS256":
            raise SettingsError(
                "FAPI 2.0 does not allow RS256 client assertions; give the first key in "
                f"{self.config.option('client_key_file')} the algorithm PS256 or ES256."
            )
        return keys

    async def add(
        self, metadata: ProviderMetadata, body: dict[str, str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Body and headers with the client's credentials added, per the method."""
        method = self.method(metadata)
        body = dict(body)
        headers: dict[str, str] = {}
        if method == "none":
            body["client_id"] = self.config.client_id
            return body, headers
        if method == "private_key_jwt":
            keys = await self.keys()
            # The issuer as audience (RFC 7523bis, FAPI 2.0): an assertion made for one
            # provider is refused by every other, whichever endpoint it was sent to.
            assertion = keys.assertion(
                self.config.client_id, metadata.issuer, fapi=self.config.profile == "fapi2"
            )
            body.update(
                client_id=self.config.client_id,
                client_assertion_type=JWT_BEARER,
                client_assertion=assertion,
            )
            return body, headers
        # A secret file may sit on a slow network mount: never read it on the event loop.
        # A secret given inline needs no thread (a hop per refresh on a busy hub service).
        if self.config.client_secret_file:
            secret = await asyncio.to_thread(self.config.get_client_secret)
        else:
            secret = self.config.client_secret
        if method == "client_secret_basic":
            # RFC 6749 2.3.1: both parts are form-urlencoded before the Basic encoding.
            pair = f"{quote(self.config.client_id, safe='')}:{quote(secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            body["client_id"] = self.config.client_id
            body["client_secret"] = secret
        return body, headers
