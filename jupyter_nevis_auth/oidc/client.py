"""The OpenID client: authorization URL, client authentication, token and revocation calls."""

from __future__ import annotations

import logging
from typing import Any

from tornado.httpclient import AsyncHTTPClient

from ..core.client_keys import ClientKeys
from ..core.config import NevisAuth
from ..core.urls import strip_query, with_query
from ..dpop import DPOP, USE_NONCE, DPoPKey, Nonces
from ..errors import OAuthError, ProviderError, SettingsError
from . import refusals
from .authorize import authorize_params, push, requested_scopes
from .client_auth import ClientAuthentication
from .discovery import Discovery, ProviderMetadata
from .http import ProviderHTTP, oauth_error_code, parse_json
from .id_token import IDTokenChecks, IDTokenValidator
from .profile import dpop_warning, flow_problems, key_auth_warning, uses_par

#: RFC 8693's grant type and token type of an access token.
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 (a URN)
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 (a URN)


class OIDCClient:
    """Talks to one OpenID provider on behalf of one confidential client."""

    def __init__(
        self,
        config: NevisAuth,
        http_client: AsyncHTTPClient | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.config = config
        self.http = ProviderHTTP(config, http_client, log or logging.getLogger(__name__))
        self.discovery = Discovery(self.http)
        self.id_tokens = IDTokenValidator(self.http, self.discovery)
        self.authentication = ClientAuthentication(config)
        #: The provider's last DPoP nonce (RFC 9449 8), sent in the next proof.
        self.dpop_nonces = Nonces()

    async def metadata(self, *, recheck_after_failure: bool = False) -> ProviderMetadata:
        """The provider's metadata (see Discovery.metadata)."""
        return await self.discovery.metadata(recheck_after_failure=recheck_after_failure)

    async def validate_id_token(self, id_token: str, checks: IDTokenChecks) -> dict[str, Any]:
        """Claims of a valid ID token (see IDTokenValidator.validate)."""
        return await self.id_tokens.validate(id_token, checks)

    # -- authorization request ----------------------------------------------

    def authorize_url(
        self,
        metadata: ProviderMetadata,
        *,
        state: str,
        nonce: str,
        code_challenge: str,
        redirect_uri: str,
        extra_scopes: tuple[str, ...] = (),
        resource: str | None = None,
        extra_params: dict[str, str] | None = None,
    ) -> str:
        """The URL that sends the browser to the provider's sign-in, with every parameter.

        `extra_scopes` and `resource` (RFC 8707) ask for an API's token besides the usual ones.
        """
        params = authorize_params(
            self,
            metadata,
            state=state,
            nonce=nonce,
            code_challenge=code_challenge,
            redirect_uri=redirect_uri,
            extra_scopes=extra_scopes,
            resource=resource,
            extra_params=extra_params,
        )
        return with_query(metadata.authorization_endpoint, params)

    async def sign_in_url(self, metadata: ProviderMetadata, **request: Any) -> str:
        """Where a sign-in sends the browser: with a pushed request (RFC 9126) only client_id
        and request_uri, else every parameter (the arguments of authorize_url)."""
        if not uses_par(self.config, metadata):
            return self.authorize_url(metadata, **request)
        request_uri = await push(self, metadata, authorize_params(self, metadata, **request))
        return with_query(
            metadata.authorization_endpoint,
            {"client_id": self.config.client_id, "request_uri": request_uri},
        )

    def requested_scopes(self, metadata: ProviderMetadata) -> list[str]:
        """The configured scopes, less offline_access where the provider does not offer it."""
        return requested_scopes(self, metadata)

    @staticmethod
    def unoffered_scopes(metadata: ProviderMetadata, scopes: list[str]) -> list[str]:
        """Those of `scopes` the provider does not list in scopes_supported (when it lists any)."""
        if not metadata.scopes_supported:
            return []
        return [s for s in scopes if s not in metadata.scopes_supported]

    async def problems(self) -> list[str]:
        """Sentences naming what will not work with this provider as configured."""
        metadata = await self.metadata()
        found: list[str] = []
        if "offline_access" not in self.requested_scopes(metadata) and (
            "offline_access" in self.config.scopes
        ):
            found.append(
                "The provider does not list offline_access in scopes_supported, so it is not "
                "requested; whether a refresh token comes is up to the provider."
            )
        unoffered = self.unoffered_scopes(metadata, self.requested_scopes(metadata))
        if unoffered:
            found.append(
                f"{self.config.label}.scopes asks for {' '.join(unoffered)}, which the provider "
                "does not list in scopes_supported; sign-ins may fail with invalid_scope."
            )
        algorithm_problem = self.id_tokens.algorithm_problem(metadata)
        if algorithm_problem:
            found.append(algorithm_problem)
        found += flow_problems(self.config, metadata)
        for warning in (
            key_auth_warning(self.config, metadata),
            dpop_warning(self.config, metadata),
        ):
            if warning:
                found.append(warning)
        if self.authentication.key_file is not None:
            try:
                await self.client_keys()
            except SettingsError as e:
                found.append(str(e))
        if not metadata.revocation_endpoint:
            found.append(
                "Sign-out cannot revoke tokens at the provider: it publishes no revocation "
                f"endpoint (set {self.config.option('revocation_url')} if it has one). The "
                "provider offers no "
                "way to revoke tokens, so they stay valid at the provider until they expire."
            )
        return found

    # -- token endpoint -----------------------------------------------------

    def auth_method(self, metadata: ProviderMetadata) -> str:
        """The client authentication method used at the token, revocation, PAR and device
        endpoints."""
        return self.authentication.method(metadata)

    async def client_auth(
        self, metadata: ProviderMetadata, body: dict[str, str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Body and headers with the client's credentials added, per the auth method."""
        return await self.authentication.add(metadata, body)

    async def client_keys(self) -> ClientKeys:
        """The client's keys for private_key_jwt; SettingsError naming the option if unusable."""
        return await self.authentication.keys()

    async def token_request(
        self,
        params: dict[str, str],
        *,
        what: str,
        expected: tuple[str, ...] = (),
        timeout: float | None = None,
        dpop: DPoPKey | None = None,
    ) -> dict[str, Any]:
        """POST to the token endpoint; an OAuth error answer raises OAuthError.

        Errors in `expected` are part of the grant's protocol (a device sign-in's pending
        answers) and are not logged. `timeout`: seconds to wait for the answer, if not
        NevisAuth.http_timeout. With `dpop`, the request carries a proof of that key (and
        the provider's nonce, asked for once more when it wants a newer one).
        """
        metadata = await self.metadata()
        url = metadata.token_endpoint
        for attempt in (1, 2):
            # Credentials anew for the retry: a client assertion's jti is good once.
            body, headers = await self.client_auth(metadata, params)
            if dpop is not None:
                headers[DPOP] = dpop.proof("POST", url, nonce=self.dpop_nonces.get(url))
            response = await self.http.fetch(
                url, method="POST", body=body, headers=headers, what=what, timeout=timeout
            )
            error = (
                oauth_error_code(parse_json(response.body)) if 400 <= response.code < 500 else ""
            )
            fresh_nonce = dpop is not None and self.dpop_nonces.remember(url, response.headers)
            if not (error == USE_NONCE and fresh_nonce and attempt == 1):
                break
        if response.code == 200:
            data = self.http.json_object(response, url, what)
            _check_token_answer(data, what, dpop is not None)
            return data
        if not error or error not in expected:
            self.http.log.warning(
                "POST %s answered HTTP %s %s", strip_query(url), response.code, error
            )
        if error in refusals.CLIENT_REFUSED:  # a refresh too: say who fixes it
            raise OAuthError(refusals.client_refused(error, self.config), error=error)
        if error:
            raise OAuthError(f"The provider refused the request ({error}).", error=error)
        raise ProviderError(
            f"{what.capitalize()} answered with HTTP status {response.code}; try again later."
        )

    async def exchange_code(
        self, code: str, code_verifier: str, redirect_uri: str, dpop: DPoPKey | None = None
    ) -> dict[str, Any]:
        """Trade an authorization code for tokens (never retried; bound to `dpop` if given)."""
        return await self.token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": code_verifier,
                "redirect_uri": redirect_uri,
            },
            what="the provider's token endpoint",
            dpop=dpop,
        )

    async def refresh(
        self,
        refresh_token: str,
        *,
        scopes: tuple[str, ...] = (),
        resource: str | None = None,
        timeout: float | None = None,
        dpop: DPoPKey | None = None,
    ) -> dict[str, Any]:
        """Use a refresh token for a new access token, narrowed to `scopes` and `resource`.

        `timeout`: seconds to wait for the answer, if not NevisAuth.http_timeout.
        """
        params = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if scopes:
            params["scope"] = " ".join(scopes)  # RFC 6749 6
        if resource:
            params["resource"] = resource  # RFC 8707 2.2
        return await self.token_request(
            params, what="the provider's token endpoint", timeout=timeout, dpop=dpop
        )

    def offers_token_exchange(self, metadata: ProviderMetadata) -> bool:
        """Whether the provider advertises the token-exchange grant (RFC 8693)."""
        return TOKEN_EXCHANGE in metadata.grant_types_supported

    async def exchange(
        self,
        subject_token: str,
        *,
        scopes: tuple[str, ...] = (),
        resource: str | None = None,
        audience: str | None = None,
        dpop: DPoPKey | None = None,
    ) -> dict[str, Any]:
        """Trade the user's access token for one for another audience (RFC 8693 2.1)."""
        params = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject_token,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "requested_token_type": ACCESS_TOKEN_TYPE,
        }
        if scopes:
            params["scope"] = " ".join(scopes)
        if resource:
            params["resource"] = resource
        if audience:
            params["audience"] = audience
        return await self.token_request(params, what="the provider's token endpoint", dpop=dpop)

    async def revoke(self, token: str, hint: str) -> bool:
        """Revoke a token at the provider (RFC 7009); False when it has no revocation endpoint."""
        metadata = await self.metadata()
        if not metadata.revocation_endpoint:
            return False
        body, headers = await self.client_auth(metadata, {"token": token, "token_type_hint": hint})
        response = await self.http.fetch(
            metadata.revocation_endpoint,
            method="POST",
            body=body,
            headers=headers,
            what="the provider's revocation endpoint",
        )
        if response.code != 200:
            # The caller says it once, at the level it deserves (a JWT access token that
            # cannot be revoked is no news once its refresh token was).
            error = oauth_error_code(parse_json(response.body))
            raise ProviderError(
                f"The provider's revocation endpoint answered with HTTP status {response.code}"
                + (f" ({error})." if error else ".")
            )
        return True


def _check_token_answer(data: dict[str, Any], what: str, dpop: bool) -> None:
    """Refuse a token answer whose fields have the wrong types, before any part is kept."""
    if not isinstance(data.get("access_token"), str) or not data["access_token"]:
        raise ProviderError(f"{what.capitalize()} answered without an access token.")
    token_type = data.get("token_type")
    expected = DPOP if dpop else "Bearer"
    if isinstance(token_type, str) and dpop and token_type.lower() == "bearer":
        # A bound token was asked for: a bearer one would be a quiet step down.
        raise ProviderError(
            f"{what.capitalize()} answered with a bearer token although the request asked "
            "for a DPoP-bound one; turn DPoP on for this client at the provider."
        )
    if not isinstance(token_type, str) or token_type.lower() != expected.lower():
        raise ProviderError(f"{what.capitalize()} answered with an unknown token type.")
    for name in ("refresh_token", "id_token", "scope"):
        if name in data and data[name] is not None and not isinstance(data[name], str):
            raise ProviderError(f"{what.capitalize()} answered with a malformed {name}.")
