"""The client of the server's kernel endpoints: tokens and status, the last answer cached.

A kernel started by a Jupyter server running jupyter-nevis-auth finds that server
through its environment (`NEVIS_AUTH_KERNEL_URL`, `NEVIS_AUTH_KERNEL_SECRET`).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, cast
from urllib.parse import urlsplit

import requests

from ..errors import (
    NotConfiguredError,
    TokenServiceError,
    TokenServiceTimeoutError,
    TokenServiceUnreachableError,
)
from ..protocol import (
    APIS_PATH,
    ENV_CA,
    ENV_ERROR,
    ENV_LOGIN_TIMEOUT,
    ENV_LOGIN_URL,
    ENV_SECRET,
    ENV_TIMEOUT,
    ENV_URL,
    FORCE_REFRESH_PARAM,
    MIN_TTL_PARAM,
    PROVIDER_PARAM,
    TOKEN_PATH,
    TOKEN_STATUS_PATH,
    ApisAnswer,
    Status,
    TokenAnswer,
    secret_header,
)
from .answers import TokenReply, checked, token_answer
from .pinning import PinnedCertAdapter, cert_fingerprint
from .routing import Routes
from .selection import DEFAULT, Selection
from .token import Token

DEFAULT_TIMEOUT = 30.0
DEFAULT_LOGIN_TIMEOUT = 300.0
#: The server is on this host (or its network): a connection that takes longer is not coming.
CONNECT_TIMEOUT = 5.0
#: Seconds an answer of the server is used without asking again; this bounds how long
#: a kernel goes on using a token after the user signed out.
MAX_CACHE_AGE = 5.0

NOT_IN_SERVER = (
    "This Python process was not started by a Jupyter server running jupyter-nevis-auth; "
    "run the code in a notebook or console of that server, or set "
    f"{ENV_URL} and {ENV_SECRET} to point at one."
)

# A kernel knows only the token endpoint's URL; the other endpoints are below it.
_STATUS_SUFFIX = TOKEN_STATUS_PATH.removeprefix(TOKEN_PATH)
_APIS_SUFFIX = APIS_PATH.removeprefix(TOKEN_PATH)


class TokenClient:
    """Asks one Jupyter server for tokens; keeps each selection's last answer for MAX_CACHE_AGE."""

    def __init__(
        self, url: str, secret: str, *, ca: str = "", timeout: float, login_url: str = ""
    ) -> None:
        """A client of the token endpoint at `url`, pinned to the certificate `ca` if given."""
        self.url = url
        self.identity = (url, secret)
        self.timeout = timeout
        self.login_url = login_url
        self._http = requests.Session()
        # The server is on loopback: no proxy, netrc or CA bundle from the environment applies.
        self._http.trust_env = False
        self._http.headers.update(secret_header(secret))
        if ca:
            self._http.mount("https://", PinnedCertAdapter(cert_fingerprint(ca)))
            self._http.verify = False
        self._lock = threading.Lock()
        #: One lock per selection: a slow token for one API does not hold up the others.
        self._locks: dict[Selection, threading.Lock] = {}
        self._answers: dict[Selection, TokenReply] = {}
        self._routes: Routes | None = None
        self._routes_lock = threading.Lock()

    def close(self) -> None:
        """Close the connections to the server."""
        self._http.close()

    def clear(self) -> None:
        """Forget every cached answer."""
        self._answers = {}

    def cached(self, min_ttl: float, selection: Selection = DEFAULT) -> TokenReply | None:
        """The cached answer if it is recent and its token has `min_ttl` seconds left."""
        answer = self._answers.get(selection)
        if answer is None:
            return None
        now = time.monotonic()
        if now - answer.asked_at >= MAX_CACHE_AGE:
            return None
        if answer.deadline is not None and answer.deadline - now < min_ttl:
            return None
        return answer

    def cached_or_fetched(
        self, min_ttl: float, selection: Selection = DEFAULT, *, rejected: str | None = None
    ) -> TokenReply:
        """An answer with `min_ttl` seconds left; a new token when `rejected` was refused."""
        with self._lock:
            lock = self._locks.setdefault(selection, threading.Lock())
        with lock:
            # Another thread may have fetched (or replaced the rejected token) meanwhile.
            answer = self.cached(min_ttl, selection)
            if answer is not None and answer.access_token != rejected:
                return answer
            self._answers.pop(selection, None)
            params = {**selection.params(), MIN_TTL_PARAM: f"{max(min_ttl, 0.0):g}"}
            if rejected is not None:
                params[FORCE_REFRESH_PARAM] = "1"
            asked_at = time.monotonic()
            data = checked(self.request("GET", "", params), self.url, self.login_url, selection)
            answer = token_answer(cast(TokenAnswer, data), asked_at)
            self._answers[selection] = answer
            return answer

    @property
    def known_routes(self) -> Routes | None:
        """The routes if they were asked for already."""
        return self._routes

    def routes(self) -> Routes:
        """The configured APIs' URL prefixes, asked once: they stay while the server runs."""
        with self._routes_lock:
            if self._routes is None:
                response = self.request("GET", _APIS_SUFFIX)
                if response.status_code == 404:
                    # A server from before named APIs: every URL gets the default token.
                    answer: ApisAnswer = {"apis": [], "default_for_unlisted_urls": True}
                else:
                    answer = cast(ApisAnswer, self._checked(response))
                self._routes = Routes(answer)
            return self._routes

    def status(self) -> Status:
        """The server's sign-in status: claims, scopes, expiry, never a token."""
        return cast(Status, self._checked(self.request("GET", _STATUS_SUFFIX)))

    def sign_out(self, provider: str | None = None) -> Status:
        """Sign the user out of every provider (or of `provider`); returns the new status."""
        params = {PROVIDER_PARAM: provider} if provider is not None else None
        status = cast(Status, self._checked(self.request("DELETE", "", params)))
        # No cached answer may outlive a sign-out.
        self.clear()
        return status

    def request(
        self,
        method: str,
        path: str = "",
        params: dict[str, str] | None = None,
        *,
        wait: float = 0.0,
    ) -> requests.Response:
        """One call to `<token endpoint><path>`; transport failures become TokenServiceErrors.

        `wait` is how many seconds the server may take on purpose before it answers.
        """
        try:
            return self._http.request(
                method,
                self.url + path,
                params=params,
                timeout=(CONNECT_TIMEOUT, self.timeout + wait),
                allow_redirects=False,
            )
        except requests.Timeout as e:
            raise TokenServiceTimeoutError(
                f"The Jupyter server did not answer within {self.timeout:g} s; try again, "
                f"or set {ENV_TIMEOUT} to wait longer."
            ) from e
        except requests.exceptions.SSLError as e:
            raise TokenServiceError(
                f"The Jupyter server's TLS certificate is not the one in {ENV_CA}; "
                "restart the kernel."
            ) from e
        except requests.ConnectionError as e:
            origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.url))
            raise TokenServiceUnreachableError(
                f"The Jupyter server at {origin} cannot be reached; if it was restarted, "
                "restart this kernel too."
            ) from e
        except requests.RequestException as e:
            raise TokenServiceError(
                f"The request to the Jupyter server failed ({type(e).__name__}); "
                "restart the kernel."
            ) from e

    def _checked(self, response: requests.Response) -> dict[str, Any]:
        return checked(response, self.url, self.login_url)


def _float_env(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number > 0:
        raise NotConfiguredError(f"{name} must be a positive number of seconds, not {value!r}.")
    return number


def login_timeout() -> float:
    """Seconds a cell waits for a person to sign in (NEVIS_AUTH_LOGIN_TIMEOUT)."""
    return _float_env(ENV_LOGIN_TIMEOUT, DEFAULT_LOGIN_TIMEOUT)


_client: TokenClient | None = None
_client_key: tuple[str, ...] = ()
_client_lock = threading.Lock()


def default_client() -> TokenClient:
    """The client for the server named by the environment (a new one when it changed)."""
    global _client, _client_key
    error = os.environ.get(ENV_ERROR)
    if error:
        raise NotConfiguredError(error)
    url = os.environ.get(ENV_URL, "")
    secret = os.environ.get(ENV_SECRET, "")
    if not url or not secret:
        raise NotConfiguredError(NOT_IN_SERVER)
    key = (
        url,
        secret,
        os.environ.get(ENV_CA, ""),
        os.environ.get(ENV_TIMEOUT, ""),
        os.environ.get(ENV_LOGIN_URL, ""),
    )
    with _client_lock:
        if _client is None or key != _client_key:
            client = TokenClient(
                url,
                secret,
                ca=key[2],
                timeout=_float_env(ENV_TIMEOUT, DEFAULT_TIMEOUT),
                login_url=key[4],
            )
            if _client is not None:
                _client.close()
            _client, _client_key = client, key
        return _client


def _current() -> TokenClient | None:
    """The default client, if there is one and the environment still names its server."""
    client = _client
    # The environment may have been pointed at another server since the client was made.
    if client is None or client.identity != (os.environ.get(ENV_URL), os.environ.get(ENV_SECRET)):
        return None
    return client


def cached_token(min_ttl: float, selection: Selection = DEFAULT) -> Token | None:
    """The default client's cached access token if it has `min_ttl` seconds left; no request."""
    client = _current()
    answer = client.cached(min_ttl, selection) if client is not None else None
    return answer.access_token if answer is not None else None


def cached_routes() -> Routes | None:
    """The default client's API routes if it has asked for them already; no request."""
    client = _current()
    return client.known_routes if client is not None else None


def token_status() -> Status:
    """The sign-in status from the server named by the environment; never a token."""
    return default_client().status()


def sign_out(provider: str | None = None) -> Status:
    """Sign the user out of every provider (or of `provider`); returns the new status."""
    return default_client().sign_out(provider)
