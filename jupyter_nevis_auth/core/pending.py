"""Sign-ins in progress: state, nonce and PKCE verifier, single use and short-lived."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..protocol import DEFAULT_PROVIDER
from .apis import ApiSpec

#: Sign-ins kept at once for one owner (a hub service keeps every hub user's); the oldest is
#: dropped first, so a flood grows no memory, and one user's cannot crowd out another's.
MAX_PENDING = 64

#: Ended sign-ins remembered at once, to say why their callback is refused; the oldest is
#: forgotten first (its callback then gets the "expired" sentence).
MAX_ENDED = 256

#: Ends a named JupyterHub server's name at the start of its states; never in the random part.
STATE_SEPARATOR = "."


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE verifier (RFC 7636 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_state(server_name: str = "") -> str:
    """Fresh unguessable state; a named JupyterHub server puts its name in front of it.

    JupyterHub's user-redirect knows the user, not the server: the name lets the hub's
    `user_redirect_hook` send the callback to the server holding this sign-in.
    """
    random_part = secrets.token_urlsafe(32)
    return f"{server_name}{STATE_SEPARATOR}{random_part}" if server_name else random_part


def state_server_name(state: str) -> str:
    """The name of the JupyterHub server that made `state`; empty for the default server."""
    return state.rpartition(STATE_SEPARATOR)[0]


def cookie_name(state: str) -> str:
    """The name of the cookie binding one sign-in to the browser that started it."""
    return "nevis_auth_state_" + hashlib.sha256(state.encode()).hexdigest()[:16]


@dataclass(frozen=True, repr=False)
class PendingLogin:
    """One sign-in between the redirect to the provider and the callback."""

    state: str
    nonce: str
    code_verifier: str
    browser_key: str
    redirect_uri: str
    next_url: str
    created: float
    #: What the sign-in is for: a provider's own tokens, or (with `api`) an API's.
    provider: str = DEFAULT_PROVIDER
    api: ApiSpec | None = None
    #: Started from a one-time sign-in link: its callback needs no Jupyter session.
    via_link: bool = False
    #: Who started it, where several users share the pending sign-ins (the hub service).
    owner: str = ""
    #: The fingerprint of the one-time link it was started from: it ends with the cell's wait.
    link: str = ""

    def __repr__(self) -> str:
        return f"PendingLogin(next_url={self.next_url!r}, created={self.created!r})"


class PendingLogins:
    """Sign-ins in progress, kept server-side and found by their state."""

    def __init__(self, ttl: float, server_name: str = "") -> None:
        self.ttl = ttl
        self.server_name = server_name
        self._pending: OrderedDict[str, PendingLogin] = OrderedDict()
        #: When each sign-in that a cell's wait took with it started, by state: its callback
        #: is answered with why, not as an unknown state.
        self._ended: OrderedDict[str, float] = OrderedDict()
        #: Told of each sign-in started or changed, where others keep them too (replicas).
        self.changed: Callable[[PendingLogin], None] | None = None
        #: Told of each link whose cell stopped waiting (end_link), with its owner: its
        #: sign-in may be under way at another process (a replica).
        self.link_ended: Callable[[str, str], None] | None = None

    def start(
        self,
        redirect_uri: str,
        next_url: str,
        provider: str = DEFAULT_PROVIDER,
        api: ApiSpec | None = None,
        *,
        via_link: bool = False,
        owner: str = "",
    ) -> PendingLogin:
        """A new sign-in with fresh random state, nonce, verifier and browser key.

        When `owner` has MAX_PENDING sign-ins under way already, their oldest is dropped.
        """
        self._prune()
        theirs = [state for state, login in self._pending.items() if login.owner == owner]
        for state in theirs[: max(0, len(theirs) - MAX_PENDING + 1)]:
            del self._pending[state]
        login = PendingLogin(
            state=new_state(self.server_name),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(64),
            browser_key=secrets.token_urlsafe(32),
            redirect_uri=redirect_uri,
            next_url=next_url,
            created=time.monotonic(),
            provider=provider,
            api=api,
            via_link=via_link,
            owner=owner,
        )
        self._pending[login.state] = login
        if self.changed is not None:
            self.changed(login)
        return login

    def live(self) -> list[PendingLogin]:
        """Every sign-in under way, oldest first."""
        self._prune()
        return list(self._pending.values())

    def restore(self, login: PendingLogin) -> None:
        """Take back a sign-in that was under way before a restart (if it has not expired)."""
        self._pending[login.state] = login
        self._prune()

    def peek(self, state: str) -> PendingLogin | None:
        """The live sign-in for `state`, left in place."""
        self._prune()
        return self._pending.get(state)

    def pop(self, state: str) -> PendingLogin | None:
        """The live sign-in for `state`, removed so it can be used once only."""
        self._prune()
        return self._pending.pop(state, None)

    def tie_to_link(self, state: str, link: str) -> None:
        """Mark the sign-in `state` as started from the link whose token's fingerprint is `link`."""
        login = self.peek(state)
        if login is not None:
            self._pending[state] = replace(login, link=link)
            if self.changed is not None:
                self.changed(self._pending[state])

    def end_link(self, link: str, owner: str) -> int:
        """Drop `owner`'s sign-ins from the link `link`: the cell that asked stopped waiting.

        Returns how many there were.
        """
        self._prune()
        ended = [s for s, p in self._pending.items() if (p.link, p.owner) == (link, owner)]
        ended = ended if link else []
        if link and self.link_ended is not None:
            self.link_ended(link, owner)
        for state in ended:
            self._ended[state] = self._pending.pop(state).created
            while len(self._ended) > MAX_ENDED:
                self._ended.popitem(last=False)
        return len(ended)

    def ended(self, state: str | None) -> bool:
        """Whether `state` is a sign-in dropped by end_link (and not older than `ttl`)."""
        self._prune()
        return bool(state) and state in self._ended

    def __len__(self) -> int:
        self._prune()
        return len(self._pending)

    def _prune(self) -> None:
        limit = time.monotonic() - self.ttl
        for state in [s for s, p in self._pending.items() if p.created < limit]:
            del self._pending[state]
        for state in [s for s, created in self._ended.items() if created < limit]:
            del self._ended[state]
