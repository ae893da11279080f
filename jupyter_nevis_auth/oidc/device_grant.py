"""The device authorization grant's two provider calls (RFC 8628 3.1-3.5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.urls import is_endpoint, strip_query
from ..dpop import DPoPKey
from ..errors import OAuthError, ProviderError, SettingsError
from .client import OIDCClient
from .discovery import ProviderMetadata
from .http import oauth_error_code, parse_json

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: RFC 8628 3.2: the polling interval when the provider names none.
DEFAULT_INTERVAL = 5.0
#: Token endpoint answers that only say "not yet" (RFC 8628 3.5); never logged.
PENDING_ERRORS = ("authorization_pending", "slow_down")
#: Longest polling interval and code lifetime taken from a provider, in seconds.
MAX_INTERVAL = 60.0
MAX_EXPIRES_IN = 3600.0


@dataclass(frozen=True, repr=False)
class DeviceCode:
    """A device authorization answer: what the person needs, and what the server polls with."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: float
    interval: float

    def __repr__(self) -> str:
        return f"DeviceCode(verification_uri={self.verification_uri!r})"


def _seconds(value: Any, default: float | None, limit: float) -> float:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value:
        raise ProviderError("The provider's device authorization answer is malformed.")
    return float(min(value, limit))


def device_code(data: dict[str, Any]) -> DeviceCode:
    """The DeviceCode of a device authorization answer, each field checked before use."""
    fields = [data.get(name) for name in ("device_code", "user_code", "verification_uri")]
    code, user_code, uri = (value if isinstance(value, str) else "" for value in fields)
    # Shown as links: only https (or http on loopback), never javascript: or data:.
    if (
        not code
        or not is_endpoint(uri)
        or not 0 < len(user_code) <= 64
        or not user_code.isprintable()
    ):
        raise ProviderError("The provider's device authorization answer is malformed.")
    complete = data.get("verification_uri_complete")
    return DeviceCode(
        device_code=code,
        user_code=user_code,
        verification_uri=uri,
        verification_uri_complete=complete
        if isinstance(complete, str) and is_endpoint(complete)
        else None,
        expires_in=_seconds(data.get("expires_in"), None, MAX_EXPIRES_IN),
        interval=_seconds(data.get("interval"), DEFAULT_INTERVAL, MAX_INTERVAL),
    )


async def authorize_device(
    client: OIDCClient,
    metadata: ProviderMetadata,
    scopes: list[str],
    resource: str | None,
    extra_params: dict[str, str] | None = None,
) -> DeviceCode:
    """Ask the provider for a device code and a user code (RFC 8628 3.1, 3.2); `extra_params`
    (acr_values, max_age) ask what the sign-in must reach."""
    endpoint = metadata.device_authorization_endpoint
    if not endpoint:
        raise SettingsError(
            "The provider offers no device sign-in (no device authorization "
            "endpoint); sign in with the link instead."
        )
    params = {**(extra_params or {}), "scope": " ".join(scopes)}
    if resource:
        params["resource"] = resource
    body, headers = await client.client_auth(metadata, params)
    what = "the provider's device authorization endpoint"
    response = await client.http.fetch(
        endpoint, method="POST", body=body, headers=headers, what=what
    )
    if response.code != 200:
        error = oauth_error_code(parse_json(response.body)) if response.code < 500 else ""
        client.http.log.warning(
            "POST %s answered HTTP %s %s", strip_query(endpoint), response.code, error
        )
        if error:
            raise OAuthError(f"The provider refused the device sign-in ({error}).", error=error)
        raise ProviderError(
            f"The provider's device authorization endpoint answered with HTTP "
            f"status {response.code}; try again later."
        )
    return device_code(client.http.json_object(response, endpoint, what))


async def poll_device(
    client: OIDCClient, code: DeviceCode, dpop: DPoPKey | None = None
) -> dict[str, Any]:
    """One token request for the device code (RFC 8628 3.4); "not yet" raises OAuthError."""
    return await client.token_request(
        {"grant_type": DEVICE_CODE_GRANT, "device_code": code.device_code},
        what="the provider's token endpoint",
        expected=PENDING_ERRORS,
        dpop=dpop,
    )
