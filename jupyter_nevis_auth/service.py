"""The sign-in service behind the handlers: starts and finishes the code flow, refreshes."""

from __future__ import annotations

import hmac
import logging
from typing import Any
from urllib.parse import unquote, urlencode, urlparse, urlsplit

from .config import NevisAuth, env_name
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
from .provider import OIDCClient, ProviderMetadata, oauth_error_code
from .tokens import NO_REFRESH_TOKEN, TokenManager, TokenSet, TokenStore

#: Provider error codes meaning the user (or the provider's policy) said no.
REFUSALS = {
    "access_denied", "login_required", "consent_required", "interaction_required",
    "account_selection_required",
}  # fmt: skip
#: Provider error codes that only a later try can fix.
TRANSIENT = {"server_error", "temporarily_unavailable"}
#: Characters of an error_description shown at most.
MAX_DESCRIPTION = 200

NO_REVOCATION = (
    "The provider offers no way to revoke tokens, so they stay valid at the provider "
    "until they expire."
)


def _described(description: str | None) -> str:
    """The provider's error_description as a shortened, printable sentence ("" when none)."""
    if not description:
        return ""
    text = "".join(c if c.isprintable() else " " for c in description).strip()
    if len(text) > MAX_DESCRIPTION:
        text = text[: MAX_DESCRIPTION - 1] + "…"
    return f" The provider said: “{text}”." if text else ""


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

    def explain_authorize_error(
        self, error: str, description: str | None, metadata: ProviderMetadata | None
    ) -> NevisAuthError:
        """The error for an authorization response's `error`: what happened, who fixes it."""
        said = _described(description)
        code = oauth_error_code({"error": error}) or "an unknown error"
        if error in REFUSALS:
            return AccessDeniedError(
                f"The sign-in was refused or cancelled at the provider ({error}); try again.{said}"
            )
        if error in TRANSIENT:
            return ProviderError(
                f"The provider could not complete the sign-in ({error}); try again later.{said}"
            )
        if error == "invalid_scope":
            return ConfigurationError(self._scope_problem(metadata) + said)
        fixes = {
            "invalid_request": "check NevisAuth.redirect_uri and "
            f"NevisAuth.extra_authorize_params (${env_name('extra_authorize_params')})",
            "unauthorized_client": "allow the authorization code grant for NevisAuth.client_id "
            "at the provider",
            "unsupported_response_type": "allow the authorization code grant (response type "
            "code) for NevisAuth.client_id at the provider",
            "invalid_client": f"check NevisAuth.client_id (${env_name('client_id')})",
        }
        fix = fixes.get(error, "check this server's NevisAuth settings against the provider")
        return ConfigurationError(
            f"The provider refused the sign-in request ({code}); ask your administrator to "
            f"{fix}.{said}"
        )

    def explain_token_error(self, error: str) -> NevisAuthError:
        """The error for a token endpoint's OAuth error answer to the code exchange."""
        if error == "invalid_grant":
            return LoginError(
                "The provider did not accept the sign-in code (expired or already used); "
                "sign in again."
            )
        if error in TRANSIENT:
            return ProviderError(f"The provider could not issue tokens ({error}); try again later.")
        if error in ("invalid_client", "unauthorized_client"):
            return ConfigurationError(
                f"The provider did not accept this server's client credentials ({error}); ask "
                "your administrator to check NevisAuth.client_id, NevisAuth.client_secret (or "
                "client_secret_file) and NevisAuth.token_endpoint_auth_method."
            )
        if error == "invalid_scope":
            return ConfigurationError(self._scope_problem(None))
        return ConfigurationError(
            f"The provider refused to issue tokens ({error}); ask your administrator to check "
            "the client id, secret and redirect URI."
        )

    def _scope_problem(self, metadata: ProviderMetadata | None) -> str:
        scopes = self.client.requested_scopes(metadata) if metadata else list(self.config.scopes)
        missing = self.client.unoffered_scopes(metadata, scopes) if metadata else []
        if missing:
            which = f"; it does not offer {' '.join(missing)}"
        elif metadata and metadata.scopes_supported:
            which = ""
        else:
            which = "; it does not publish which scopes it offers"
        return (
            f"The provider refused the requested scopes \u201c{' '.join(scopes)}\u201d "
            f"(invalid_scope){which}. Ask your administrator to change NevisAuth.scopes "
            f"(${env_name('scopes')})."
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
        metadata = await self.client.metadata(recheck_after_failure=True)
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
            try:
                metadata: ProviderMetadata | None = await self.client.metadata()
            except NevisAuthError:
                metadata = None
            raise self.explain_authorize_error(error, params.get("error_description"), metadata)
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
            raise self.explain_token_error(e.error) from e
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
            metadata = await self.client.metadata()
        except NevisAuthError as e:
            self.log.warning("jupyter-nevis-auth: the provider cannot be checked now: %s", e)
            return [str(e)]
        found: list[str] = []
        if (
            "offline_access" in self.config.scopes
            and metadata.scopes_supported
            and ("offline_access" not in metadata.scopes_supported)
        ):
            found.append(
                "The provider does not list offline_access in scopes_supported, so it is not "
                "requested; whether a refresh token comes is up to the provider."
            )
        missing = self.client.unoffered_scopes(metadata, self.client.requested_scopes(metadata))
        if missing:
            found.append(
                f"NevisAuth.scopes asks for {' '.join(missing)}, which the provider does not "
                "list in scopes_supported; sign-ins may fail with invalid_scope."
            )
        if not metadata.revocation_endpoint:
            found.append(
                "Sign-out cannot revoke tokens at the provider: it publishes no revocation "
                "endpoint (set NevisAuth.revocation_url if it has one). " + NO_REVOCATION
            )
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
