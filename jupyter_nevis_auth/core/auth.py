"""The service behind the handlers: sign-ins, tokens for kernels, status and sign-out."""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import urlparse

from ..errors import NevisAuthError, RequestError
from ..oidc import IDTokenChecks, OIDCClient
from ..protocol import DEFAULT_PROVIDER, ErrorAnswer
from . import step_up, urls
from .api_tokens import ApiTokens
from .apis import ApiSpec, adhoc, check_api_alone, parse_apis, split_key, token_key
from .config import NevisAuth
from .device_signin import DeviceSignIns
from .links import SignInLinks, public_origin
from .pending import PendingLogin, PendingLogins
from .providers import build_providers
from .refresh import TokenManager
from .signin import SignIns
from .status import build_status
from .stores import TokenStore
from .tokens import TokenSet
from .urls import PagePaths

#: Why a user is signed out who signed out here.
SIGNED_OUT = "You signed out."
NO_REVOCATION = (
    "The provider offers no way to revoke tokens, so they stay valid at the provider "
    "until they expire."
)


class AuthCore:
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
        self.providers, problems = build_providers(config, self.log, client)
        self.apis, api_problems = parse_apis(config.apis, self.providers)
        #: What the configuration leaves out, one sentence each (logged at start).
        self.problems = problems + api_problems
        self.client = self.providers[DEFAULT_PROVIDER].client
        self.pending = PendingLogins(ttl=config.state_ttl, server_name=server_name)
        self.tokens = TokenManager(
            store,
            self.refresh,
            leeway=config.refresh_leeway,
            retry_budget=config.http_timeout,
            log=self.log,
            parent=config,
        )
        self.sign_ins = SignIns(self.providers, self.apis, self.tokens, self.pending, self.log)
        self.api_tokens = ApiTokens(self.tokens, self.providers, self.log)
        self.links = SignInLinks(config.login_timeout)
        self.devices = DeviceSignIns(self.sign_ins, config.device_flow, self.log)
        #: JupyterHub's public URL of this server, when the hub knows one.
        self.hub_public_url = os.environ.get("JUPYTERHUB_PUBLIC_URL", "")

    def check_configured(self) -> None:
        """Raise SettingsError naming what is missing, if anything is."""
        self.sign_ins.check_configured()

    def selection(self, params: dict[str, str]) -> tuple[str, ApiSpec | None]:
        """The provider and API a request asks for (api=, provider=, scope=, resource=...)."""
        provider = params.get("provider") or DEFAULT_PROVIDER
        if provider not in self.providers:
            raise RequestError(
                f"No provider named {provider!r} is configured (NevisAuth.providers)."
            )
        name = params.get("api")
        if name:
            if name not in self.apis:
                raise RequestError(f"No API named {name!r} is configured (NevisAuth.apis).")
            check_api_alone(name, params)
            spec = self.apis[name]
            return spec.provider, step_up.demanded(spec, spec.provider, params)
        scopes, resource, audience = (
            params.get(k) or "" for k in ("scope", "resource", "audience")
        )
        if scopes or resource or audience:
            spec = adhoc(provider, scopes.split(), resource, audience)
            return provider, step_up.demanded(spec, provider, params)
        return provider, step_up.demanded(None, provider, params)

    async def start_login(
        self,
        redirect_uri: str,
        next_url: str,
        provider: str = DEFAULT_PROVIDER,
        api: ApiSpec | None = None,
        *,
        via_link: bool = False,
        owner: str = "",
    ) -> tuple[PendingLogin, str]:
        """A new pending sign-in and the provider URL to send the browser to.

        `owner` names the user who starts it: a sign-in for an API is the provider's own while
        the user has none there (SignIns.sign_in_for). Where users share the pending sign-ins
        (the hub service), each user may have flow.MAX_PENDING under way.
        """
        return await self.sign_ins.start(
            redirect_uri, next_url, provider, api, via_link=via_link, owner=owner
        )

    def started_from_link(self, state: str | None) -> bool:
        """Whether `state` is a live sign-in started from a one-time link."""
        login = self.pending.peek(state) if state else None
        return login is not None and login.via_link

    def public_origin(self, provider: str = DEFAULT_PROVIDER) -> str:
        """The origin browsers reach this server at, "" when the configuration does not say."""
        configured = self.providers[provider].config.redirect_uri or self.config.redirect_uri
        return public_origin(self.config.public_url, self.hub_public_url, configured)

    async def finish_login(
        self, user: str, params: dict[str, str], browser_key: str | None
    ) -> PendingLogin:
        """Check the callback's parameters, trade the code, validate and store the tokens."""
        return await self.sign_ins.finish(user, params, browser_key)

    def redirect_uri(self, origin: str, pages: PagePaths, provider: str = DEFAULT_PROVIDER) -> str:
        """The redirect URI: the configured one, else the app's callback at `origin`."""
        configured = self.providers[provider].config.redirect_uri or self.config.redirect_uri
        return configured or pages.url(urls.CALLBACK, origin=origin)

    def post_logout_uri(self, origin: str, pages: PagePaths, provider: str | None = None) -> str:
        """Where the logout at `provider` (None: the default one) sends the browser back to.
        The derived page names the provider, so that it confirms which sign-in ended."""
        configured = self.providers[provider or DEFAULT_PROVIDER].config.post_logout_redirect_uri
        named = {"provider": provider} if provider else {}
        return configured or pages.url(urls.LOGOUT, named, origin=origin)

    async def fresh_tokens(
        self,
        user: str,
        min_ttl: float | None = None,
        *,
        force: bool = False,
        provider: str = DEFAULT_PROVIDER,
        api: ApiSpec | None = None,
    ) -> TokenSet:
        """The tokens asked for, with `min_ttl` seconds left, refreshed or obtained if needed."""
        if api is not None:
            return await self.api_tokens.token(user, api, min_ttl, force=force)
        return await self.tokens.fresh(token_key(user, provider), min_ttl, force=force)

    async def signed_in(self, user: str, provider: str = DEFAULT_PROVIDER) -> bool:
        """Whether the user holds a sign-in at `provider`."""
        return await self.tokens.store.get(token_key(user, provider)) is not None

    async def status(self, user: str, pages: PagePaths, *, refresh: bool = False) -> dict[str, Any]:
        """What the widget and frontends may see, never a raw token, its sign-in links at the
        app's `pages`; `refresh` renews first a token about to expire, so the answer is current."""
        if refresh:
            for name in self.providers:
                try:
                    await self.tokens.fresh(token_key(user, name))
                except NevisAuthError as e:
                    self.log.debug("Status for %s at %s: %s", user, name, e)
        return await build_status(
            self.api_tokens, user, list(self.providers), list(self.apis.values()), pages
        )

    async def logout(self, user: str, provider: str | None = None) -> TokenSet | None:
        """Sign out of one provider or all, revoking each grant.

        Returns the sign-in dropped at `provider`, or at the default provider when all end.
        """
        names = [provider] if provider else list(self.providers)
        keys = {token_key(user, name) for name in names}
        keys.update(
            k
            for k in await self.tokens.store.keys()
            if split_key(k)[0] == user and split_key(k)[1] in names
        )
        dropped: dict[str, TokenSet] = {}
        ended: set[str] = set()
        for key in sorted(keys):
            _user, name, api = split_key(key)
            tokens = await self._sign_out(key, name)
            if tokens is not None:
                ended.add(name)
                if api is None:
                    dropped[name] = tokens
        for name in names:
            # Signing out on purpose is how a user switches to another account.
            self.sign_ins.identities.forget(user, name)
        # One line per provider, however many API tokens its sign-in had.
        for name in sorted(ended):
            self.log.info("Signed out %s at %s", user, name)
        return dropped.get(provider or DEFAULT_PROVIDER)

    def refused_sign_in(self, user: str, provider: str) -> ErrorAnswer:
        """For a 401: when a sign-in naming another person was last refused, and why."""
        refused = self.sign_ins.identity_refusals.get(token_key(user, provider))
        return ErrorAnswer(refused_at=refused[0], refusal=refused[1]) if refused else ErrorAnswer()

    async def sign_out(self, user: str, params: dict[str, str], return_url: str) -> str | None:
        """The sign-out of a page: of the provider `params` name, or of all; then where to go.

        Returns the provider's logout URL when logout_at_provider is on (None otherwise).
        RequestError: `params` name no provider; any other NevisAuthError: signed out here,
        but the provider's logout could not be started.
        """
        provider, _api = self.selection(params)
        # Without a provider named, every sign-in of the user ends.
        named = provider if params.get("provider") else None
        tokens = await self.logout(user, named)
        if not self.config.logout_at_provider:
            return None
        return await self.provider_logout_url(tokens, return_url, provider)

    async def _sign_out(self, key: str, provider: str) -> TokenSet | None:
        """Drop the tokens under `key`, then revoke them at the provider."""
        tokens = await self.tokens.sign_out(key, SIGNED_OUT)
        if tokens is None:
            return None
        client = self.providers[provider].client
        # Signed out locally whatever the provider answers: the user asked for it.
        if tokens.refresh_token:
            try:
                revoked = await client.revoke(tokens.refresh_token, "refresh_token")
            except NevisAuthError as e:
                self.log.warning(
                    "Could not revoke the tokens of %s (%s); they stay valid at the provider "
                    "until they expire.",
                    split_key(key)[0],
                    e,
                )
                self.tokens.signed_out_reason[key] = (
                    f"You signed out here, but the provider could not revoke the tokens ({e}); "
                    "they stay valid at the provider until they expire."
                )
                return tokens
            if not revoked:
                self.tokens.signed_out_reason[key] = "You signed out here. " + NO_REVOCATION
                return tokens
        try:
            await client.revoke(tokens.access_token, "access_token")
        except NevisAuthError as e:
            # Many cannot revoke JWT access tokens; revoking the refresh token ended the grant.
            log = self.log.info if tokens.refresh_token else self.log.warning
            why = str(e).rstrip(".")
            log("The provider did not revoke an access token of %s (%s).", split_key(key)[0], why)
        return tokens

    async def check_provider(self) -> list[str]:
        """Read every provider's metadata now and log what will not work as configured."""
        found: list[str] = []
        if self.config.problems():
            return found
        for name, provider in self.providers.items():
            where = "" if name == DEFAULT_PROVIDER else f'NevisAuth.providers["{name}"]: '
            try:
                found += [where + p for p in await provider.client.problems()]
            except NevisAuthError as e:
                self.log.warning(
                    "jupyter-nevis-auth: %sthe provider cannot be checked now: %s", where, e
                )
                found.append(where + str(e))
        for problem in found:
            self.log.warning("jupyter-nevis-auth: %s", problem)
        return found

    async def provider_logout_url(
        self, tokens: TokenSet | None, return_url: str, provider: str = DEFAULT_PROVIDER
    ) -> str | None:
        """Where the browser ends its session at `provider`, then comes back to `return_url`."""
        chosen = self.providers[provider]
        metadata = await chosen.client.metadata()
        endpoint = metadata.end_session_endpoint
        if not endpoint:
            return None
        params = {"client_id": chosen.config.client_id, "post_logout_redirect_uri": return_url}
        if tokens is not None and tokens.id_token:
            params["id_token_hint"] = tokens.id_token
        if urlparse(endpoint).path.rstrip("/").endswith("/sso/logout"):
            # Nevis's own logout takes the way back as return_to.
            params["return_to"] = return_url
        return urls.with_query(endpoint, params)

    def _spec_of(self, provider: str, api: str) -> ApiSpec:
        """The API a store key names, named or ad hoc."""
        if api in self.apis:
            return self.apis[api]
        return ApiSpec.from_key(provider, api)

    async def refresh(self, key: str, tokens: TokenSet) -> TokenSet:
        """One refresh-token grant; a new ID token must be valid and for the same subject."""
        assert tokens.refresh_token  # TokenManager only refreshes sets that have one
        _user, provider, api = split_key(key)
        client = self.providers[provider].client
        spec = self._spec_of(provider, api) if api is not None else None
        # Bound to the sign-in's key (RFC 9449 5); tokens from before DPoP was turned on get
        # a key of their own now.
        dpop = tokens.dpop_key() or self.sign_ins.new_dpop_key(provider, spec)
        data = await client.refresh(
            tokens.refresh_token,
            scopes=spec.scopes if spec else (),
            resource=spec.resource if spec else None,
            timeout=self.tokens.refresh_timeout,
            dpop=dpop,
        )
        claims: dict[str, Any] = tokens.claims
        id_token = data.get("id_token")
        if isinstance(id_token, str):
            claims = await client.validate_id_token(id_token, IDTokenChecks.refresh(tokens.claims))
        return TokenSet.from_response(data, claims, previous=tokens, dpop=dpop)
