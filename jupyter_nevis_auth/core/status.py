"""The sign-in status that pages, widgets and frontends see: who, until when; never a token."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..claims import display_name, public_claims
from ..protocol import DEFAULT_PROVIDER
from . import step_up, urls
from .api_tokens import ApiTokens, covers
from .apis import ApiSpec, token_key
from .refresh import INVALID_REFRESH, SIGNED_OUT_AT_PROVIDER, TokenManager
from .signin import NO_REFRESH_TOKEN
from .tokens import TokenSet


def sign_in_url(
    pages: urls.PagePaths, provider: str = DEFAULT_PROVIDER, api: ApiSpec | None = None
) -> str:
    """The app's login page (`pages`), for a provider's own tokens or for an API's."""
    if api is not None and api.name:
        asked = step_up.sign_in_params(api)
        return pages.url(urls.LOGIN, {"api": api.name, **asked})
    params: dict[str, str] = {} if provider == DEFAULT_PROVIDER else {"provider": provider}
    if api is not None:
        params.update(
            {
                "scope": " ".join(api.scopes),
                "resource": api.resource or "",
                "audience": api.audience or "",
            }
        )
        params = {k: v for k, v in params.items() if v} | step_up.sign_in_params(api)
    return pages.url(urls.LOGIN, params)


def provider_status(
    tokens: TokenManager, key: str, held: TokenSet | None, login_url: str
) -> dict[str, Any]:
    """One provider's sign-in as the status shows it."""
    reason = None if held else tokens.signed_out_reason.get(key)
    status: dict[str, Any] = {
        "logged_in": held is not None,
        "signed_out_reason": reason,
        "signed_out_by_provider": reason in (SIGNED_OUT_AT_PROVIDER, INVALID_REFRESH),
        "last_refresh_error": tokens.last_refresh_error.get(key),
        "login_url": login_url,
    }
    if held is not None:
        status.update(
            claims=public_claims(held.claims),
            display_name=display_name(held.claims),
            scopes=list(held.scope),
            expires_at=held.expires_at,
            expires_in=held.expires_in(),
            refresh_possible=bool(held.refresh_token),
            warnings=[] if held.refresh_token else [NO_REFRESH_TOKEN],
        )
    return status


async def api_status(
    api_tokens: ApiTokens, user: str, spec: ApiSpec, pages: urls.PagePaths
) -> dict[str, Any]:
    """One API's token as the status shows it."""
    store = api_tokens.tokens.store
    key = token_key(user, spec.provider, spec.key)
    held = await store.get(key)
    way = (held.obtained_by if held else "") or "sign-in"
    main = await store.get(token_key(user, spec.provider))
    if held is None and main is not None and (not spec.narrowed or covers(main, spec)):
        held, way = main, "provider token"
    return {
        "provider": spec.provider,
        "urls": list(spec.urls),
        "scopes": list(spec.scopes),
        "resource": spec.resource,
        "audience": spec.audience,
        "ready": held is not None,
        "expires_at": held.expires_at if held else None,
        "expires_in": held.expires_in() if held else None,
        "obtained_by": way if held else None,
        "login_url": sign_in_url(pages, spec.provider, spec if main is not None else None),
    }


async def build_status(
    api_tokens: ApiTokens,
    user: str,
    providers: list[str],
    apis: list[ApiSpec],
    pages: urls.PagePaths,
) -> dict[str, Any]:
    """The whole status: the default provider's fields, then every provider and API; its
    sign-in links point at the app's `pages`."""
    tokens = api_tokens.tokens
    by_provider = {}
    for name in providers:
        key = token_key(user, name)
        held = await tokens.store.get(key)
        by_provider[name] = provider_status(tokens, key, held, sign_in_url(pages, name))
    status = dict(by_provider[DEFAULT_PROVIDER])
    status["providers"] = by_provider
    status["apis"] = {spec.name: await api_status(api_tokens, user, spec, pages) for spec in apis}
    return status


def revision(status: dict[str, Any]) -> str:
    """A marker that changes when the status does, apart from the seconds ticking away.

    Frontends send it back (If-None-Match) and hear 304 while nothing changed.
    """

    def steady(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: steady(v) for k, v in value.items() if k != "expires_in"}
        return value

    text = json.dumps(steady(status), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
