"""The Authorization Code flow: start a sign-in, check the provider's answer, keep the tokens."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections import defaultdict
from typing import Any

from ..dpop import DPoPKey
from ..errors import (
    AccessDeniedError,
    CallbackError,
    InvalidTokenError,
    NevisAuthError,
    OAuthError,
    SettingsError,
)
from ..oidc import IDTokenChecks, ProviderMetadata, refusals
from ..oidc.profile import flow_problems, requires_iss
from ..protocol import DEFAULT_PROVIDER
from . import step_up
from .apis import ApiSpec, token_key
from .identity import Identities
from .pending import PendingLogin, PendingLogins, pkce_challenge
from .providers import Provider
from .refresh import TokenManager
from .tokens import TokenSet

NO_REFRESH_TOKEN = (
    "The provider issued no refresh token: this sign-in ends when the access token expires."  # noqa: S105
)


class SignIns:
    """Starts sign-ins at any configured provider and finishes them at the one callback."""

    def __init__(
        self,
        providers: dict[str, Provider],
        apis: dict[str, ApiSpec],
        tokens: TokenManager,
        pending: PendingLogins,
        log: logging.Logger,
    ) -> None:
        self.providers = providers
        self.apis = apis
        self.tokens = tokens
        self.pending = pending
        self.log = log
        #: Whose sign-ins each user's tokens may come from.
        self.identities = Identities(providers, tokens.store, log)
        #: Per user and provider: when a sign-in naming another person was last refused, and
        #: the sentence why, so a cell waiting for that sign-in can stop and say so.
        self.identity_refusals: dict[str, tuple[float, str]] = {}
        # One sign-in kept at a time per user and provider: both would pass the identity
        # check before either is stored.
        self._keeping: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def check_configured(self) -> None:
        """Raise SettingsError naming what is missing, if anything is."""
        problems = self.providers[DEFAULT_PROVIDER].config.problems()
        if problems:
            raise SettingsError("jupyter-nevis-auth is not configured yet. " + " ".join(problems))

    def extra_scopes(self, provider: str, api: ApiSpec | None) -> tuple[str, ...]:
        """The scopes a sign-in asks for besides the provider's own: the API's, or all of them."""
        if api is not None and api.narrowed:
            return api.scopes
        # Sign in once: the grant covers the provider's APIs, whose tokens then come from
        # narrowed refreshes instead of more sign-ins. So also for an API that asks only for
        # a stronger sign-in: its sign-in replaces the provider's.
        return tuple(s for a in self.apis.values() if a.provider == provider for s in a.scopes)

    async def sign_in_for(self, user: str, provider: str, api: ApiSpec | None) -> ApiSpec | None:
        """What a sign-in asked for `api` signs in for: the API's own grant only while `user`
        is signed in at its provider, else the provider's sign-in, which covers its APIs.

        So every way in (the pages, a link, a device) ends in the state the status's sign-in
        links lead to: without it, a link's sign-in for an API left its provider signed out.
        """
        if api is not None and await self.tokens.store.get(token_key(user, provider)) is None:
            return None
        return api

    async def usable_metadata(self, provider: str) -> ProviderMetadata:
        """The provider's metadata, read again after a failure; SettingsError if unusable."""
        self.check_configured()
        client = self.providers[provider].client
        metadata = await client.metadata(recheck_after_failure=True)
        problem = client.id_tokens.algorithm_problem(metadata)
        if problem:
            raise SettingsError(problem)
        problems = flow_problems(client.config, metadata)
        if problems:
            raise SettingsError(" ".join(problems))
        return metadata

    async def start(
        self,
        redirect_uri: str,
        next_url: str,
        provider: str,
        api: ApiSpec | None,
        *,
        via_link: bool = False,
        owner: str = "",
    ) -> tuple[PendingLogin, str]:
        """A new pending sign-in (of `owner`, where users share them) and its provider URL."""
        api = await self.sign_in_for(owner, provider, api) if owner else api
        metadata = await self.usable_metadata(provider)
        client = self.providers[provider].client
        login = self.pending.start(
            redirect_uri, next_url, provider, api, via_link=via_link, owner=owner
        )
        extra = self.extra_scopes(provider, api)
        try:
            url = await client.sign_in_url(
                metadata,
                state=login.state,
                nonce=login.nonce,
                code_challenge=pkce_challenge(login.code_verifier),
                redirect_uri=redirect_uri,
                extra_scopes=extra,
                resource=api.resource if api else None,
                extra_params=step_up.authorize_params(api),
            )
        except OAuthError as e:
            # A pushed request is refused before any browser sees it (RFC 9126 2.3).
            self.pending.pop(login.state)
            sentence = self.scope_sentence(self.providers[provider], metadata)
            raise refusals.authorize_error(e.error, e.description, sentence, client.config) from e
        except NevisAuthError:
            self.pending.pop(login.state)
            raise
        return login, url

    def scope_sentence(self, provider: Provider, metadata: ProviderMetadata | None) -> str:
        """The sentence for an invalid_scope from `provider`."""
        client = provider.client
        scopes = client.requested_scopes(metadata) if metadata else list(provider.config.scopes)
        unoffered = client.unoffered_scopes(metadata, scopes) if metadata else []
        listed = bool(metadata and metadata.scopes_supported)
        return refusals.scope_problem(scopes, unoffered, listed, provider.config)

    def _claim(self, state: str | None, browser_key: str | None) -> PendingLogin:
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

    async def _refused(self, params: dict[str, str]) -> NevisAuthError:
        login = self.pending.pop(params["state"]) if params.get("state") else None
        provider = self.providers[login.provider if login else DEFAULT_PROVIDER]
        try:
            metadata: ProviderMetadata | None = await provider.client.metadata()
        except NevisAuthError:
            metadata = None
        return refusals.authorize_error(
            params["error"],
            params.get("error_description"),
            self.scope_sentence(provider, metadata),
            provider.config,
        )

    async def finish(
        self, user: str, params: dict[str, str], browser_key: str | None
    ) -> PendingLogin:
        """Check the callback's parameters, trade the code, validate and store the tokens."""
        self.check_configured()
        if params.get("error"):
            raise await self._refused(params)
        login = self._claim(params.get("state"), browser_key)
        provider = self.providers[login.provider]
        client = provider.client
        metadata = await client.metadata()
        iss = params.get("iss")
        # RFC 9207: with several providers this is what stops a mix-up attack.
        if iss is not None and iss != metadata.issuer:
            raise CallbackError(
                "The sign-in response comes from another issuer than the configured one; "
                "start the sign-in again."
            )
        if iss is None and requires_iss(provider.config, metadata):
            raise CallbackError(
                "The sign-in response lacks the issuer the provider promised; "
                "start the sign-in again."
            )
        code = params.get("code")
        if not code:
            raise CallbackError("The sign-in response carries no code; start the sign-in again.")
        try:
            dpop = self.new_dpop_key(login.provider, login.api)
            data = await client.exchange_code(
                code, login.code_verifier, login.redirect_uri, dpop=dpop
            )
        except OAuthError as e:
            sentence = self.scope_sentence(provider, metadata)
            raise refusals.token_error(e.error, sentence, provider.config) from e
        id_token = data.get("id_token")
        if not isinstance(id_token, str):
            raise InvalidTokenError("The provider answered without an ID token; sign in again.")
        claims = await client.validate_id_token(id_token, IDTokenChecks.code_flow(login.nonce))
        await self.keep(user, login.provider, login.api, data, claims, dpop=dpop)
        return login

    def new_dpop_key(self, provider: str, api: ApiSpec | None) -> DPoPKey | None:
        """A new key for a sign-in's tokens to be bound to, None when they are bearer tokens."""
        wanted = self.providers[provider].config.dpop or (api is not None and api.dpop)
        return DPoPKey.generate() if wanted else None

    def check_reached(self, provider: str, api: ApiSpec | None, claims: dict[str, Any]) -> None:
        """Refuse a sign-in below the level or older than its request asked (RFC 9470): its
        tokens would only be refused by the API again."""
        if api is None:
            return
        # max_age to the second, as when a token is handed out (step_up.unmet): a sign-in kept
        # that no token may come from would leave the waiting cell waiting until it times out.
        problem = step_up.assurance_problem(claims, api.acr_values, api.max_age)
        if problem:
            self.log.warning("A sign-in at %s was refused: %s", provider, problem)
            raise AccessDeniedError(f"This sign-in is not used: {problem}")

    async def keep(
        self,
        user: str,
        provider: str,
        api: ApiSpec | None,
        data: dict[str, Any],
        claims: dict[str, Any],
        *,
        dpop: DPoPKey | None = None,
    ) -> None:
        """Store the tokens of a finished sign-in (of either flow) for `user`."""
        client = self.providers[provider].client
        metadata = await client.metadata()
        requested = client.requested_scopes(metadata) + list(api.scopes if api else ())
        tokens = TokenSet.from_response(data, claims, requested_scope=requested, dpop=dpop)
        spec = api if api and api.narrowed else None
        async with self._keeping[token_key(user, provider)]:
            try:
                self.check_reached(provider, api, claims)
                await self.identities.check(user, provider, claims)
            except AccessDeniedError as e:
                self.identity_refusals[token_key(user, provider)] = (time.time(), str(e))
                raise
            await self.tokens.save(token_key(user, provider, spec.key if spec else None), tokens)
            self.identities.bind(user, provider, claims)
            self.identity_refusals.pop(token_key(user, provider), None)
        self.log.info(
            "Signed in %s at %s%s as provider subject %s",
            user,
            provider,
            f" for {spec.name or 'more scopes'}" if spec else "",
            claims.get("sub"),
        )
        if not tokens.refresh_token:
            option = self.providers[provider].config.option("extra_authorize_params")
            cause = (
                "offline_access was requested but probably not granted; some providers grant "
                f'it only with prompt=consent (set {option} to {{"prompt": "consent"}})'
                if "offline_access" in requested
                else "the provider may need a scope or parameter of its own to issue one"
            )
            self.log.warning("%s (for %s: %s.)", NO_REFRESH_TOKEN, user, cause)
