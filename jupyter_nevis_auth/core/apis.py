"""Named APIs: which token each needs, how their configuration is checked, where tokens live."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import RequestError
from ..protocol import DEFAULT_PROVIDER, ApiInfo
from . import step_up
from .urls import check_url

#: What an API or provider may be called: it travels in URLs and env var names.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
#: The keys of an API's configuration.
API_OPTIONS = ("url", "scopes", "resource", "audience", "provider", "token_exchange", "dpop")
#: The keys of an API's configuration about its sign-in (step_up.py).
STEP_UP_OPTIONS = ("acr_values", "max_age")
#: Separates user, provider and API in a store key; never in a user, provider or API name.
SEPARATOR = "\x1f"


@dataclass(frozen=True)
class ApiSpec:
    """The token an API needs: from which provider, for which scopes and audience."""

    name: str
    provider: str = DEFAULT_PROVIDER
    scopes: tuple[str, ...] = ()
    resource: str | None = None
    audience: str | None = None
    urls: tuple[str, ...] = ()
    token_exchange: bool = False
    #: The API's tokens are DPoP-bound (RFC 9449), whether or not its provider's are.
    dpop: bool = False
    #: What the sign-in behind its tokens must reach: one of these authentication levels
    #: (acr), at most `max_age` seconds ago (see step_up.py).
    acr_values: tuple[str, ...] = ()
    max_age: int | None = None
    #: The scopes an insufficient_scope challenge of the API added to `scopes`.
    added_scopes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """What the API's tokens are kept under: its name, or its parameters when ad hoc."""
        if self.name:
            return self.name
        return "adhoc:" + json.dumps([sorted(self.scopes), self.resource, self.audience])

    @classmethod
    def from_key(cls, provider: str, key: str) -> ApiSpec:
        """The ad-hoc API whose `key` this is (keys of named APIs are their names)."""
        try:
            scopes, resource, audience = json.loads(key.removeprefix("adhoc:"))
        except (ValueError, TypeError):
            return cls("", provider)
        return adhoc(provider, scopes, resource, audience)

    @property
    def narrowed(self) -> bool:
        """Whether the API asks for more than the provider's own token."""
        return bool(self.scopes or self.resource or self.audience)

    def info(self) -> ApiInfo:
        """What kernels learn of the API."""
        return ApiInfo(
            name=self.name,
            urls=list(self.urls),
            provider=self.provider,
            scopes=list(self.scopes),
            resource=self.resource,
            audience=self.audience,
        )


def adhoc(
    provider: str, scopes: Iterable[str], resource: str | None, audience: str | None
) -> ApiSpec:
    """An unnamed API, for get_access_token(scopes=..., resource=...)."""
    return ApiSpec("", provider, tuple(sorted(set(scopes))), resource or None, audience or None)


def token_key(user: str, provider: str = DEFAULT_PROVIDER, api: str | None = None) -> str:
    """The store key of a user's tokens: the user alone for the default provider's sign-in."""
    if provider == DEFAULT_PROVIDER and api is None:
        return user
    return SEPARATOR.join([user, provider] + ([api] if api is not None else []))


def split_key(key: str) -> tuple[str, str, str | None]:
    """User, provider and API (None for a provider's own tokens) of a store key."""
    parts = key.split(SEPARATOR, 2)
    if len(parts) == 1:
        return key, DEFAULT_PROVIDER, None
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def resource_problem(resource: Any, option: str) -> str | None:
    """Why `resource` is not an RFC 8707 resource indicator, or None."""
    if not isinstance(resource, str):
        return f"{option} must be a string."
    parts = urlsplit(resource)
    if not parts.scheme or not (parts.netloc or parts.path) or parts.fragment:
        return f"{option} must be an absolute URI without a fragment (RFC 8707), not {resource!r}."
    return None


def _scopes(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list) and all(isinstance(v, str) and v and " " not in v for v in value):
        return tuple(value)
    return None


def _urls(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def normalized_prefix(url: str) -> str:
    """A URL prefix as kernels compare it: scheme and host in lower case, default port dropped."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme.lower()}://{host}{port}{parts.path.rstrip('/') or ''}"


def parse_api(name: str, entry: Any, providers: Iterable[str]) -> tuple[ApiSpec | None, list[str]]:
    """One API of NevisAuth.apis, or None and sentences saying what is wrong with it."""
    option = f'NevisAuth.apis["{name}"]'
    if not NAME.fullmatch(name):
        return None, [f"{option}: an API name is letters, digits, - and _ (at most 64)."]
    if not isinstance(entry, dict):
        return None, [f"{option} must be an object with url, scopes, resource..."]
    problems = [
        f"{option}.{k} is not an option (use {', '.join(API_OPTIONS + STEP_UP_OPTIONS)})."
        for k in entry
        if k not in API_OPTIONS + STEP_UP_OPTIONS
    ]
    problems += step_up.option_problems(entry, option)
    urls = _urls(entry.get("url"))
    if urls is None:
        problems.append(f"{option}.url must be a URL or a list of URLs.")
    else:
        for url in urls:
            problem = check_url(url, f"{option}.url")
            if problem:
                problems.append(problem)
    scopes = _scopes(entry.get("scopes", []))
    if scopes is None:
        problems.append(f"{option}.scopes must be a list of scopes (or a space-separated string).")
    for field in ("resource", "audience"):
        if entry.get(field) is None:
            continue
        check = resource_problem if field == "resource" else _text_problem
        problem = check(entry[field], f"{option}.{field}")
        if problem:
            problems.append(problem)
    provider = entry.get("provider", DEFAULT_PROVIDER)
    if provider not in providers:
        known = ", ".join(sorted(providers))
        problems.append(f"{option}.provider {provider!r} is not a configured provider ({known}).")
    for flag in ("token_exchange", "dpop"):
        if not isinstance(entry.get(flag, False), bool):
            problems.append(f"{option}.{flag} must be true or false.")
    if problems:
        return None, problems
    spec = ApiSpec(
        name,
        provider,
        scopes or (),
        entry.get("resource"),
        entry.get("audience"),
        urls or (),
        entry.get("token_exchange", False),
        entry.get("dpop", False),
    )
    return step_up.configured(spec, entry), []


def _text_problem(value: Any, option: str) -> str | None:
    return None if isinstance(value, str) and value else f"{option} must be a non-empty string."


def parse_apis(raw: Any, providers: Iterable[str]) -> tuple[dict[str, ApiSpec], list[str]]:
    """The usable APIs of NevisAuth.apis, and a sentence for each one left out."""
    if not isinstance(raw, dict):
        return {}, ["NevisAuth.apis must be an object of named APIs; no API is configured."]
    providers = set(providers)
    specs: dict[str, ApiSpec] = {}
    problems: list[str] = []
    claimed: dict[str, str] = {}
    for name, entry in raw.items():
        spec, found = parse_api(str(name), entry, providers)
        if spec is not None:
            taken = {claimed[p] for p in map(normalized_prefix, spec.urls) if p in claimed}
            if taken:
                others = ", ".join(sorted(taken))
                found = [
                    f'NevisAuth.apis["{name}"].url is also the URL of {others}; '
                    "give each API its own URL prefix."
                ]
        if found:
            problems += [f"{p[:-1]}; the API is left out." for p in found]
            continue
        assert spec is not None
        specs[spec.name] = spec
        claimed.update(dict.fromkeys(map(normalized_prefix, spec.urls), spec.name))
    return specs, problems


def check_api_alone(name: str, params: dict[str, str]) -> None:
    """RequestError when a request names the API `name` together with what the API names
    itself (its provider, resource, audience): the request would mean two things. Scopes
    may come with it: those an API's challenge adds to its own (step-up)."""
    given = [k for k in ("provider", "resource", "audience") if params.get(k)]
    if given:
        raise RequestError(
            f"The API {name} names its own provider, resource and audience: ask for "
            f"api={name} without {', '.join(given)}."
        )
