"""The sign-in service behind the handlers: starts and finishes the code flow, refreshes."""

from __future__ import annotations

import hmac
import logging
from typing import Any
from urllib.parse import urlparse

from . import urls
from .claims import display_name, public_claims
from .config import NevisAuth
from .errors import (
    AccessDeniedError,
    CallbackError,
    InvalidTokenError,
    NevisAuthError,
    OAuthError,
    SettingsError,
)
from .flow import PendingLogin, PendingLogins, pkce_challenge
from .oidc import OIDCClient, ProviderMetadata, refusals
from .refresh import TokenManager
from .stores import TokenStore
from .tokens import TokenSet

NO_REFRESH_TOKEN = (
    "The provider issued no refresh token: this sign-in ends when the access token expires."  # noqa: S105
)
NO_REVOCATION = (
    "The provider offers no way to revoke tokens, so they stay valid at the provider "
    "until they expire."
)


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
            retry_budget=config.http_timeout,
            log=self.log,
            parent=config,
        )

    def check_configured(self) -> None:
        """Raise SettingsError naming what is missing, if anything is."""
        problems = self.config.problems()
        if problems:
            raise SettingsError("jupyter-nevis-auth is not configured yet. " + " ".join(problems))

    async def start_login(self, redirect_uri: str, next_url: str) -> tuple[PendingLogin, str]:
        """A new pending sign-in and the provider URL to send the browser to."""
        self.check_configured()
        metadata = await self.client.metadata(recheck_after_failure=True)
        problem = self.client.id_tokens.algorithm_problem(metadata)
        if problem:
            raise SettingsError(problem)
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
            raise CallbackError("The sign-in response carries no state; start the sign-in again.")
        login = self.pending.peek(state)
        if login is None:
            raise CallbackError(
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
            try:
                metadata: ProviderMetadata | None = await self.client.metadata()
            except NevisAuthError:
                metadata = None
            raise refusals.authorize_error(
                error, params.get("error_description"), self._scope_sentence(metadata)
            )
        login = self._claim_pending(params.get("state"), browser_key)
        metadata = await self.client.metadata()
        iss = params.get("iss")
        if iss is not None and iss != metadata.issuer:
            raise CallbackError(
                "The sign-in response comes from another issuer than the configured one; "
                "start the sign-in again."
            )
        if iss is None and metadata.authorization_response_iss_parameter_supported:
            raise CallbackError(
                "The sign-in response lacks the issuer the provider promised; "
                "start the sign-in again."
            )
        code = params.get("code")
        if not code:
            raise CallbackError("The sign-in response carries no code; start the sign-in again.")
        try:
            data = await self.client.exchange_code(code, login.code_verifier, login.redirect_uri)
        except OAuthError as e:
            raise refusals.token_error(e.error, self._scope_sentence(metadata)) from e
        id_token = data.get("id_token")
        if not isinstance(id_token, str):
            raise InvalidTokenError("The provider answered without an ID token; sign in again.")
        claims = await self.client.validate_id_token(id_token, nonce=login.nonce)
        requested = self.client.requested_scopes(metadata)
        tokens = TokenSet.from_response(data, claims, requested_scope=requested)
        await self.tokens.save(user, tokens)
        self.log.info("Signed in %s as provider subject %s", user, claims.get("sub"))
        if not tokens.refresh_token:
            cause = (
                "offline_access was requested but probably not granted; some providers grant "
                'it only with prompt=consent (set NevisAuth.extra_authorize_params to {"prompt": '
                '"consent"})'
                if "offline_access" in requested
                else "the provider may need a scope or parameter of its own to issue one"
            )
            self.log.warning("%s (for %s: %s.)", NO_REFRESH_TOKEN, user, cause)
        return login

    def _scope_sentence(self, metadata: ProviderMetadata | None) -> str:
        scopes = self.client.requested_scopes(metadata) if metadata else list(self.config.scopes)
        unoffered = self.client.unoffered_scopes(metadata, scopes) if metadata else []
        listed = bool(metadata and metadata.scopes_supported)
        return refusals.scope_problem(scopes, unoffered, listed)

    def redirect_uri(self, origin: str, base_url: str) -> str:
        """The redirect URI: the configured one, else this server's callback at `origin`."""
        return self.config.redirect_uri or origin + urls.join(base_url, urls.CALLBACK_PATH)

    def post_logout_uri(self, origin: str, base_url: str) -> str:
        """Where the provider's logout sends the browser back to."""
        return self.config.post_logout_redirect_uri or origin + urls.join(
            base_url, urls.LOGOUT_PATH
        )

    async def fresh_tokens(
        self, user: str, min_ttl: float | None = None, *, force: bool = False
    ) -> TokenSet:
        """The user's tokens with `min_ttl` seconds left, refreshed first when needed."""
        return await self.tokens.fresh(user, min_ttl, force=force)

    async def status(self, user: str, login_url: str, *, refresh: bool = False) -> dict[str, Any]:
        """What the widget and frontends may see: never a raw token.

        With `refresh`, a token about to expire is refreshed first, so the answer is current.
        """
        if refresh:
            try:
                await self.tokens.fresh(user)
            except NevisAuthError as e:
                self.log.debug("Status for %s: %s", user, e)
        tokens = await self.tokens.store.get(user)
        status: dict[str, Any] = {
            "logged_in": tokens is not None,
            "signed_out_reason": None if tokens else self.tokens.signed_out_reason.get(user),
            "last_refresh_error": self.tokens.last_refresh_error.get(user),
            "login_url": login_url,
        }
        if tokens is not None:
            status.update(
                claims=public_claims(tokens.claims),
                display_name=display_name(tokens.claims),
                scopes=list(tokens.scope),
                expires_at=tokens.expires_at,
                expires_in=tokens.expires_in(),
                refresh_possible=bool(tokens.refresh_token),
                warnings=[] if tokens.refresh_token else [NO_REFRESH_TOKEN],
            )
        return status

    async def logout(self, user: str, reason: str = "You signed out.") -> TokenSet | None:
        """Drop the user's tokens, then revoke them at the provider; returns what was dropped."""
        tokens = await self.tokens.sign_out(user, reason)
        if tokens is None:
            return None
        self.log.info("Signed out %s", user)
        # Signed out locally whatever the provider answers: the user asked for it.
        if tokens.refresh_token:
            try:
                revoked = await self.client.revoke(tokens.refresh_token, "refresh_token")
            except NevisAuthError as e:
                self.log.warning(
                    "Could not revoke the tokens of %s (%s); they stay valid at the provider "
                    "until they expire.", user, e,
                )  # fmt: skip
                self.tokens.signed_out_reason[user] = (
                    f"You signed out here, but the provider could not revoke the tokens ({e}); "
                    "they stay valid at the provider until they expire."
                )
                return tokens
            if not revoked:
                self.tokens.signed_out_reason[user] = "You signed out here. " + NO_REVOCATION
                return tokens
        try:
            await self.client.revoke(tokens.access_token, "access_token")
        except NevisAuthError as e:
            # Many providers cannot revoke self-contained (JWT) access tokens; revoking
            # the refresh token already ended the grant.
            log = self.log.info if tokens.refresh_token else self.log.warning
            log("The provider did not revoke the access token of %s (%s).", user, e)
        return tokens

    async def check_provider(self) -> list[str]:
        """Read the provider's metadata now and log what will not work as configured."""
        if self.config.problems():
            return []
        try:
            found = await self.client.problems()
        except NevisAuthError as e:
            self.log.warning("jupyter-nevis-auth: the provider cannot be checked now: %s", e)
            return [str(e)]
        for problem in found:
            self.log.warning("jupyter-nevis-auth: %s", problem)
        return found

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
        return urls.with_query(endpoint, params)

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
