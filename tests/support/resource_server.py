"""A protected REST API for tests: accepts the test provider's JWT access tokens.

Refusals follow RFC 6750 section 3: a token that is missing, forged, expired,
from another issuer or for another audience gets 401 invalid_token; a valid
token without the required scope gets 403 insufficient_scope. With `acr` or `max_age`,
a valid token of a sign-in below that level, or older than that, gets 401
insufficient_user_authentication naming them (RFC 9470 step-up).

A DPoP-bound token (one with cnf.jkt) is taken only as `Authorization: DPoP` with a
proof that tests/support/dpop_check.py accepts (RFC 9449 7.1); with `dpop`, only such
tokens are taken, and each proof must carry this server's nonce (`DPoP-Nonce`).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt

from tests.support.dpop_check import DPoPRefused, DPoPVerifier

API_AUDIENCE = "https://api.test"
SALES_AUDIENCE = "https://sales.test"
MODELS_AUDIENCE = "https://models.test"


class InsufficientScopeError(jwt.InvalidTokenError):
    """A valid token that lacks the scope this API requires."""


class InsufficientAuthenticationError(jwt.InvalidTokenError):
    """A valid token of a sign-in below the required acr, or older than max_age (RFC 9470)."""


class ResourceServer:
    """`GET /api/hello` behind RS256 JWT bearer tokens, served from a background thread."""

    def __init__(
        self,
        issuer: str,
        *,
        audience: str = API_AUDIENCE,
        scope: str | None = None,
        jwks_uri: str | None = None,
        acr: str | None = None,
        max_age: int | None = None,
        dpop: bool = False,
    ) -> None:
        """Trust tokens of `issuer` for `audience` with `scope` (if given); keys from `jwks_uri`.

        `jwks_uri` defaults to the Nevis path under `issuer`. `acr` and `max_age` ask for a
        sign-in at that level, or at most that many seconds old (the token's acr, auth_time).
        """
        self.issuer = issuer
        self.audience = audience
        self.scope = scope
        self.acr = acr
        self.max_age = max_age
        self.dpop = dpop
        self.dpop_verifier = DPoPVerifier(nonces=dpop)
        self.jwks_client = jwt.PyJWKClient(
            jwks_uri or f"{issuer}/.well-known/jwks.json", timeout=10
        )
        self.requests = 0
        self.unauthorized = 0
        self.forbidden = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ResourceServer:
        """Start serving."""
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop serving."""
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:PORT (no trailing slash)."""
        if self._httpd is None:
            raise RuntimeError("the resource server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def hello_url(self) -> str:
        """URL of the protected endpoint."""
        return f"{self.url}/api/hello"

    def start(self) -> None:
        """Listen on a free loopback port and serve in a daemon thread."""
        if self._httpd is not None:
            return
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            # stop() waits for the next poll: the default 0.5 s adds up over a test session.
            kwargs={"poll_interval": 0.05},
            name=f"resource-server {self.audience}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = None
        self._thread = None

    def reset(self) -> None:
        """Zero the request counters."""
        with self._lock:
            self.requests = 0
            self.unauthorized = 0
            self.forbidden = 0

    def stats(self) -> dict[str, int]:
        """Counts of requests, of 401 answers and, when a scope is required, of 403 answers."""
        with self._lock:
            counts = {"requests": self.requests, "unauthorized": self.unauthorized}
            if self.scope is not None:
                counts["forbidden"] = self.forbidden
            return counts

    def verify(self, token: str) -> dict[str, Any]:
        """Claims of a valid access token; raises jwt.PyJWTError otherwise.

        InsufficientScopeError (a PyJWTError) means the token is valid but lacks the scope.
        """
        if jwt.get_unverified_header(token).get("typ", "").lower() not in (
            "at+jwt",
            "application/at+jwt",
        ):
            # RFC 9068: an ID token (also an RS256 JWT from this issuer) is no access token.
            raise jwt.InvalidTokenError("not an access token (typ is not at+jwt)")
        key = self.jwks_client.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            audience=self.audience,
            issuer=self.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
        if self.scope is not None and self.scope not in str(claims.get("scope", "")).split():
            raise InsufficientScopeError(f"the token lacks the scope {self.scope}")
        if self.acr is not None and claims.get("acr") != self.acr:
            raise InsufficientAuthenticationError(f"the sign-in is not at the level {self.acr}")
        auth_time = claims.get("auth_time")
        if self.max_age is not None and (
            not isinstance(auth_time, int) or time.time() - auth_time > self.max_age
        ):
            raise InsufficientAuthenticationError("the sign-in is too old")
        return claims

    def step_up_challenge(self) -> str:
        """The WWW-Authenticate value asking for a sign-in at `acr` or within `max_age` s."""
        parts = ['Bearer error="insufficient_user_authentication"']
        parts.append('error_description="A stronger or more recent sign-in is required"')
        if self.acr is not None:
            parts.append(f'acr_values="{self.acr}"')
        if self.max_age is not None:
            parts.append(f"max_age={self.max_age}")
        return ", ".join(parts)

    def _count(self, status: int) -> None:
        """Record one answered request."""
        with self._lock:
            self.requests += 1
            self.unauthorized += int(status == 401)
            self.forbidden += int(status == 403)


def _make_handler(server: ResourceServer) -> type[BaseHTTPRequestHandler]:
    """Request handler class bound to `server`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            """Answer /api/hello for a valid bearer token."""
            if self.path.split("?", 1)[0] != "/api/hello":
                self._send(404, {"error": "not_found"})
                return
            scheme, _, token = self.headers.get("Authorization", "").partition(" ")
            if scheme.lower() not in ("bearer", "dpop") or not token.strip():
                server._count(401)
                self._send(401, {"error": "invalid_token"}, 'Bearer error="invalid_token"')
                return
            try:
                claims = server.verify(token.strip())
            except InsufficientScopeError as err:
                server._count(403)
                header = f'Bearer error="insufficient_scope", scope="{server.scope}"'
                self._send(
                    403, {"error": "insufficient_scope", "error_description": str(err)}, header
                )
                return
            except InsufficientAuthenticationError as err:
                server._count(401)
                body = {"error": "insufficient_user_authentication", "error_description": str(err)}
                self._send(401, body, server.step_up_challenge())
                return
            except (jwt.PyJWTError, ValueError) as err:
                server._count(401)
                description = str(err).replace('"', "'")
                header = f'Bearer error="invalid_token", error_description="{description}"'
                self._send(401, {"error": "invalid_token", "error_description": str(err)}, header)
                return
            if "cnf" in claims or server.dpop or scheme.lower() == "dpop":
                try:
                    if scheme.lower() != "dpop" or "cnf" not in claims:
                        raise DPoPRefused("invalid_token", "a DPoP-bound token with a proof")
                    url = server.url + self.path
                    proof = self.headers.get("DPoP")
                    server.dpop_verifier.check(proof, "GET", url, token.strip(), claims)
                except DPoPRefused as err:
                    server._count(401)
                    header = f'DPoP error="{err.error}", algs="ES256"'
                    nonce = {"DPoP-Nonce": server.dpop_verifier.nonce} if server.dpop else {}
                    self._send(401, {"error": err.error}, header, nonce)
                    return
            server._count(200)
            body = {
                "sub": claims["sub"],
                "scope": claims.get("scope", ""),
                "client_id": claims.get("client_id"),
            }
            self._send(200, body)

        def _send(
            self,
            status: int,
            body: dict[str, Any],
            www_authenticate: str | None = None,
            headers: dict[str, str] | None = None,
        ) -> None:
            """Write a JSON response."""
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            if www_authenticate is not None:
                self.send_header("WWW-Authenticate", www_authenticate)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet: test output is for failures."""

    return Handler
