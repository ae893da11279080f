"""Provider metadata: OpenID discovery, RFC 8414 for revocation, Nevis quirks, manual overrides."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse, urlsplit

from ..core.urls import is_endpoint
from ..errors import ProviderError, SettingsError
from .http import ProviderHTTP, parse_json

#: Seconds discovery metadata is reused before it is read again.
METADATA_TTL = 3600.0

#: Nevis Identity Cloud's documented paths, used when an instance serves no discovery.
NEVIS_PATHS = {
    "authorization_endpoint": "/auth/oauth2/authorize",
    "token_endpoint": "/auth/oauth2/token",
    "revocation_endpoint": "/auth/oauth2/revoke",
    "jwks_uri": "/.well-known/jwks.json",
    "end_session_endpoint": "/sso/logout",
}

#: Configuration option overriding each discovered endpoint.
OVERRIDES = {
    "authorization_endpoint": "authorize_url",
    "token_endpoint": "token_url",
    "jwks_uri": "jwks_url",
    "revocation_endpoint": "revocation_url",
    "end_session_endpoint": "logout_url",
    "pushed_authorization_request_endpoint": "par_url",
}


@dataclass(frozen=True)
class ProviderMetadata:
    """The endpoints and capabilities of the provider that the flow uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    revocation_endpoint: str = ""
    end_session_endpoint: str = ""
    token_endpoint_auth_methods_supported: tuple[str, ...] = ("client_secret_basic",)
    authorization_response_iss_parameter_supported: bool = False
    #: Empty when the provider does not say which algorithms or scopes it uses.
    id_token_signing_alg_values_supported: tuple[str, ...] = ()
    scopes_supported: tuple[str, ...] = ()
    grant_types_supported: tuple[str, ...] = ()
    #: RFC 8628: empty when the provider offers no device sign-in.
    device_authorization_endpoint: str = ""
    #: RFC 9126: empty when the provider takes no pushed authorization requests.
    pushed_authorization_request_endpoint: str = ""
    require_pushed_authorization_requests: bool = False
    #: Empty when the provider does not say (PKCE is sent with S256 all the same).
    code_challenge_methods_supported: tuple[str, ...] = ()
    #: RFC 9449 5.1: the proof algorithms the provider takes; empty when it names none.
    dpop_signing_alg_values_supported: tuple[str, ...] = ()


@dataclass
class Cached:
    """A value and when it was fetched (time.monotonic())."""

    value: Any = None
    fetched_at: float = field(default=-1e12)

    def fresh(self, ttl: float) -> bool:
        """Whether there is a value younger than `ttl` seconds."""
        return self.value is not None and time.monotonic() - self.fetched_at < ttl


class Discovery:
    """The provider's metadata, read once an hour, or again after a failed call."""

    def __init__(self, http: ProviderHTTP) -> None:
        self.http = http
        self.config = http.config
        self._metadata = Cached()
        self._lock = asyncio.Lock()

    async def metadata(self, *, recheck_after_failure: bool = False) -> ProviderMetadata:
        """The provider's endpoints: discovery, cached, with the configured overrides on top.

        With `recheck_after_failure`, discovery is read again if a call failed since.
        """
        recheck = recheck_after_failure and self.http.failed
        if self._metadata.fresh(METADATA_TTL) and not recheck:
            return self._metadata.value  # type: ignore[no-any-return]
        async with self._lock:
            if recheck or not self._metadata.fresh(METADATA_TTL):
                self.http.failed = False
                self._metadata.value = self._build_metadata(await self._discover())
                self._metadata.fetched_at = time.monotonic()
        return self._metadata.value  # type: ignore[no-any-return]

    def discovery_url(self) -> str:
        """Where the provider publishes its OpenID configuration."""
        return self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"

    async def _discover(self) -> dict[str, Any]:
        if all(
            getattr(self.config, OVERRIDES[k])
            for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")
        ):
            return {}
        url = self.discovery_url()
        response = await self.http.fetch(url, what="the provider's discovery document")
        if response.code == 404 and self._is_nevis():
            return {k: self.config.issuer.rstrip("/") + v for k, v in NEVIS_PATHS.items()}
        if response.code != 200:
            self.http.log.warning("GET %s answered HTTP %s", url, response.code)
            raise ProviderError(
                f"The provider's discovery document at {url} answered with HTTP status "
                f"{response.code}; check {self.config.option('issuer')}."
            )
        data = self.http.json_object(response, url, "the provider's discovery document")
        if data.get("issuer") != self.config.issuer:
            self.http.log.error(
                "Discovery issuer %r does not equal the configured issuer %r",
                str(data.get("issuer"))[:200],
                self.config.issuer,
            )
            raise ProviderError(
                "The provider's discovery document names another issuer than "
                f"{self.config.label}.issuer; set the issuer exactly as the provider spells it."
            )
        if not data.get("revocation_endpoint") and not self.config.revocation_url:
            revocation = await self._revocation_from_oauth_metadata()
            if revocation:
                data = {**data, "revocation_endpoint": revocation}
        return data

    def oauth_metadata_urls(self) -> list[str]:
        """Where RFC 8414 metadata may be: the standard form, then the common one."""
        parts = urlsplit(self.config.issuer)
        path = parts.path.rstrip("/")
        standard = f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{path}"
        common = self.config.issuer.rstrip("/") + "/.well-known/oauth-authorization-server"
        return [standard] if standard == common else [standard, common]

    async def _revocation_from_oauth_metadata(self) -> str:
        """The revocation endpoint of the OAuth 2.0 server metadata, "" when none says one."""
        for url in self.oauth_metadata_urls():
            try:
                response = await self.http.fetch(url, what="the provider's OAuth metadata")
            except ProviderError:
                continue
            data = parse_json(response.body) if response.code == 200 else None
            if not isinstance(data, dict):
                continue
            endpoint = data.get("revocation_endpoint")
            # RFC 8414 3.3: metadata for another issuer must not be used.
            if data.get("issuer") == self.config.issuer and isinstance(endpoint, str):
                if is_endpoint(endpoint):
                    return endpoint
        return ""

    def _is_nevis(self) -> bool:
        return (urlparse(self.config.issuer).hostname or "").endswith(".id.nevis.cloud")

    def _build_metadata(self, data: dict[str, Any]) -> ProviderMetadata:
        values: dict[str, Any] = {"issuer": self.config.issuer}
        for key, option in OVERRIDES.items():
            found = getattr(self.config, option) or data.get(key) or ""
            if not isinstance(found, str) or (found and not is_endpoint(found)):
                raise ProviderError(f"The provider's discovery document has an invalid {key}.")
            values[key] = found
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not values[key]:
                raise SettingsError(
                    f"The provider publishes no {key}; set NevisAuth.{OVERRIDES[key]}."
                )
        for key in (
            "token_endpoint_auth_methods_supported",
            "id_token_signing_alg_values_supported",
            "scopes_supported",
            "grant_types_supported",
            "code_challenge_methods_supported",
            "dpop_signing_alg_values_supported",
        ):
            found = data.get(key)
            if isinstance(found, list) and all(isinstance(v, str) for v in found):
                values[key] = tuple(found)
        device = data.get("device_authorization_endpoint")
        if isinstance(device, str) and is_endpoint(device):
            values["device_authorization_endpoint"] = device
        for flag in (
            "authorization_response_iss_parameter_supported",
            "require_pushed_authorization_requests",
        ):
            values[flag] = data.get(flag) is True
        return ProviderMetadata(**values)
