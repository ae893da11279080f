"""Which token a kernel asks for: a named API, a provider's own, or ad hoc scopes and audience."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from ..protocol import (
    ACR_VALUES_PARAM,
    API_PARAM,
    AUDIENCE_PARAM,
    DEFAULT_MIN_TTL,
    DEFAULT_PROVIDER,
    MAX_AGE_PARAM,
    PROVIDER_PARAM,
    RESOURCE_PARAM,
    SCOPE_PARAM,
)


class Selection(NamedTuple):
    """The token parameters of one request; the key of the kernel's cache, so hashable."""

    api: str | None = None
    provider: str | None = None
    #: Space-separated, sorted and without repeats: equal requests share one cache entry.
    scope: str | None = None
    resource: str | None = None
    audience: str | None = None
    #: What an API's challenge asked of the sign-in (kernel/challenges.py): the levels
    #: (space separated) and the seconds since it; with `api`, `scope` is what it added.
    acr_values: str | None = None
    max_age: str | None = None

    def params(self) -> dict[str, str]:
        """The query parameters of GET TOKEN_PATH that ask for this token."""
        names = (
            API_PARAM,
            PROVIDER_PARAM,
            SCOPE_PARAM,
            RESOURCE_PARAM,
            AUDIENCE_PARAM,
            ACR_VALUES_PARAM,
            MAX_AGE_PARAM,
        )
        return {name: value for name, value in zip(names, self, strict=True) if value is not None}

    def describe(self) -> str:
        """What the token is for: "the API sales", "scopes a b of provider x", "provider x"."""
        if self.api is not None:
            return f"the API {self.api}" + (f" (scopes {self.scope})" if self.scope else "")
        provider = f"provider {self.provider or DEFAULT_PROVIDER}"
        asked = (("scopes", self.scope), ("resource", self.resource), ("audience", self.audience))
        parts = [f"{name} {value}" for name, value in asked if value]
        return f"{' and '.join(parts)} of {provider}" if parts else provider


#: No parameters: the default provider's token.
DEFAULT = Selection()

_BY_API: dict[str, Selection] = {}


def for_api(name: str) -> Selection:
    """The selection of the API `name`, made once: the cached path does not rebuild it."""
    selection = _BY_API.get(name)
    if selection is None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"api must be the name of an API, not {name!r}.")
        selection = _BY_API.setdefault(name, Selection(api=name))
    return selection


def select(
    api: str | None = None,
    scopes: str | Iterable[str] | None = None,
    resource: str | None = None,
    audience: str | None = None,
    provider: str | None = None,
) -> Selection | None:
    """The selection the keywords ask for; None when they ask for nothing in particular."""
    if scopes is None and resource is None and audience is None:
        if provider is None:
            return None if api is None else for_api(api)
        if api is None:
            return DEFAULT if provider == DEFAULT_PROVIDER else Selection(provider=provider)
    if api is not None:
        raise ValueError(
            "An API names its own provider, scopes, resource and audience: pass api= alone, "
            "or the others without it."
        )
    for name, value in (("provider", provider), ("resource", resource), ("audience", audience)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"{name} must be a non-empty string, not {value!r}.")
    return Selection(provider=provider, scope=_scope(scopes), resource=resource, audience=audience)


def _scope(scopes: str | Iterable[str] | None) -> str | None:
    if scopes is None:
        return None
    words = scopes.split() if isinstance(scopes, str) else list(scopes)
    if not all(
        isinstance(word, str) and word and not any(c.isspace() for c in word) for word in words
    ):
        raise ValueError(f"scopes must be scope names without spaces, not {scopes!r}.")
    return " ".join(sorted(set(words))) or None


def from_params(params: Mapping[str, str]) -> Selection:
    """The selection a token request's parameters stand for (as `params()` gave them)."""
    scope = params.get(SCOPE_PARAM)
    return Selection(
        api=params.get(API_PARAM),
        provider=params.get(PROVIDER_PARAM),
        scope=_scope(scope),
        resource=params.get(RESOURCE_PARAM),
        audience=params.get(AUDIENCE_PARAM),
        acr_values=params.get(ACR_VALUES_PARAM),
        max_age=params.get(MAX_AGE_PARAM),
    )


class ChosenToken:
    """What BearerAuth and HTTPXBearerAuth share: how long a token must last, and which."""

    def __init__(
        self,
        min_ttl: float = DEFAULT_MIN_TTL,
        *,
        api: str | None = None,
        scopes: str | Iterable[str] | None = None,
        resource: str | None = None,
        audience: str | None = None,
        provider: str | None = None,
    ) -> None:
        """Send tokens with at least `min_ttl` seconds left, of the API or scopes chosen."""
        self.min_ttl = min_ttl
        #: The token the keywords chose; None: each request's URL chooses.
        self.selection = select(api, scopes, resource, audience, provider)
