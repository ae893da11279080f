"""The client of the server's kernel endpoints: tokens and status, the last answer cached.

A kernel started by a Jupyter server running jupyter-nevis-auth finds that server
through its environment (`NEVIS_AUTH_KERNEL_URL`, `NEVIS_AUTH_KERNEL_SECRET`).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import requests

from ..errors import (
    KernelSecretRejectedError,
    LoginRequiredError,
    NotConfiguredError,
    TokenServiceError,
    TokenServiceTimeoutError,
    TokenServiceUnreachableError,
)
from ..protocol import (
    ENV_CA,
    ENV_ERROR,
    ENV_LOGIN_TIMEOUT,
    ENV_LOGIN_URL,
    ENV_SECRET,
    ENV_TIMEOUT,
    ENV_URL,
    FORCE_REFRESH_PARAM,
    MIN_TTL_PARAM,
    SECRET_HEADER,
    TOKEN_PATH,
    TOKEN_STATUS_PATH,
    Status,
    TokenAnswer,
)
from .pinning import PinnedCertAdapter, cert_fingerprint
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

# A kernel knows only the token endpoint's URL; the status endpoint is below it.
_STATUS_SUFFIX = TOKEN_STATUS_PATH.removeprefix(TOKEN_PATH)


@dataclass(frozen=True)
class Answer:
    """One answer of the token endpoint, with the kernel's own clock readings."""

    access_token: Token
    id_token: Token | None
    claims: dict[str, Any] = field(repr=False)
    #: time.monotonic() at which the access token expires, None when unknown.
    deadline: float | None
    #: time.monotonic() at which the request for this answer was sent.
    asked_at: float


class TokenClient:
    """Asks one Jupyter server for tokens and keeps its last answer for MAX_CACHE_AGE."""

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
        self._http.headers[SECRET_HEADER] = secret
        if ca:
            self._http.mount("https://", PinnedCertAdapter(cert_fingerprint(ca)))
            self._http.verify = False
        self._lock = threading.Lock()
        self._answer: Answer | None = None

    def close(self) -> None:
        """Close the connections to the server."""
        self._http.close()

    def clear(self) -> None:
        """Forget the cached answer."""
        self._answer = None

    def cached(self, min_ttl: float) -> Answer | None:
        """The cached answer if it is recent and its token has `min_ttl` seconds left."""
        answer = self._answer
        if answer is None:
            return None
        now = time.monotonic()
        if now - answer.asked_at >= MAX_CACHE_AGE:
            return None
        if answer.deadline is not None and answer.deadline - now < min_ttl:
            return None
        return answer

    def cached_or_fetched(self, min_ttl: float, *, rejected: str | None = None) -> Answer:
        """An answer with `min_ttl` seconds left; a new token when `rejected` was refused."""
        with self._lock:
            # Another thread may have fetched (or replaced the rejected token) meanwhile.
            answer = self.cached(min_ttl)
            if answer is not None and answer.access_token != rejected:
                return answer
            self._answer = None
            params = {MIN_TTL_PARAM: f"{max(min_ttl, 0.0):g}"}
            if rejected is not None:
                params[FORCE_REFRESH_PARAM] = "1"
            self._answer = self._fetch(params)
            return self._answer

    def status(self) -> Status:
        """The server's sign-in status: claims, scopes, expiry, never a token."""
        return cast(Status, self._checked(self.request("GET", _STATUS_SUFFIX)))

    def sign_out(self) -> Status:
        """Sign the user out of the server; returns the new status."""
        status = cast(Status, self._checked(self.request("DELETE")))
        # The cached answer must not outlive a sign-out.
        self.clear()
        return status

    def _fetch(self, params: dict[str, str]) -> Answer:
        asked_at = time.monotonic()
        data = cast(TokenAnswer, self._checked(self.request("GET", "", params)))
        expires_in = data.get("expires_in")
        id_token = data.get("id_token")
        claims = dict(data.get("claims") or {})
        return Answer(
            access_token=Token(data["access_token"], "access token", data.get("expires_at")),
            id_token=Token(id_token, "ID token", claims.get("exp")) if id_token else None,
            claims=claims,
            deadline=None if expires_in is None else asked_at + float(expires_in),
            asked_at=asked_at,
        )

    def request(
        self, method: str, path: str = "", params: dict[str, str] | None = None
    ) -> requests.Response:
        """One call to `<token endpoint><path>`; transport failures become TokenServiceErrors."""
        try:
            return self._http.request(
                method,
                self.url + path,
                params=params,
                timeout=(CONNECT_TIMEOUT, self.timeout),
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
        """The JSON of a 200 answer; any other answer raised as the error it stands for."""
        data = self._json(response)
        if response.status_code == 200:
            return data
        message = str(data.get("message") or "")
        if response.status_code == 401:
            login_url = data.get("login_url") or self.login_url
            raise LoginRequiredError(
                f"{message or 'You are not signed in.'} Sign in at {login_url}, "
                "then run this again.",
                login_url=login_url,
            )
        if response.status_code == 403:
            raise KernelSecretRejectedError(
                "The Jupyter server refused this kernel's secret (the server was probably "
                "restarted after the kernel started); restart the kernel."
            )
        if response.status_code == 404:
            raise TokenServiceError(
                f"The Jupyter server has no token endpoint at {self.url}; check that the "
                "jupyter_nevis_auth server extension is enabled, then restart the kernel."
            )
        if response.status_code == 504:
            raise TokenServiceTimeoutError(
                message or "The sign-in provider did not answer in time; try again later."
            )
        raise TokenServiceError(
            message
            or f"The Jupyter server answered {response.status_code} to a token request; "
            "look at the server's log."
        )

    @staticmethod
    def _json(response: requests.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            if response.status_code == 404:
                return {}
            raise TokenServiceError(
                f"The Jupyter server answered a token request with {response.status_code} "
                "and no JSON; check that the jupyter_nevis_auth server extension is enabled."
            )
        return data


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


def cached_token(min_ttl: float) -> Token | None:
    """The default client's cached access token if it has `min_ttl` seconds left; no request."""
    client = _client
    # The environment may have been pointed at another server since the answer was cached.
    if client is None or client.identity != (os.environ.get(ENV_URL), os.environ.get(ENV_SECRET)):
        return None
    answer = client.cached(min_ttl)
    return answer.access_token if answer is not None else None


def token_status() -> Status:
    """The sign-in status from the server named by the environment; never a token."""
    return default_client().status()


def sign_out() -> Status:
    """Sign the user out of the server named by the environment; returns the new status."""
    return default_client().sign_out()
