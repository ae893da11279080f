"""What notebooks import: the current access token, and HTTP clients that send it.

A kernel started by a Jupyter server running jupyter-nevis-auth finds that server
through its environment (`NEVIS_AUTH_KERNEL_URL`, `NEVIS_AUTH_KERNEL_SECRET`) and asks
it for the signed-in user's tokens. This module imports only the standard library and
requests (and httpx when it is installed), never Jupyter, so it is cheap to import.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import re
import ssl
import threading
import time
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.exceptions import UnrewindableBodyError
from requests.utils import rewind_body

from .errors import (
    KernelSecretRejectedError,
    LoginRequiredError,
    NotConfiguredError,
    TokenServiceError,
    TokenServiceTimeoutError,
    TokenServiceUnreachableError,
)
from .protocol import (
    DEFAULT_MIN_TTL,
    ENV_CA,
    ENV_ERROR,
    ENV_LOGIN_TIMEOUT,
    ENV_LOGIN_URL,
    ENV_SECRET,
    ENV_TIMEOUT,
    ENV_URL,
    SECRET_HEADER,
)
from .protocol import (
    SERVER_ENV as SERVER_ENV,
)

try:
    import anyio.to_thread
    import httpx
except ImportError:  # httpx is optional
    _HAS_HTTPX = False
else:
    _HAS_HTTPX = True

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


class Token(str):
    """A token whose repr is redacted, so it never lands in a notebook's saved output.

    `str(token)`, f-strings and HTTP headers use the real value.
    """

    kind: str
    expires_at: float | None

    def __new__(
        cls, value: str, kind: str = "access token", expires_at: float | None = None
    ) -> Token:
        """Wrap `value`; `expires_at` is a Unix time, or None when unknown."""
        token = super().__new__(cls, value)
        token.kind = kind
        token.expires_at = expires_at
        return token

    def __repr__(self) -> str:
        if self.expires_at is None:
            return f"<{self.kind}>"
        left = int(self.expires_at - time.time())
        return f"<{self.kind}, expires in {left} s>" if left > 0 else f"<{self.kind}, expired>"


@dataclass(frozen=True)
class _Answer:
    """One answer of the token endpoint, with the kernel's own clock readings."""

    access_token: Token
    id_token: Token | None
    claims: dict[str, Any] = field(repr=False)
    #: time.monotonic() at which the access token expires, None when unknown.
    deadline: float | None
    #: time.monotonic() at which the request for this answer was sent.
    asked_at: float


class _PinnedCertAdapter(HTTPAdapter):
    """Trusts exactly the server's own certificate, whatever host name it was issued for."""

    def __init__(self, fingerprint: str) -> None:
        self._fingerprint = fingerprint
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Pin the certificate on every connection pool."""
        kwargs["assert_fingerprint"] = self._fingerprint
        super().init_poolmanager(*args, **kwargs)


def _cert_fingerprint(path: str) -> str:
    """SHA-256 of the first certificate in the PEM file `path`."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            pem = f.read()
    except OSError as e:
        raise NotConfiguredError(
            f"The Jupyter server's certificate {path} (named by {ENV_CA}) cannot be read "
            f"({e.strerror}); restart the kernel, or fix {ENV_CA}."
        ) from e
    match = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.S)
    if match is None:
        raise NotConfiguredError(
            f"{path} (named by {ENV_CA}) holds no PEM certificate; fix {ENV_CA}."
        )
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(match.group(0))).hexdigest()


class _TokenClient:
    """Asks one Jupyter server for tokens and keeps its last answer for MAX_CACHE_AGE."""

    def __init__(
        self, url: str, secret: str, *, ca: str = "", timeout: float, login_url: str = ""
    ) -> None:
        self.url = url
        self.identity = (url, secret)
        self.timeout = timeout
        self.login_url = login_url
        self._http = requests.Session()
        # The server is on loopback: no proxy, netrc or CA bundle from the environment applies.
        self._http.trust_env = False
        self._http.headers[SECRET_HEADER] = secret
        if ca:
            self._http.mount("https://", _PinnedCertAdapter(_cert_fingerprint(ca)))
            self._http.verify = False
        self._lock = threading.Lock()
        self._answer: _Answer | None = None

    def close(self) -> None:
        """Close the connections to the server."""
        self._http.close()

    def clear(self) -> None:
        """Forget the cached answer."""
        self._answer = None

    def cached(self, min_ttl: float) -> _Answer | None:
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

    def current(self, min_ttl: float, *, rejected: str | None = None) -> _Answer:
        """An answer with `min_ttl` seconds left; a new token when `rejected` was refused."""
        with self._lock:
            # Another thread may have fetched (or replaced the rejected token) meanwhile.
            answer = self.cached(min_ttl)
            if answer is not None and answer.access_token != rejected:
                return answer
            self._answer = None
            params = {"min_ttl": f"{max(min_ttl, 0.0):g}"}
            if rejected is not None:
                params["force_refresh"] = "1"
            self._answer = self._fetch(params)
            return self._answer

    def _fetch(self, params: dict[str, str]) -> _Answer:
        asked_at = time.monotonic()
        response = self.request("GET", "", params)
        data = self._json(response)
        if response.status_code == 200:
            expires_at = data.get("expires_at")
            expires_in = data.get("expires_in")
            id_token = data.get("id_token")
            claims = dict(data.get("claims") or {})
            return _Answer(
                access_token=Token(data["access_token"], "access token", expires_at),
                id_token=Token(id_token, "ID token", claims.get("exp")) if id_token else None,
                claims=claims,
                deadline=None if expires_in is None else asked_at + float(expires_in),
                asked_at=asked_at,
            )
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


_client: _TokenClient | None = None
_client_key: tuple[str, ...] = ()
_client_lock = threading.Lock()


def _default_client() -> _TokenClient:
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
            client = _TokenClient(
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


def has_interactive_frontend() -> bool:
    """True when the running cell comes from a person at a frontend (not nbclient or a script)."""
    get_ipython = getattr(builtins, "get_ipython", None)
    kernel = getattr(get_ipython(), "kernel", None) if get_ipython else None
    if kernel is None or not hasattr(kernel, "get_parent"):
        return False
    parent = kernel.get_parent() or {}
    msg_type = parent.get("header", {}).get("msg_type")
    if msg_type == "comm_msg":
        # Widget callbacks: only a frontend that renders widgets sends these.
        return True
    # JupyterLab, Notebook and VS Code execute with allow_stdin; nbclient and papermill do not.
    return msg_type == "execute_request" and bool(parent.get("content", {}).get("allow_stdin"))


def _wait_for_login(error: LoginRequiredError, timeout: float) -> None:
    """Show the login widget and return once the user has signed in, else raise `error`."""
    # Imported here: ipywidgets is only needed once someone has to sign in.
    from .widget import wait_for_login

    wait_for_login(error, timeout)


def _current(min_ttl: float, *, rejected: str | None = None) -> _Answer:
    """The server's answer, waiting for a sign-in when a person can do one."""
    client = _default_client()
    try:
        return client.current(min_ttl, rejected=rejected)
    except LoginRequiredError as error:
        if not has_interactive_frontend():
            raise
        _wait_for_login(error, _float_env(ENV_LOGIN_TIMEOUT, DEFAULT_LOGIN_TIMEOUT))
    return client.current(min_ttl)


def _cached_token(min_ttl: float) -> Token | None:
    client = _client
    # The environment may have been pointed at another server since the answer was cached.
    if client is None or client.identity != (os.environ.get(ENV_URL), os.environ.get(ENV_SECRET)):
        return None
    answer = client.cached(min_ttl)
    return answer.access_token if answer is not None else None


def get_access_token(min_ttl: float = DEFAULT_MIN_TTL) -> Token:
    """The user's access token, with at least `min_ttl` seconds left (refreshed when needed)."""
    return _cached_token(min_ttl) or _current(min_ttl).access_token


def get_id_token() -> Token | None:
    """The user's ID token, None when the provider issued none."""
    return _current(0.0).id_token


def whoami() -> dict[str, Any]:
    """The claims of the signed-in user's ID token (sub, name, email...)."""
    return dict(_current(0.0).claims)


def _refreshed_after_rejection(rejected: str, min_ttl: float) -> Token:
    """A token to retry with after the resource server refused `rejected`."""
    return _current(min_ttl, rejected=rejected).access_token


class BearerAuth(requests.auth.AuthBase):
    """requests auth: the current access token on each request; on a 401, one refresh and retry.

    Use as `requests.get(url, auth=BearerAuth())`.
    """

    def __init__(self, min_ttl: float = DEFAULT_MIN_TTL) -> None:
        """Send tokens with at least `min_ttl` seconds left."""
        self.min_ttl = min_ttl

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Set the Authorization header, and arm the retry on 401."""
        request.headers["Authorization"] = f"Bearer {get_access_token(self.min_ttl)}"
        request.register_hook("response", self._retry_on_401)
        return request

    def _retry_on_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        request = response.request
        sent = str(request.headers.get("Authorization", ""))
        # No header: requests dropped it on a redirect to another host, which gets no token.
        if response.status_code != 401 or not sent.startswith("Bearer "):
            return response
        retry = request.copy()
        if retry.body is not None and not isinstance(retry.body, (bytes, str)):
            try:
                rewind_body(retry)
            except UnrewindableBodyError:
                return response
        token = _refreshed_after_rejection(sent.removeprefix("Bearer "), self.min_ttl)
        # Read and release the refused response so its connection can carry the retry.
        _ = response.content
        response.close()
        retry.deregister_hook("response", self._retry_on_401)
        retry.headers["Authorization"] = f"Bearer {token}"
        again: requests.Response = response.connection.send(retry, **kwargs)  # type: ignore[attr-defined]
        again.history.append(response)
        again.request = retry
        return again


def session(min_ttl: float = DEFAULT_MIN_TTL) -> requests.Session:
    """A requests.Session that sends the current access token (see BearerAuth)."""
    http = requests.Session()
    http.auth = BearerAuth(min_ttl)
    return http


if _HAS_HTTPX:

    class HTTPXBearerAuth(httpx.Auth):
        """httpx auth: the current access token on each request; on a 401, one refresh and retry.

        Use as `httpx.get(url, auth=HTTPXBearerAuth())` or `httpx.AsyncClient(auth=...)`.
        """

        # The body is buffered so that the retry can send it again.
        requires_request_body = True

        def __init__(self, min_ttl: float = DEFAULT_MIN_TTL) -> None:
            """Send tokens with at least `min_ttl` seconds left."""
            self.min_ttl = min_ttl

        def sync_auth_flow(
            self, request: httpx.Request
        ) -> Generator[httpx.Request, httpx.Response, None]:
            """Send the request with the token; once more with a new one after a 401."""
            token = get_access_token(self.min_ttl)
            request.headers["Authorization"] = f"Bearer {token}"
            response = yield request
            if response.status_code == 401:
                token = _refreshed_after_rejection(token, self.min_ttl)
                request.headers["Authorization"] = f"Bearer {token}"
                yield request

        async def async_auth_flow(
            self, request: httpx.Request
        ) -> AsyncGenerator[httpx.Request, httpx.Response]:
            """As sync_auth_flow; a call to the server runs in a worker thread."""
            token = _cached_token(self.min_ttl)
            if token is None:
                token = await anyio.to_thread.run_sync(get_access_token, self.min_ttl)
            request.headers["Authorization"] = f"Bearer {token}"
            response = yield request
            if response.status_code == 401:
                token = await anyio.to_thread.run_sync(
                    _refreshed_after_rejection, token, self.min_ttl
                )
                request.headers["Authorization"] = f"Bearer {token}"
                yield request


def __getattr__(name: str) -> Any:
    if name == "HTTPXBearerAuth":
        raise ImportError("HTTPXBearerAuth needs httpx; install it with `pip install httpx`.")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
