"""Step-up: what the sign-in behind an API's token must reach, asked for up front in
NevisAuth.apis or by the API's challenge: an authentication level and a recent sign-in
(RFC 9470 acr_values, max_age), or more scopes (RFC 6750 insufficient_scope)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import RequestError
from ..protocol import ACR_VALUES_PARAM, MAX_AGE_PARAM, SCOPE_PARAM

if TYPE_CHECKING:  # apis.py reads the options with this module
    from .apis import ApiSpec
    from .tokens import TokenSet


def acr_values_of(value: Any) -> tuple[str, ...] | None:
    """Authentication levels from a space-separated string or a list; None when malformed."""
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list) and all(isinstance(v, str) and v and " " not in v for v in value):
        return tuple(value)
    return None


def max_age_of(value: Any) -> int | None:
    """Seconds from a non-negative whole number (or its digits); None when malformed."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def option_problems(entry: Mapping[str, Any], option: str) -> list[str]:
    """Sentences saying what is wrong with an API's acr_values and max_age options."""
    problems = []
    if acr_values_of(entry.get("acr_values", [])) is None:
        problems.append(
            f"{option}.acr_values must be a list of authentication levels (or a "
            "space-separated string)."
        )
    if entry.get("max_age") is not None and max_age_of(entry["max_age"]) is None:
        problems.append(f"{option}.max_age must be a whole number of seconds.")
    return problems


def demanded(spec: ApiSpec | None, provider: str, params: Mapping[str, str]) -> ApiSpec | None:
    """`spec` (None: the provider's own token) with what a request's acr_values, max_age and,
    for a named API, scope parameters add; RequestError when they are malformed."""
    acr_values = acr_values_of(params.get(ACR_VALUES_PARAM) or "") or ()
    raw_age = params.get(MAX_AGE_PARAM) or ""
    max_age = max_age_of(raw_age) if raw_age else None
    if raw_age and max_age is None:
        raise RequestError(f"{MAX_AGE_PARAM} must be a whole number of seconds.")
    added = tuple((params.get(SCOPE_PARAM) or "").split()) if spec and spec.name else ()
    if not (acr_values or max_age is not None or added):
        return spec
    if spec is None:
        from .apis import adhoc

        spec = adhoc(provider, (), None, None)
    added = tuple(s for s in added if s not in spec.scopes)
    return dataclasses.replace(
        spec,
        scopes=spec.scopes + added,
        added_scopes=added,
        acr_values=acr_values or spec.acr_values,
        max_age=max_age if max_age is not None else spec.max_age,
    )


def authorize_params(spec: ApiSpec | None) -> dict[str, str]:
    """The authorization (or device) request's parameters asking for what `spec` needs."""
    if spec is None:
        return {}
    params = {ACR_VALUES_PARAM: " ".join(spec.acr_values)} if spec.acr_values else {}
    if spec.max_age is not None:
        params[MAX_AGE_PARAM] = str(spec.max_age)
    return params


def sign_in_params(spec: ApiSpec) -> dict[str, str]:
    """The login page's parameters for a sign-in that reaches what `spec` was asked for."""
    params = authorize_params(spec)
    if spec.name and spec.added_scopes:
        params[SCOPE_PARAM] = " ".join(spec.added_scopes)
    return params


def assurance_problem(
    claims: Mapping[str, Any],
    acr_values: tuple[str, ...],
    max_age: int | None,
    now: float | None = None,
) -> str | None:
    """Why `claims` show no sign-in at one of `acr_values` within `max_age` seconds, as the
    end of a sentence; None when they do."""
    acr = claims.get("acr")
    if acr_values and acr not in acr_values:
        # acr is optional in an ID token (OIDC Core 2): providers often name it only for a
        # sign-in that asked for a level, so its absence says nothing about the level reached.
        reached = (
            f"the provider signed you in at the level {acr}"
            if isinstance(acr, str) and acr
            else "your sign-in did not ask for one, so the provider did not say which it reached"
        )
        return (
            f"a sign-in at the level {' or '.join(acr_values)} was asked for, and {reached}; "
            "sign in again and complete the stronger sign-in the provider offers (a second "
            "factor, say)."
        )
    if max_age is None:
        return None
    auth_time = claims.get("auth_time")
    if not isinstance(auth_time, (int, float)) or isinstance(auth_time, bool):
        return (
            f"a sign-in within the last {max_age} s was asked for, and the provider did not say "
            "when you signed in (no auth_time); sign in again."
        )
    age = (time.time() if now is None else now) - auth_time
    if age > max_age:
        return (
            f"a sign-in within the last {max_age} s was asked for, and yours was {age:.0f} s "
            "ago; sign in again."
        )
    return None


def unmet(spec: ApiSpec, tokens: TokenSet) -> str | None:
    """Why `tokens` do not serve what `spec` asks of the sign-in; None when they do.

    max_age is kept to the second: a token the API would refuse again is no answer to its
    challenge.
    """
    what = f"The API {spec.name}" if spec.name else "The API"
    missing = [s for s in spec.added_scopes if s not in tokens.scope]
    if missing:
        return (
            f"{what} asks for the scope {' '.join(missing)}, which your token lacks; sign in "
            "for it."
        )
    problem = assurance_problem(tokens.claims, spec.acr_values, spec.max_age)
    return f"{what} needs a new sign-in: {problem}" if problem else None


def configured(spec: ApiSpec, entry: Mapping[str, Any]) -> ApiSpec:
    """`spec` with the acr_values and max_age of its (checked) configuration `entry`."""
    acr_values = acr_values_of(entry.get("acr_values", [])) or ()
    max_age = max_age_of(entry["max_age"]) if entry.get("max_age") is not None else None
    return dataclasses.replace(spec, acr_values=acr_values, max_age=max_age)
