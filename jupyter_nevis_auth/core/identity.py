"""Whose sign-ins a user's tokens may come from: the expected identity (issuer and subject).

Every user has one per provider: the subject of their JupyterHub login (under the hub
service), else `allowed_subjects`, else the subject of their first sign-in, kept until they
sign out. A sign-in of any kind (code flow, one-time link, device code, an API's) naming
another subject is refused before anything is stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ..claims import display_name
from ..errors import WrongIdentityError
from .apis import split_key, token_key
from .providers import Provider
from .stores import TokenStore

#: In allowed_subjects: any subject may sign in, each sign-in replacing the last.
ANY_SUBJECT = "*"


@dataclass(frozen=True)
class Identity:
    """A person at a provider: the ID token's issuer and subject (and what to call them)."""

    issuer: str
    subject: str
    name: str = field(default="", compare=False)

    @classmethod
    def of(cls, claims: dict[str, Any]) -> Identity:
        """The identity an ID token's validated claims name."""
        return cls(str(claims.get("iss") or ""), str(claims.get("sub") or ""), display_name(claims))

    def __str__(self) -> str:
        if self.name and self.name != self.subject:
            return f"{self.name} (subject {self.subject})"
        return f"subject {self.subject}"


class Identities:
    """The identity each user's sign-ins at each provider must name.

    The first sign-in's identity is remembered until the user signs out, also when the
    provider ends the grant: a later sign-in must be the same person's.
    """

    def __init__(
        self, providers: dict[str, Provider], store: TokenStore, log: logging.Logger
    ) -> None:
        self.providers = providers
        self.store = store
        self.log = log
        self._bound: dict[tuple[str, str], Identity] = {}

    def allowed_subjects(self, provider: str) -> list[str]:
        """The subjects the configuration allows at `provider` (empty: not configured)."""
        return list(self.providers[provider].config.allowed_subjects)

    async def login_identity(self, user: str, provider: str) -> Identity | None:
        """The identity of the user's login to Jupyter itself, where it has one (the hub's)."""
        return None

    async def held(self, user: str, provider: str) -> Identity | None:
        """The identity of the user's sign-in at `provider`: remembered, else the stored one."""
        bound = self._bound.get((user, provider))
        if bound is not None:
            return bound
        tokens = await self.store.get(token_key(user, provider))
        if tokens is None:
            # An API's own sign-in of that provider, kept under the API's key.
            for key in await self.store.keys():
                if split_key(key)[:2] == (user, provider):
                    tokens = await self.store.get(key)
                    if tokens is not None:
                        break
        if tokens is None or not tokens.claims.get("sub"):
            return None
        self._bound[(user, provider)] = Identity.of(tokens.claims)
        return self._bound[(user, provider)]

    async def check(self, user: str, provider: str, claims: dict[str, Any]) -> None:
        """Raise WrongIdentityError when `claims` name another person than `user`'s sign-ins."""
        new = Identity.of(claims)
        allowed = self.allowed_subjects(provider)
        if ANY_SUBJECT in allowed:
            return
        login = await self.login_identity(user, provider)
        if login is not None:
            if new != login:
                self._refuse(user, provider, new, login, "JupyterHub login")
                raise WrongIdentityError(
                    f"This sign-in is {new}'s, but {user} is signed in to JupyterHub as "
                    f"{login}, so nothing was changed; to use {new.subject}'s account, sign in "
                    "to JupyterHub with it."
                )
            return
        if allowed:
            if new.subject not in allowed:
                self._refuse(user, provider, new, None, "allowed_subjects")
                option = self.providers[provider].config.label + ".allowed_subjects"
                raise WrongIdentityError(
                    f"This sign-in is {new}'s, whom {user}'s server does not accept ({option} "
                    f"lists {', '.join(allowed)}), so nothing was changed; sign in at the "
                    "provider as one of those, or ask your administrator to add the subject."
                )
            return
        held = await self.held(user, provider)
        if held is not None and new != held:
            self._refuse(user, provider, new, held, "first sign-in")
            raise WrongIdentityError(
                f"This sign-in is {new}'s, but {user}'s server holds the sign-in of {held}, so "
                "nothing was changed; to switch to another account, sign out first, then sign "
                "in again."
            )

    def _refuse(
        self, user: str, provider: str, new: Identity, expected: Identity | None, rule: str
    ) -> None:
        self.log.warning(
            "Sign-in of %s at %s refused: it names subject %r (issuer %s), expected %s (%s).",
            user,
            provider,
            new.subject,
            new.issuer,
            repr(expected.subject) if expected else "an allowed subject",
            rule,
        )

    def bind(self, user: str, provider: str, claims: dict[str, Any]) -> None:
        """Remember the identity of the sign-in just kept for `user`."""
        self._bound[(user, provider)] = Identity.of(claims)

    def forget(self, user: str, provider: str) -> None:
        """The user signed out at `provider`: their next sign-in may be anyone's."""
        self._bound.pop((user, provider), None)
