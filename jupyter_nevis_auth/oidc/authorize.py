"""The authorization request: its parameters, and pushing them to the provider (RFC 9126)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.urls import strip_query
from ..errors import OAuthError, ProviderError
from .discovery import ProviderMetadata
from .http import oauth_error_code, parse_json, upper_first

if TYPE_CHECKING:
    from .client import OIDCClient

PAR_ENDPOINT = "the provider's pushed authorization request endpoint"


def requested_scopes(client: OIDCClient, metadata: ProviderMetadata) -> list[str]:
    """The configured scopes, less offline_access where the provider does not offer it.

    Providers that issue refresh tokens without offline_access (and do not list it)
    often refuse the whole request for it with invalid_scope.
    """
    scopes = list(client.config.scopes)
    if metadata.scopes_supported and "offline_access" not in metadata.scopes_supported:
        scopes = [s for s in scopes if s != "offline_access"]
    return scopes


def authorize_params(
    client: OIDCClient,
    metadata: ProviderMetadata,
    *,
    state: str,
    nonce: str,
    code_challenge: str,
    redirect_uri: str,
    extra_scopes: tuple[str, ...] = (),
    resource: str | None = None,
    extra_params: dict[str, str] | None = None,
) -> dict[str, str]:
    """The authorization request's parameters.

    `extra_scopes` and `resource` (RFC 8707) ask for an API's token besides the usual ones;
    `extra_params` (acr_values, max_age) what the sign-in must reach.
    """
    config = client.config
    params: dict[str, str] = {str(k): str(v) for k, v in config.extra_authorize_params.items()}
    params.update(extra_params or {})
    scopes = requested_scopes(client, metadata)
    scopes += [s for s in extra_scopes if s not in scopes]
    if resource:
        params["resource"] = resource
    params.update(
        response_type="code",
        client_id=config.client_id,
        redirect_uri=redirect_uri,
        scope=" ".join(scopes),
        state=state,
        nonce=nonce,
        code_challenge=code_challenge,
        code_challenge_method="S256",
    )
    return params


async def push(client: OIDCClient, metadata: ProviderMetadata, params: dict[str, str]) -> str:
    """POST an authorization request to the PAR endpoint (RFC 9126 2.1); its request_uri."""
    url = metadata.pushed_authorization_request_endpoint
    body, headers = await client.client_auth(metadata, params)
    response = await client.http.fetch(
        url, method="POST", body=body, headers=headers, what=PAR_ENDPOINT
    )
    if response.code in (200, 201):
        request_uri = client.http.json_object(response, url, PAR_ENDPOINT).get("request_uri")
        if isinstance(request_uri, str) and request_uri:
            return request_uri
        raise ProviderError(f"{upper_first(PAR_ENDPOINT)} answered without a request_uri.")
    data = parse_json(response.body) if 400 <= response.code < 500 else None
    error = oauth_error_code(data)
    client.http.log.warning("POST %s answered HTTP %s %s", strip_query(url), response.code, error)
    if error:
        description = data.get("error_description") if isinstance(data, dict) else None
        said = description if isinstance(description, str) else None
        raise OAuthError(f"The provider refused the request ({error}).", error, said)
    raise ProviderError(
        f"{upper_first(PAR_ENDPOINT)} answered with HTTP status {response.code}; try again later."
    )
