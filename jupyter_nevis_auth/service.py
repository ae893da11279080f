"""The sign-in service behind the handlers: starts and finishes the code flow, refreshes."""

from __future__ import annotations

import hmac
import logging
from typing import Any
from urllib.parse import unquote, urlencode, urlparse, urlsplit

from .config import NevisAuth
from .errors import (
    AccessDeniedError,
    ConfigurationError,
    InvalidTokenError,
    LoginError,
    NevisAuthError,
    OAuthError,
    ProviderError,
)
from .flow import PendingLogin, PendingLogins, pkce_challenge
from .provider import OIDCClient
from .tokens import TokenManager, TokenSet, TokenStore

#: Provider error codes meaning the user (or the provider's policy) said no.
REFUSALS = {
    "access_denied", "login_required", "consent_required", "interaction_required",
    "account_selection_required", "unauthorized_client",
}  # fmt: skip


def safe_next(next_url: str | None, base_url: str) -> str:
    """`next_url` when it is a path on this server, else `base_url` (no open redirect)."""
    # Control characters cannot go into the Location header (tornado raises on them).
    if not next_url or any(c == "\\" or c < " " or c == "\x7f" for c in next_url):
        return base_url
    try:
        # urlsplit, not urlparse: urlparse moves ";..." out of the path, out of the checks below.
        parsed = urlsplit(next_url)
    except ValueError:  # e.g. "//" and a fullwidth slash: a netloc invalid after NFKC
        return base_url
    if parsed.scheme or parsed.netloc or next_url.startswith("//"):
        return base_url
    # Browsers resolve %2e%2e as "..": check the path as they will see it.
    path = unquote(parsed.path)
    if not (parsed.path + "/").startswith(base_url) or "/../" in path + "/" or "/./" in path:
        return base_url
    return next_url


class AuthService:
    """Runs the Authorization Code flow for the server's user and hands out tokens."""

    def __init__(
        self,
        config: NevisAuth,
        store: TokenStore,
        client: OIDCClient | None = None,
        log: logging.Logger | None = None,
        server_name: str = "",
    ) -> None:
        self.config = config
        self.log = log or logging.getLogger(__name__)
        self.client = client or OIDCClient(config, log=self.log)
        self.pending = PendingLogins(ttl=config.state_ttl, server_name=server_name)
        self.tokens = TokenManager(
            store,
            self.refresh,
            leeway=config.refresh_leeway,
            timeout=config.http_timeout,
            log=self.log,
            parent=config,
        )

    def check_configured(self) -> None:
        """Raise ConfigurationError naming what is missing, if anything is."""
        problems = self.config.problems()
        if problems:
            raise ConfigurationError(
                "jupyter-nevis-auth is not configured yet. " + " ".join(problems)
            )

    async def start_login(self, redirect_uri: str, next_url: str) -> tuple[PendingLogin, str]:
        """A new pending sign-in and the provider URL to send the browser to."""
        self.check_configured()
        metadata = await self.client.metadata()
        login = self.pending.start(redirect_uri, next_url)
        url = self.client.authorize_url(
            metadata,
            state=login.state,
            nonce=login.nonce,
            code_challenge=pkce_challenge(login.code_verifier),
            redirect_uri=redirect_uri,
        )
        return login, url

    def _claim_pending(self, state: str | None, browser_key: str | None) -> PendingLogin:
        if not state:
            raise LoginError("The sign-in response carries no state; start the sign-in again.")
        login = self.pending.peek(state)
        if login is None:
            raise LoginError(
                "This sign-in has expired or was already used; start the sign-in again."
            )
        if not browser_key or not hmac.compare_digest(browser_key, login.browser_key):
            raise AccessDeniedError(
                "This sign-in was started in another browser; start the sign-in again here."
            )
        self.pending.pop(state)
        return login

    async def finish_login(
        self, user: str, params: dict[str, str], browser_key: str | None
    ) -> PendingLogin:
        """Check the callback's parameters, trade the code, validate and store the tokens."""
        self.check_configured()
        error = params.get("error")
        if error:
            if params.get("state"):
                self.pending.pop(params["state"])
            self.log.info("The provider answered the sign-in with error %r", error[:40])
            if error in REFUSALS:
                raise AccessDeniedError(
                    "The sign-in was refused or cancelled at the provider; try again."
                )
            raise ProviderError("The provider could not complete the sign-in; try again later.")
        login = self._claim_pending(params.get("state"), browser_key)
        metadata = await self.client.metadata()
        iss = params.get("iss")
        if iss is not None and iss != metadata.issuer:
            raise LoginError(
                "The sign-in response comes from another issuer than the configured one; "
                "start the sign-in again."
            )
        if iss is None and metadata.authorization_response_iss_parameter_supported:
            raise LoginError(
                "The sign-in response lacks the issuer the provider promised; "
                "start the sign-in again."
            )
        code = params.get("code")
        if not code:
            raise LoginError("The sign-in response carries no code; start the sign-in again.")
        try:
            data = await self.client.exchange_code(code, login.code_verifier, login.redirect_uri)
        except OAuthError as e:
            if e.error == "invalid_grant":
                raise LoginError(
                    "The provider did not accept the sign-in code (expired or already used); "
                    "sign in again."
                ) from e
            raise ProviderError(
                f"The provider refused to issue tokens ({e.error}); ask your administrator "
                "to check the client id, secret and redirect URI."
            ) from e
        id_token = data.get("id_token")
        if not isinstance(id_token, str):
            raise InvalidTokenError("The provider answered without an ID token; sign in again.")
        claims = await self.client.validate_id_token(id_token, nonce=login.nonce)
        tokens = TokenSet.from_response(data, claims, requested_scope=self.config.scopes)
        await self.tokens.save(user, tokens)
        self.log.info("Signed in %s as provider subject %s", user, claims.get("sub"))
        return login

    async def logout(self, user: str, reason: str = "You signed out.") -> TokenSet | None:
        """Drop the user's tokens, then revoke them at the provider; returns what was dropped."""
        tokens = await self.tokens.sign_out(user, reason)
        if tokens is None:
            return None
        self.log.info("Signed out %s", user)
        # Signed out locally whatever the provider answers: the user asked for it.
        if tokens.refresh_token:
            try:
                await self.client.revoke(tokens.refresh_token, "refresh_token")
            except NevisAuthError as e:
                self.log.warning(
                    "Could not revoke the tokens of %s (%s); they stay valid at the provider "
                    "until they expire.", user, e,
                )  # fmt: skip
                return tokens
        try:
            await self.client.revoke(tokens.access_token, "access_token")
        except NevisAuthError as e:
            # Many providers cannot revoke self-contained (JWT) access tokens; revoking
            # the refresh token already ended the grant.
            log = self.log.info if tokens.refresh_token else self.log.warning
            log("The provider did not revoke the access token of %s (%s).", user, e)
        return tokens

    async def provider_logout_url(self, tokens: TokenSet | None, return_url: str) -> str | None:
        """Where the browser ends its session at the provider, then comes back to `return_url`."""
        metadata = await self.client.metadata()
        endpoint = metadata.end_session_endpoint
        if not endpoint:
            return None
        params = {"client_id": self.config.client_id, "post_logout_redirect_uri": return_url}
        if tokens is not None and tokens.id_token:
            params["id_token_hint"] = tokens.id_token
        if urlparse(endpoint).path.rstrip("/").endswith("/sso/logout"):
            # Nevis's own logout takes the way back as return_to.
            params["return_to"] = return_url
        return endpoint + ("&" if urlparse(endpoint).query else "?") + urlencode(params)

    async def refresh(self, tokens: TokenSet) -> TokenSet:
        """One refresh-token grant; a new ID token must be valid and for the same subject."""
        assert tokens.refresh_token  # TokenManager only refreshes sets that have one
        data = await self.client.refresh(tokens.refresh_token)
        claims: dict[str, Any] = tokens.claims
        id_token = data.get("id_token")
        if isinstance(id_token, str):
            claims = await self.client.validate_id_token(
                id_token, nonce=None, expected_sub=tokens.claims.get("sub")
            )
            if claims.get("iss") != tokens.claims.get("iss"):
                raise InvalidTokenError("The provider sent an ID token from another issuer.")
        return TokenSet.from_response(data, claims, previous=tokens)
