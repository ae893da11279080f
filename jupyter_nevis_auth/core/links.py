"""One-time sign-in links: any browser, Jupyter session or not, signs in for the server's owner.

A link carries a random token. The server (or, in hub mode, the hub's service) keeps only its
SHA-256, with the owner, what the sign-in is for and when it expires; the token is usable
once and never logged.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import NevisAuthError, WrongIdentityError
from ..protocol import LINK_TOKEN_PARAM, MAX_WAIT
from . import urls
from .apis import ApiSpec
from .tokens import fingerprint

#: The page a link opens, and the one its sign-in ends on; both need no Jupyter session.
LINK_PAGE_PATH = "nevis/link"
LINK_DONE_PATH = "nevis/link/done"
#: Links kept at once; the oldest is dropped first so a flood cannot grow memory.
MAX_LINKS = 64

NO_PUBLIC_URL = (
    "This server does not know the address browsers reach it at, so the link works only in "
    "a browser on the server's machine; set NevisAuth.public_url ($NEVIS_AUTH_PUBLIC_URL)."
)
NEW_LINK = "Run the cell again in your notebook for a new sign-in link."
EXPIRED = "This sign-in link has expired, was already used or is not a real one. " + NEW_LINK
WAIT_ENDED = (
    "The notebook cell that asked for this sign-in stopped waiting (it was interrupted, timed "
    "out or got its sign-in elsewhere), so this sign-in changed nothing; run the cell again "
    "for a new sign-in link."
)
#: Seconds after a cell's wait request ended during which it still counts as waiting: it
#: ends when it sees the sign-in, and the page that names whom may come just after.
WAIT_GRACE = 5.0


def failed_sentence(error: NevisAuthError) -> str:
    """What a failed link's sign-in says: why, and a new link unless it was the wrong person."""
    return str(error) if isinstance(error, WrongIdentityError) else f"{error} {NEW_LINK}"


@dataclass(frozen=True, repr=False)
class SignInLink:
    """What one link signs in for, and until when (time.monotonic())."""

    owner: str
    provider: str
    api: ApiSpec | None
    expires: float

    def __repr__(self) -> str:
        return f"SignInLink(owner={self.owner!r}, provider={self.provider!r})"


class WaitingCells:
    """Whose notebook cells wait for a sign-in now: a wait request of theirs is under way."""

    def __init__(self) -> None:
        self._waits: Counter[str] = Counter()
        self._ended: dict[str, float] = {}
        #: Told (a wait's own id, its user, seconds it counts as waiting from now) as each
        #: wait starts and ends, so that replicas can share them (hubservice/shared_links.py).
        self.changed: Callable[[str, str, float], None] | None = None

    @contextmanager
    def waiting(self, user: str) -> Iterator[None]:
        """While this block runs, a cell of `user` waits."""
        self._waits[user] += 1
        wait = secrets.token_hex(16)
        if self.changed is not None:
            self.changed(wait, user, MAX_WAIT + WAIT_GRACE)
        try:
            yield
        finally:
            self._waits[user] -= 1
            if not self._waits[user]:
                del self._waits[user]
                self._ended[user] = time.monotonic()
            if self.changed is not None:
                self.changed(wait, user, WAIT_GRACE)

    def waits_elsewhere(self, user: str) -> None:
        """A cell of `user` waits at another replica: count it as waiting for WAIT_GRACE."""
        self._ended[user] = max(self._ended.get(user, 0.0), time.monotonic())

    def waits(self, user: str) -> bool:
        """Whether a cell of `user` waits now, or did a moment ago (WAIT_GRACE)."""
        now = time.monotonic()
        for name in [n for n, ended in self._ended.items() if ended < now - WAIT_GRACE]:
            del self._ended[name]
        return user in self._waits or user in self._ended


class SignInLinks:
    """The links handed out and not yet used, by the hash of their token; the waiting cells."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._links: OrderedDict[str, SignInLink] = OrderedDict()
        #: The cells that links (and other sign-ins) are for, while they wait.
        self.cells = WaitingCells()
        #: Told the fingerprint and link of each link issued, and the fingerprint of each
        #: revoked, so that replicas can share them (hubservice/shared_links.py).
        self.issued: Callable[[str, SignInLink], None] | None = None
        self.revoked: Callable[[str], None] | None = None

    def issue(self, owner: str, provider: str, api: ApiSpec | None) -> str:
        """A new link's token: unguessable, usable once within `ttl` seconds."""
        self._prune()
        while len(self._links) >= MAX_LINKS:
            self._links.popitem(last=False)
        token = secrets.token_urlsafe(32)
        expires = time.monotonic() + self.ttl
        key = fingerprint(token)
        self._links[key] = SignInLink(owner, provider, api, expires)
        if self.issued is not None:
            self.issued(key, self._links[key])
        return token

    def peek(self, token: str) -> SignInLink | None:
        """The live link of `token`, left usable."""
        self._prune()
        return self._links.get(fingerprint(token)) if token else None

    def redeem(self, token: str) -> SignInLink | None:
        """The live link of `token`, used up."""
        self._prune()
        return self._links.pop(fingerprint(token), None) if token else None

    def revoke(self, token: str, owner: str) -> None:
        """Make `owner`'s link `token` unusable (the cell that asked for it stopped waiting)."""
        link = self.peek(token)
        if link is not None and link.owner == owner:
            del self._links[fingerprint(token)]
            if self.revoked is not None:
                self.revoked(fingerprint(token))

    def restore(self, key: str, link: SignInLink) -> None:
        """Keep `link`, whose token's fingerprint is `key`, issued elsewhere (another replica)."""
        self._prune()
        while len(self._links) >= MAX_LINKS:
            self._links.popitem(last=False)
        self._links[key] = link

    def drop(self, key: str) -> None:
        """Forget the link whose token's fingerprint is `key` (used up elsewhere)."""
        self._links.pop(key, None)

    def __len__(self) -> int:
        self._prune()
        return len(self._links)

    def _prune(self) -> None:
        now = time.monotonic()
        for key in [k for k, link in self._links.items() if link.expires <= now]:
            del self._links[key]


def public_origin(*candidates: str) -> str:
    """The origin of the first candidate URL that has one; "" when none does."""
    for url in candidates:
        parts = urlsplit(url) if url else None
        if parts and parts.scheme in ("http", "https") and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return ""


def link_url(origin: str, page: str, token: str) -> str:
    """The absolute URL of the link with `token`, whose page has the path `page`."""
    return urls.with_query(origin + page, {LINK_TOKEN_PARAM: token})
