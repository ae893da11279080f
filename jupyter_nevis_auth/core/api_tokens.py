"""Tokens for APIs: a token already held, a narrowed refresh, a token exchange, or a sign-in."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections import defaultdict
from typing import Any

import jwt

from ..dpop import DPoPKey
from ..errors import LoginRequiredError, OAuthError
from . import step_up
from .apis import ApiSpec, token_key
from .providers import Provider
from .refresh import TokenManager
from .tokens import TokenSet

NARROWED_REFRESH = "narrowed refresh"
TOKEN_EXCHANGE = "token exchange"  # noqa: S105 (a way, not a secret)
#: Errors meaning "this provider will not narrow (or exchange) for this API": try the next way.
NOT_FOR_THIS_API = {
    "invalid_scope",
    "invalid_target",
    "invalid_request",
    "unauthorized_client",
    "unsupported_grant_type",
}


def audiences(access_token: str) -> set[str]:
    """The `aud` of a JWT access token, read only to choose a token (the API checks it)."""
    try:
        claims = jwt.decode(access_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return set()
    aud = claims.get("aud") if isinstance(claims, dict) else None
    values = aud if isinstance(aud, list) else [aud]
    return {v for v in values if isinstance(v, str)}


def covers(tokens: TokenSet, spec: ApiSpec) -> bool:
    """Whether `tokens` already carry what the API asks for."""
    if not set(spec.scopes) <= set(tokens.scope):
        return False
    wanted = {v for v in (spec.resource, spec.audience) if v}
    return not wanted or wanted <= audiences(tokens.access_token)


class ApiTokens:
    """Hands out each API's token: one derivation at a time per user, provider and API."""

    def __init__(
        self, tokens: TokenManager, providers: dict[str, Provider], log: logging.Logger
    ) -> None:
        self.tokens = tokens
        self.providers = providers
        self.log = log
        self._inflight: dict[str, asyncio.Task[TokenSet]] = {}
        #: Ways a provider refused for an API (by API key and scopes: a challenge may add
        #: scopes the grant lacks): not tried again while running.
        self.refused: defaultdict[tuple[str, tuple[str, ...]], set[str]] = defaultdict(set)

    async def token(
        self, user: str, spec: ApiSpec, min_ttl: float | None = None, *, force: bool = False
    ) -> TokenSet:
        """The API's token with `min_ttl` seconds left; LoginRequiredError when none can be had,
        or when its sign-in does not reach what the API asks for (step_up.py)."""
        tokens = await self._token(user, spec, min_ttl, force=force)
        problem = step_up.unmet(spec, tokens)
        if problem:
            raise LoginRequiredError(problem)
        return tokens

    async def _token(
        self, user: str, spec: ApiSpec, min_ttl: float | None, *, force: bool
    ) -> TokenSet:
        key = token_key(user, spec.provider, spec.key)
        held = await self.tokens.store.get(key)
        if held is not None and held.refresh_token:
            # The API's own grant, from a sign-in for it: refreshed like any sign-in.
            return await self.tokens.fresh(key, min_ttl, force=force)
        # An API that keeps answering 401 must not turn every request into a refresh.
        force = force and self.tokens.history.may_force(key)
        leeway = self.tokens.effective_leeway(held, min_ttl) if held else 0.0
        if held is not None and not force and not held.is_expiring(leeway):
            return held
        main = await self.tokens.fresh(token_key(user, spec.provider), min_ttl)
        if (not spec.narrowed or (covers(main, spec) and not force)) and (
            main.dpop_jwk or not spec.dpop
        ):
            return main
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._derive(user, spec, key))
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._done, key))
        # Shielded: a caller that gives up must not cancel what others wait for.
        return await asyncio.shield(task)

    def _done(self, key: str, task: asyncio.Task[TokenSet]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()

    async def _derive(self, user: str, spec: ApiSpec, key: str) -> TokenSet:
        provider = self.providers[spec.provider]
        main_key = token_key(user, spec.provider)
        refused = self.refused[spec.key, spec.scopes]
        dpop = await self._dpop_key(spec, key, main_key)
        if NARROWED_REFRESH not in refused:
            try:
                data = await self.tokens.use_grant(
                    main_key, functools.partial(self._narrow, spec, dpop)
                )
            except OAuthError as e:
                self._refuse(spec, NARROWED_REFRESH, e)
            else:
                if data is not None:
                    return await self._keep(key, spec, data, NARROWED_REFRESH, main_key, dpop)
        metadata = await provider.client.metadata()
        if spec.token_exchange and TOKEN_EXCHANGE not in refused:
            if provider.client.offers_token_exchange(metadata):
                main = await self.tokens.fresh(main_key)
                try:
                    data = await provider.client.exchange(
                        main.access_token,
                        scopes=spec.scopes,
                        resource=spec.resource,
                        audience=spec.audience,
                        dpop=dpop,
                    )
                except OAuthError as e:
                    self._refuse(spec, TOKEN_EXCHANGE, e)
                else:
                    return await self._keep(key, spec, data, TOKEN_EXCHANGE, main_key, dpop)
        what = spec.name or "these scopes"
        raise LoginRequiredError(
            f"The provider gives no token for {what} ({' '.join(spec.scopes) or 'no scope'}) "
            "from your sign-in; sign in for it once."
        )

    async def _dpop_key(self, spec: ApiSpec, key: str, main_key: str) -> DPoPKey | None:
        """The key the API's token is bound to: its own, the sign-in's, or a new one."""
        if not (spec.dpop or self.providers[spec.provider].config.dpop):
            return None
        for held in (await self.tokens.store.get(key), await self.tokens.store.get(main_key)):
            found = held.dpop_key() if held is not None else None
            if found is not None:
                return found
        return DPoPKey.generate()

    async def _narrow(
        self, spec: ApiSpec, dpop: DPoPKey | None, main: TokenSet
    ) -> tuple[dict[str, Any] | None, TokenSet | None]:
        if not main.refresh_token:
            return None, None
        client = self.providers[spec.provider].client
        data = await client.refresh(
            main.refresh_token,
            scopes=spec.scopes,
            resource=spec.resource,
            timeout=self.tokens.refresh_timeout,
            dpop=dpop,
        )
        rotated = data.get("refresh_token")
        # One grant, one refresh token: a rotated one replaces the sign-in's.
        kept = dataclasses.replace(main, refresh_token=rotated) if rotated else None
        return data, kept

    def _refuse(self, spec: ApiSpec, way: str, error: OAuthError) -> None:
        if error.error not in NOT_FOR_THIS_API:
            raise error
        what = f"the API {spec.name}" if spec.name else f"the scopes {' '.join(spec.scopes)}"
        self.log.info("The provider refused a %s for %s (%s).", way, what, error.error)
        self.refused[spec.key, spec.scopes].add(way)

    async def _keep(
        self,
        key: str,
        spec: ApiSpec,
        data: dict[str, Any],
        way: str,
        main_key: str,
        dpop: DPoPKey | None,
    ) -> TokenSet:
        main = await self.tokens.store.get(main_key)
        claims = main.claims if main else {}
        derived = TokenSet.from_response(data, claims, requested_scope=spec.scopes, dpop=dpop)
        # Derived tokens are renewed from the sign-in's grant, never on their own.
        derived = dataclasses.replace(derived, refresh_token=None, id_token=None, obtained_by=way)
        await self.tokens.store.set(key, derived)
        return derived
