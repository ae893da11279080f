"""An API's challenge answered in the cell: RFC 9470 step-up and RFC 6750 insufficient_scope.

An API that refuses a token with `WWW-Authenticate: Bearer error="insufficient_user_authentication",
acr_values="...", max_age=N` (401), or `error="insufficient_scope", scope="..."` (403), names
the sign-in it needs (the DPoP scheme's challenges alike): the token of that sign-in is asked
for, a cell a person runs waits for it, and the request is sent once more.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from ..errors import LoginRequiredError
from .api import token_for
from .routing import without_query
from .selection import Selection
from .token import Token

STEP_UP = "insufficient_user_authentication"
INSUFFICIENT_SCOPE = "insufficient_scope"
#: The schemes whose challenges name what a token lacks (RFC 6750, RFC 9449).
TOKEN_SCHEMES = ("bearer", "dpop")

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_SPACE = re.compile(r"[ \t]*")
_SEPARATORS = re.compile(r"[ \t,]*")
_ESCAPE = re.compile(r"\\(.)")


class Challenge(NamedTuple):
    """One challenge of a WWW-Authenticate header: its scheme (lower case) and parameters."""

    scheme: str
    #: Parameter names in lower case; a repeated one keeps its first value (RFC 9110 11.2).
    params: dict[str, str]


def parse(values: str | Iterable[str]) -> list[Challenge]:
    """Every challenge of WWW-Authenticate header values (RFC 9110 11.6.1), several per value.

    What cannot be read is skipped: a malformed challenge must not hide the others.
    """
    challenges: list[Challenge] = []
    for value in [values] if isinstance(values, str) else values:
        challenges += _parse_one(value)
    return challenges


def _parse_one(text: str) -> list[Challenge]:
    found: list[Challenge] = []
    current: Challenge | None = None
    pos = 0
    while True:
        pos = _SEPARATORS.match(text, pos).end()  # type: ignore[union-attr]
        token = _TOKEN.match(text, pos)
        if token is None:
            if pos >= len(text):
                return found
            # Not a token: skip to the next comma, and what follows is read afresh.
            comma = text.find(",", pos)
            pos, current = (len(text), current) if comma < 0 else (comma + 1, current)
            continue
        after = _SPACE.match(text, token.end()).end()  # type: ignore[union-attr]
        if text.startswith("=", after) and current is not None:
            value_at = _SPACE.match(text, after + 1).end()  # type: ignore[union-attr]
            quoted = _QUOTED.match(text, value_at)
            plain = _TOKEN.match(text, value_at)
            if quoted is not None:
                value, pos = _ESCAPE.sub(r"\1", quoted.group(1)), quoted.end()
            elif plain is not None:
                value, pos = plain.group(), plain.end()
            else:
                value, pos = "", value_at
            current.params.setdefault(token.group().lower(), value)
            continue
        # A scheme, then perhaps a token68 (which nothing here reads) or its first parameter.
        current = Challenge(token.group().lower(), {})
        found.append(current)
        pos = after
        token68 = _TOKEN68.match(text, pos)
        if token68 is not None and re.match(r"[ \t]*(,|$)", text[token68.end() :]):
            pos = token68.end()


class Demand(NamedTuple):
    """What an API's challenge asks of the token: a sign-in's level and age, or scopes."""

    acr_values: str | None = None
    max_age: str | None = None
    scope: str | None = None

    def describe(self) -> str:
        """What was asked, for a person: "a sign-in at the level x", "the scope y"..."""
        parts = []
        if self.acr_values:
            parts.append(f"a sign-in at the level {' or '.join(self.acr_values.split())}")
        if self.max_age is not None:
            parts.append(f"a sign-in within the last {self.max_age} s")
        if self.scope:
            parts.append(f"the scope {self.scope}")
        return " and ".join(parts)


def demand_of(status: int, values: str | Iterable[str]) -> Demand | None:
    """What a 401 step-up or 403 insufficient_scope answer asks for; None for any other."""
    for challenge in parse(values):
        if challenge.scheme not in TOKEN_SCHEMES:
            continue
        error, params = challenge.params.get("error"), challenge.params
        if status == 401 and error == STEP_UP:
            acr_values = " ".join(params.get("acr_values", "").split()) or None
            max_age = params.get("max_age", "").strip()
            demand = Demand(acr_values, max_age if max_age.isdigit() else None)
            if demand != Demand():
                return demand
        if status == 403 and error == INSUFFICIENT_SCOPE:
            scope = " ".join(params.get("scope", "").split())
            if scope:
                return Demand(scope=scope)
    return None


def stepped_up(selection: Selection, demand: Demand) -> Selection:
    """The token `selection` chose, from a sign-in that meets `demand`.

    A named API's selection names the added scopes alone (the server adds its own); an ad hoc
    or default one asks for its scopes and the added ones.
    """
    scope = selection.scope
    if demand.scope:
        asked = (
            demand.scope.split()
            if selection.api
            else [*(scope or "").split(), *demand.scope.split()]
        )
        scope = " ".join(sorted(set(asked)))
    return selection._replace(
        scope=scope,
        acr_values=demand.acr_values or selection.acr_values,
        max_age=demand.max_age if demand.max_age is not None else selection.max_age,
    )


def token_for_demand(selection: Selection, demand: Demand, min_ttl: float, url: str) -> Token:
    """The token of a sign-in meeting what the API at `url` asked for; a person may sign in.

    LoginRequiredError names what the API asked for when nobody can sign in (or nobody did).
    """
    stepped = stepped_up(selection, demand)
    try:
        return token_for(stepped, min_ttl)
    except LoginRequiredError as e:
        raise LoginRequiredError(
            f"The API at {without_query(url)} asked for {demand.describe()}. {e}",
            e.login_url,
            api=e.api,
            provider=e.provider,
            scopes=e.scopes,
            request=e.request or stepped.params(),
        ) from e
