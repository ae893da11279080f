"""Sign in once: the service starts from the tokens the hub's OAuthenticator keeps in auth_state.

With `NevisAuthHub.auth_state` on, the hub's authenticator (an OAuthenticator with
`enable_auth_state`, signing users in at the same provider with the same client) keeps each
user's access, refresh and ID token in their auth_state. The service reads it through
JupyterHub's REST API (`GET /hub/api/users/<name>`, which shows auth_state only to holders of
`admin:auth_state`) and, when it holds no sign-in of the user, takes the grant over:

- the ID token is checked (signature, issuer, audience; it may have expired), and the grant is
  refreshed at once, which proves it is alive and gives tokens of known age;
- from then on the service is the grant's only refresher. Before each refresh it reads
  auth_state again and adopts the hub's refresh token if the hub got a newer one meanwhile
  (a refresh of its own, or a new login); after an invalid_grant it reads it once more and
  retries with the hub's newer tokens before the user counts as signed out;
- the hub's `refresh_user` can ask the service for the grant's current tokens instead of
  refreshing itself (jupyter_nevis_auth.hub.refresh_hook), so auth_state stays current and a
  rotated refresh token is never used twice.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from typing import Any

from ...core.apis import split_key, token_key
from ...core.auth import AuthCore
from ...core.config import NevisAuth
from ...core.identity import Identities, Identity
from ...core.stores import TokenStore
from ...core.tokens import TokenSet
from ...errors import InvalidTokenError, OAuthError, ProviderError
from ...oidc import IDTokenChecks
from ...protocol import DEFAULT_PROVIDER
from .grants import HubGrant, HubUsers, fingerprint

WITHOUT_REFRESH = (
    "Your JupyterHub sign-in came without a refresh token, so it cannot be used here; "
    "sign in here instead."
)
WITHOUT_ID = (
    "Your JupyterHub sign-in came without an ID token, so it cannot be used here; "
    "sign in here instead."
)


class HubLoginIdentities(Identities):
    """A user's sign-ins at the hub's provider must name the person of their JupyterHub login."""

    def __init__(self, service: AuthStateCore) -> None:
        super().__init__(service.providers, service.tokens.store, service.log)
        self.service = service

    async def login_identity(self, user: str, provider: str) -> Identity | None:
        """Whom the ID token of the user's JupyterHub login names, where it can be checked."""
        if provider != DEFAULT_PROVIDER:
            return None
        return await self.service.hub_identity(user)


class AuthStateCore(AuthCore):
    """The AuthCore of a hub whose authenticator keeps the users' tokens in auth_state."""

    def __init__(self, config: NevisAuth, store: TokenStore, hub: HubUsers, **kwargs: Any) -> None:
        super().__init__(config, store, **kwargs)
        self.hub = hub
        self.sign_ins.identities = HubLoginIdentities(self)
        #: Per user: the refresh tokens the service held lately (fingerprints): the hub's copy
        #: of one of them is older than the service's, and may have been used already.
        self._held: defaultdict[str, deque[str]] = defaultdict(lambda: deque(maxlen=32))
        #: Per user: the hub's refresh token at the first look since the service started.
        self._first_seen: dict[str, str] = {}
        #: Per user: grants in auth_state not to take over (signed out, refused, unusable).
        self._declined: defaultdict[str, set[str]] = defaultdict(set)
        self._taking: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def hub_identity(self, user: str) -> Identity | None:
        """Whom the ID token of `user`'s JupyterHub login names; None without a usable one."""
        grant = await self.hub.grant(user)
        if grant is None or not grant.id_token:
            return None
        try:
            claims = await self.client.validate_id_token(grant.id_token, IDTokenChecks.auth_state())
        except (InvalidTokenError, ProviderError) as e:
            self.log.warning(
                "The JupyterHub login of %s names nobody that can be checked: %s", user, e
            )
            return None
        return Identity.of(claims)

    async def _drop_other_persons(self, user: str) -> None:
        """Drop a held sign-in that names another person than the user's JupyterHub login.

        Such a sign-in can only come from before sign-ins were bound to their person; the
        user's own JupyterHub login replaces it.
        """
        held = await self.tokens.store.get(token_key(user))
        if held is None or not held.claims.get("sub"):
            return
        login = await self.hub_identity(user)
        if login is None or login == Identity.of(held.claims):
            return
        self.log.warning(
            "The sign-in held for %s names subject %r, but their JupyterHub login names %r; "
            "it is dropped and the JupyterHub login is used instead.",
            user,
            held.claims.get("sub"),
            login.subject,
        )
        await super().logout(user, DEFAULT_PROVIDER)

    async def take_over(self, user: str) -> None:
        """When the service holds no sign-in of `user`, start from the hub's, refreshed at once."""
        key = token_key(user)
        if await self.tokens.store.get(key) is not None:
            return
        async with self._taking[user]:
            if await self.tokens.store.get(key) is not None:
                return
            grant = await self.hub.grant(user)
            if grant is None or grant.mark in self._declined[user]:
                return
            try:
                fresh = await self._take(user, grant)
            except ProviderError as e:
                # A grant the provider refused, or that failed validation, stays refused;
                # the provider being unreachable is tried again on the next request.
                if isinstance(e, InvalidTokenError) or getattr(e, "error", "") == "invalid_grant":
                    self._declined[user].add(grant.mark)
                self.log.warning("The JupyterHub sign-in of %s cannot be used: %s", user, e)
                return
            await self.tokens.save(key, fresh)
            self._hold(user, grant.refresh_token, fresh.refresh_token)
            self.log.info("Signed in %s with their JupyterHub sign-in", user)

    async def _take(self, user: str, grant: HubGrant) -> TokenSet:
        """The hub's grant, refreshed; InvalidTokenError when it cannot be used."""
        key = token_key(user)
        if not grant.refresh_token or not grant.id_token:
            reason = WITHOUT_ID if grant.refresh_token else WITHOUT_REFRESH
            self.tokens.signed_out_reason[key] = reason
            raise InvalidTokenError(reason)
        claims = await self.client.validate_id_token(grant.id_token, IDTokenChecks.auth_state())
        return await super().refresh(key, self._tokens_of(grant, claims))

    def _hold(self, user: str, *refresh_tokens: str | None) -> None:
        """Remember refresh tokens the service holds (by fingerprint)."""
        held = self._held[user]
        for mark in [fingerprint(t) for t in refresh_tokens if t]:
            if mark not in held:
                held.append(mark)

    def _hub_is_newer(self, user: str, grant: HubGrant | None, held: TokenSet) -> bool:
        """Whether the hub's refresh token is one the service never held: a newer one."""
        if grant is None or grant.refresh_token in (None, held.refresh_token):
            return False
        if not self._held[user]:
            # The first look since the service started: the hub's grant is newer when its ID
            # token was issued after the service last got tokens; otherwise no telling.
            if self._issued_after(grant, held):
                return True
            self._first_seen.setdefault(user, grant.mark)
        return grant.mark not in self._held[user] and grant.mark != self._first_seen.get(user)

    @staticmethod
    def _issued_after(grant: HubGrant, held: TokenSet) -> bool:
        """Whether the hub's ID token was issued after the service's tokens were obtained."""
        issued = grant.issued_at
        iat = held.claims.get("iat")
        since = max(held.obtained_at, iat if isinstance(iat, (int, float)) else 0.0)
        return issued is not None and since > 0 and issued > since

    @staticmethod
    def _tokens_of(grant: HubGrant, claims: dict[str, Any]) -> TokenSet:
        return TokenSet(
            access_token=grant.access_token,
            refresh_token=grant.refresh_token,
            id_token=grant.id_token,
            scope=grant.scope,
            claims=claims,
        )

    async def _adopt(self, grant: HubGrant, held: TokenSet) -> TokenSet | None:
        """The hub's tokens in place of `held`, if they are valid and of the same user."""
        if not grant.refresh_token or not grant.id_token:
            return None
        try:
            checks = IDTokenChecks.auth_state(held.claims.get("sub"))
            claims = await self.client.validate_id_token(grant.id_token, checks)
        except (InvalidTokenError, ProviderError) as e:
            self.log.warning("Not using a newer JupyterHub sign-in: %s", e)
            return None
        return self._tokens_of(grant, claims)

    async def refresh(self, key: str, tokens: TokenSet) -> TokenSet:
        """A refresh that uses the hub's refresh token when the hub has a newer one."""
        user, provider, api = split_key(key)
        if provider != DEFAULT_PROVIDER or api is not None:
            return await super().refresh(key, tokens)
        grant = await self.hub.grant(user)
        if grant is not None and self._hub_is_newer(user, grant, tokens):
            adopted = await self._adopt(grant, tokens)
            if adopted is not None:
                self.log.info("Refreshing %s with JupyterHub's newer refresh token", user)
                tokens = adopted
        self._hold(user, tokens.refresh_token)
        try:
            fresh = await super().refresh(key, tokens)
        except OAuthError as e:
            if e.error != "invalid_grant":
                raise
            # Once more: the hub may have refreshed meanwhile, or the user signed in again.
            grant = await self.hub.grant(user)
            if grant is None or not grant.refresh_token or grant.mark in self._held[user]:
                raise
            adopted = await self._adopt(grant, tokens)
            if adopted is None:
                raise
            self.log.info("Refresh of %s refused; retrying with JupyterHub's tokens", user)
            self._hold(user, adopted.refresh_token)
            fresh = await super().refresh(key, adopted)
        self._hold(user, fresh.refresh_token)
        return fresh

    async def for_hub(self, user: str) -> TokenSet:
        """The tokens the hub's auth_state should hold now (the hub's refresh_user asks).

        A newer grant in auth_state (the user signed in to the hub again, or the hub refreshed
        by itself) is continued first: answering with the service's would overwrite it.
        """
        await self._drop_other_persons(user)
        await self.take_over(user)
        key = token_key(user)

        async def continue_hubs(held: TokenSet) -> tuple[None, TokenSet | None]:
            grant = await self.hub.grant(user)
            if grant is None or not self._hub_is_newer(user, grant, held):
                return None, None
            adopted = await self._adopt(grant, held)
            if adopted is None:
                return None, None
            self._hold(user, adopted.refresh_token)
            try:
                fresh = await super(AuthStateCore, self).refresh(key, adopted)
            except ProviderError as e:
                self.log.warning(
                    "Kept the sign-in of %s; JupyterHub's newer one failed: %s", user, e
                )
                return None, None
            self.log.info("Continuing with the newer JupyterHub sign-in of %s", user)
            self._hold(user, fresh.refresh_token)
            return None, fresh

        await self.tokens.use_grant(key, continue_hubs)
        tokens = await self.tokens.fresh(key)
        self._hold(user, tokens.refresh_token)
        return tokens

    async def logout(self, user: str, provider: str | None = None) -> TokenSet | None:
        """Sign out; the hub's current sign-in is then not taken over again."""
        dropped = await super().logout(user, provider)
        if provider in (None, DEFAULT_PROVIDER):
            grant = await self.hub.grant(user)
            if grant is not None:
                self._declined[user].add(grant.mark)
        return dropped
