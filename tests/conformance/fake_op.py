"""A misbehaving OpenID provider for the conformance tests: tornado, pyjwt and cryptography.

By default it behaves like a certified provider: it checks the client's credentials
(RFC 6749 2.3.1 decoding for HTTP Basic), the registered redirect URI, PKCE S256 and
the single use of codes. Each test then makes it misbehave exactly as its case
prescribes through the attributes marked "knob". It records every request it
receives and every secret it hands out, so tests can check what the product sent
and scan for leaks.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from tornado import web
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
#: Marks a claim or metadata entry the provider leaves out.
REMOVE: Any = object()

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
Signer = Callable[[dict[str, Any], dict[str, Any]], str]


@dataclass(frozen=True)
class SigningKey:
    """A provider key pair with its kid and algorithm."""

    kid: str
    alg: str
    private: PrivateKey = field(repr=False)

    def public_jwk(self) -> dict[str, Any]:
        """The public half as published at jwks_uri."""
        algorithm = jwt.get_algorithm_by_name(self.alg)
        jwk: dict[str, Any] = algorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign(self, claims: dict[str, Any], headers: dict[str, Any]) -> str:
        """A JWS of `claims` with this key."""
        return jwt.encode(claims, self.private, algorithm=self.alg, headers=headers)


class KeyPool:
    """Key pairs generated once per test session and handed out with fresh kids."""

    def __init__(self) -> None:
        self._made: dict[str, list[PrivateKey]] = {"RS256": [], "ES256": []}

    def key(self, alg: str = "RS256", index: int = 0) -> SigningKey:
        """The pool's `index`-th key for `alg`, under a kid never used before."""
        made = self._made[alg]
        while len(made) <= index:
            made.append(
                rsa.generate_private_key(public_exponent=65537, key_size=2048)
                if alg == "RS256"
                else ec.generate_private_key(ec.SECP256R1())
            )
        return SigningKey(kid=f"{alg.lower()}-{secrets.token_hex(4)}", alg=alg, private=made[index])


@dataclass(frozen=True)
class Received:
    """One request the provider received."""

    endpoint: str
    method: str
    path: str
    headers: dict[str, str]
    args: dict[str, str]


@dataclass(frozen=True)
class Grant:
    """What an authorization code stands for."""

    redirect_uri: str
    code_challenge: str
    nonce: str | None
    scope: str
    sub: str
    resource: str | None = None


@dataclass(frozen=True)
class Canned:
    """A fixed answer an endpoint gives instead of its normal one."""

    status: int
    body: bytes
    content_type: str = "application/json"


def b64url(data: bytes) -> str:
    """Unpadded base64url, as in JWS and PKCE."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_none(claims: dict[str, Any], headers: dict[str, Any]) -> str:
    """An unsecured JWS (alg none), as a provider may send in the code flow."""
    header = {**headers, "alg": "none", "typ": "JWT"}
    parts = (json.dumps(header).encode(), json.dumps(claims).encode())
    return ".".join(b64url(p) for p in parts) + "."


def sign_hs256(secret: str | bytes) -> Signer:
    """A signer using HMAC with `secret`: the client secret, or a public key in alg confusion."""

    def sign(claims: dict[str, Any], headers: dict[str, Any]) -> str:
        key = secret.encode() if isinstance(secret, str) else secret
        # pyjwt refuses PEM keys as HMAC secrets; sign by hand what an attacker would.
        header = {**headers, "alg": "HS256", "typ": "JWT"}
        signing_input = ".".join(b64url(json.dumps(p).encode()) for p in (header, claims)).encode()
        return (
            signing_input.decode()
            + "."
            + b64url(hmac.new(key, signing_input, hashlib.sha256).digest())
        )

    return sign


def with_bad_signature(key: SigningKey) -> Signer:
    """A signer whose signatures are valid for `key` except for one flipped byte."""

    def sign(claims: dict[str, Any], headers: dict[str, Any]) -> str:
        head, payload, signature = key.sign(claims, headers).split(".")
        raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
        raw[len(raw) // 2] ^= 0x01
        return f"{head}.{payload}.{b64url(bytes(raw))}"

    return sign


def apply(target: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`target` with `changes` merged in; a REMOVE value deletes the entry."""
    for name, value in changes.items():
        if value is REMOVE:
            target.pop(name, None)
        else:
            target[name] = value
    return target


class FakeOP:
    """The provider: discovery, authorize, token, JWKS, userinfo and revocation endpoints."""

    def __init__(self, pool: KeyPool, redirect_uris: list[str], path: str = "/op") -> None:
        self.pool = pool
        self.path = path
        self.issuer = ""
        self.client_id = "conformance-client"
        self.client_secret = secrets.token_urlsafe(24)
        self.redirect_uris = list(redirect_uris)
        self.sub = "alice"
        self.signing_key = pool.key("RS256", 0)
        #: knob: the keys published at jwks_uri.
        self.published: list[SigningKey] = [self.signing_key]
        #: knob: extra JWK entries published as they are (unusable keys, duplicates...).
        self.jwks_extra: list[dict[str, Any]] = []
        #: knob: changes to the discovery document (REMOVE deletes an entry).
        self.discovery_changes: dict[str, Any] = {}
        #: knob: the `iss` authorization-response parameter; None leaves it out.
        self.response_iss: str | None = None
        #: knob: changes to the ID-token claims of the code exchange and of refreshes.
        self.login_claims: dict[str, Any] = {}
        self.refresh_claims: dict[str, Any] = {}
        #: knob: whether the ID-token header names its key.
        self.send_kid = True
        #: knob: how ID tokens are signed; None signs with signing_key.
        self.signer: Signer | None = None
        #: knob: whether refresh answers carry a new ID token and a new refresh token.
        self.id_token_on_refresh = True
        self.rotate_refresh_tokens = True
        #: knob: access-token lifetime; below the product's refresh leeway every status refreshes.
        self.expires_in = 3600
        #: knob: changes to token-endpoint answers (REMOVE deletes an entry).
        self.token_changes: dict[str, Any] = {}
        #: knob: an OAuth error per grant type, e.g. {"refresh_token": (400, "invalid_grant")}.
        self.token_errors: dict[str, tuple[int, str]] = {}
        #: knob: fixed answers per endpoint name, replacing the normal behaviour.
        self.canned: dict[str, Canned] = {}
        #: knob: seconds an endpoint waits before answering.
        self.delays: dict[str, float] = {}
        #: knob: resources a narrowed refresh or an exchange may ask for (RFC 8707).
        self.resources: set[str] = set()
        #: knob: whether the token-exchange grant (RFC 8693) is offered and advertised.
        self.token_exchange = False
        #: knob: RFC 8414 metadata served at the "standard" and the "common" well-known URL.
        self.oauth_metadata: dict[str, dict[str, Any]] = {}
        #: knob: the sub the userinfo endpoint reports.
        self.userinfo_sub: str | None = None
        self.received: list[Received] = []
        self.issued: dict[str, list[str]] = {
            "code": [],
            "access_token": [],
            "refresh_token": [],
            "id_token": [],
        }
        self.verifiers: list[str] = []
        self._grants: dict[str, Grant] = {}
        self._refresh: dict[str, Grant] = {}
        self._server: HTTPServer | None = None

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        """Listen on a free loopback port in the running event loop."""
        sock, port = bind_unused_port()
        routes: list[tuple[str, type[web.RequestHandler], dict[str, Any]]] = [
            (self.path + p, h, {"op": self})
            for p, h in (
                ("/.well-known/openid-configuration", DiscoveryHandler),
                ("/authorize", AuthorizeHandler),
                ("/token", TokenHandler),
                ("/jwks", JWKSHandler),
                # Where a test's discovery document may move the key set to.
                ("/keys/published", JWKSHandler),
                ("/userinfo", UserinfoHandler),
                ("/revoke", RevokeHandler),
            )
        ]
        routes += [
            (
                "/.well-known/oauth-authorization-server" + self.path,
                OAuthMetadataHandler,
                {"op": self, "form": "standard"},
            ),
            (
                self.path + "/.well-known/oauth-authorization-server",
                OAuthMetadataHandler,
                {"op": self, "form": "common"},
            ),
        ]
        # Quiet: its access log would show state and challenges next to the product's lines.
        app = web.Application(routes, log_function=lambda _handler: None)
        self._server = HTTPServer(app)
        self._server.add_sockets([sock])
        self.issuer = f"http://127.0.0.1:{port}{self.path}"
        self.response_iss = self.issuer

    async def stop(self) -> None:
        """Stop listening and drop open connections."""
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None

    # -- what tests use -----------------------------------------------------

    def url(self, endpoint: str) -> str:
        """The URL of one of the provider's endpoints."""
        return f"{self.issuer}/{endpoint}"

    def rotate_keys(self, alg: str = "RS256") -> SigningKey:
        """Replace the published signing key by a new one, as a provider's key rotation does."""
        index = 1 + sum(k.alg == alg for k in self.published)
        self.signing_key = self.pool.key(alg, index)
        self.published = [self.signing_key]
        return self.signing_key

    def calls(self, endpoint: str) -> list[Received]:
        """The requests received at one endpoint, oldest first."""
        return [r for r in self.received if r.endpoint == endpoint]

    def used(self, token: str) -> bool:
        """Whether any request sent `token` to the provider (as bearer, grant or revocation)."""
        return any(
            token in r.headers.get("Authorization", "") or token in r.args.values()
            for r in self.received
        )

    def secrets(self) -> dict[str, str]:
        """Every secret of the flow this provider knows, named for failure messages."""
        found = {"client_secret": self.client_secret}
        for kind, values in self.issued.items():
            found.update({f"{kind}[{i}]": v for i, v in enumerate(values)})
        found.update({f"code_verifier[{i}]": v for i, v in enumerate(self.verifiers)})
        return found

    async def authorize(self, url: str) -> str:
        """Follow the product's authorize redirect; return where the provider sends the browser."""
        response = await AsyncHTTPClient().fetch(url, follow_redirects=False, raise_error=False)
        assert response.code == 302, response.body
        return str(response.headers["Location"])

    # -- what the endpoints do ----------------------------------------------

    def discovery(self) -> dict[str, Any]:
        """The OpenID configuration, with the test's changes."""
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": self.url("authorize"),
            "token_endpoint": self.url("token"),
            "jwks_uri": self.url("jwks"),
            "userinfo_endpoint": self.url("userinfo"),
            "revocation_endpoint": self.url("revoke"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code", "refresh_token"]
            + ([TOKEN_EXCHANGE] if self.token_exchange else []),
            "scopes_supported": ["openid", "offline_access", "profile", "email"],
            "authorization_response_iss_parameter_supported": True,
        }
        return apply(document, self.discovery_changes)

    def jwks(self) -> dict[str, Any]:
        """The published key set."""
        return {"keys": [k.public_jwk() for k in self.published] + self.jwks_extra}

    def new_code(self, grant: Grant) -> str:
        """An authorization code for `grant`."""
        code = secrets.token_urlsafe(32)
        self._grants[code] = grant
        self.issued["code"].append(code)
        return code

    def client_authenticated(self, headers: dict[str, str], args: dict[str, str]) -> bool:
        """Check the client's credentials as RFC 6749 2.3.1 prescribes."""
        scheme, _, value = headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                pair = base64.b64decode(value, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False
            client_id, sep, secret = pair.partition(":")
            if "client_secret" in args or not sep:
                return False  # one method only (RFC 6749 2.3)
            return (unquote_plus(client_id), unquote_plus(secret)) == (
                self.client_id,
                self.client_secret,
            )
        return (args.get("client_id"), args.get("client_secret")) == (
            self.client_id,
            self.client_secret,
        )

    def token_answer(self, args: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The token endpoint's status and JSON for a request already authenticated."""
        grant_type = args.get("grant_type", "")
        if grant_type in self.token_errors:
            status, error = self.token_errors[grant_type]
            return status, {"error": error}
        if grant_type == "authorization_code":
            grant = self._grants.pop(args.get("code", ""), None)
            verifier = args.get("code_verifier", "")
            if verifier:
                self.verifiers.append(verifier)
            if (
                grant is None
                or args.get("redirect_uri") != grant.redirect_uri
                or b64url(hashlib.sha256(verifier.encode()).digest()) != grant.code_challenge
            ):
                return 400, {"error": "invalid_grant"}
            return 200, self.tokens(grant, "login")
        if grant_type == "refresh_token":
            grant = self._refresh.get(args.get("refresh_token", ""))
            if grant is None:
                return 400, {"error": "invalid_grant"}
            narrowed = self.narrowed(grant, args)
            if isinstance(narrowed, str):
                return 400, {"error": narrowed}
            return 200, self.tokens(narrowed, "refresh")
        if grant_type == TOKEN_EXCHANGE and self.token_exchange:
            return self.exchange(args)
        return 400, {"error": "unsupported_grant_type"}

    def narrowed(self, grant: Grant, args: dict[str, str]) -> Grant | str:
        """`grant` narrowed to the request's scope and resource, or the OAuth error."""
        scope = args.get("scope")
        if scope is not None and not set(scope.split()) <= set(grant.scope.split()):
            return "invalid_scope"
        resource = args.get("resource")
        if resource is not None and resource not in self.resources:
            return "invalid_target"
        return dataclasses.replace(grant, scope=scope or grant.scope, resource=resource)

    def exchange(self, args: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """RFC 8693: a new access token for the subject token's user."""
        subject = args.get("subject_token", "")
        if subject not in self.issued["access_token"] or args.get("subject_token_type") != (
            "urn:ietf:params:oauth:token-type:access_token"
        ):
            return 400, {"error": "invalid_grant"}
        resource = args.get("resource") or args.get("audience")
        if resource is not None and resource not in self.resources:
            return 400, {"error": "invalid_target"}
        access_token = secrets.token_urlsafe(32)
        self.issued["access_token"].append(access_token)
        return 200, {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": args.get("scope", ""),
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        }

    def tokens(self, grant: Grant, phase: str) -> dict[str, Any]:
        """A token response for `grant`; phase is "login" or "refresh"."""
        access_token = secrets.token_urlsafe(32)
        self.issued["access_token"].append(access_token)
        data: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": grant.scope,
        }
        if "offline_access" in grant.scope.split() and (
            phase == "login" or self.rotate_refresh_tokens
        ):
            refresh_token = secrets.token_urlsafe(32)
            self._refresh[refresh_token] = grant
            self.issued["refresh_token"].append(refresh_token)
            data["refresh_token"] = refresh_token
        if phase == "login" or self.id_token_on_refresh:
            data["id_token"] = self.id_token(grant, phase)
        return apply(data, self.token_changes)

    def id_token(self, grant: Grant, phase: str) -> str:
        """A signed ID token for `grant`, with the test's changes."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.sub,
            "aud": self.client_id,
            "exp": now + 300,
            "iat": now,
            "auth_time": now,
        }
        if phase == "login" and grant.nonce is not None:
            claims["nonce"] = grant.nonce
        apply(claims, self.login_claims if phase == "login" else self.refresh_claims)
        headers = {"kid": self.signing_key.kid} if self.send_kid else {}
        token = (self.signer or self.signing_key.sign)(claims, headers)
        self.issued["id_token"].append(token)
        return token


class ProviderHandler(web.RequestHandler):
    """Records each request, honours the canned answers and delays of the test."""

    endpoint = ""

    def initialize(self, op: FakeOP) -> None:
        """Bind the handler to its provider."""
        self.op = op

    async def prepare(self) -> None:
        """Record the request; answer with the canned response when the test set one."""
        args = {k: self.get_argument(k, strip=False) for k in self.request.arguments}
        self.op.received.append(
            Received(
                self.endpoint,
                self.request.method or "",
                self.request.path,
                dict(self.request.headers),
                args,
            )
        )
        delay = self.op.delays.get(self.endpoint)
        if delay:
            await asyncio.sleep(delay)
        canned = self.op.canned.get(self.endpoint)
        if canned is not None:
            self.set_status(canned.status)
            self.set_header("Content-Type", canned.content_type)
            self.finish(canned.body)

    def json(self, data: dict[str, Any], status: int = 200) -> None:
        """Answer with JSON."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(data))


class DiscoveryHandler(ProviderHandler):
    """GET /.well-known/openid-configuration."""

    endpoint = "discovery"

    def get(self) -> None:
        """Answer the discovery document."""
        self.json(self.op.discovery())


class JWKSHandler(ProviderHandler):
    """GET /jwks."""

    endpoint = "jwks"

    def get(self) -> None:
        """Answer the key set."""
        self.json(self.op.jwks())


class AuthorizeHandler(ProviderHandler):
    """GET /authorize: signs the user in at once and redirects back with a code."""

    endpoint = "authorize"

    def get(self) -> None:
        """Check the request like a strict provider, then redirect to the client."""
        op = self.op
        redirect_uri = self.get_argument("redirect_uri", "")
        problems = [
            self.get_argument("client_id", "") != op.client_id,
            redirect_uri not in op.redirect_uris,
            self.get_argument("response_type", "") != "code",
            self.get_argument("code_challenge_method", "") != "S256",
            len(self.get_argument("code_challenge", "")) != 43,
            "openid" not in self.get_argument("scope", "").split(),
        ]
        if any(problems):
            raise web.HTTPError(400, "invalid authorization request: %r", problems)
        grant = Grant(
            redirect_uri=redirect_uri,
            code_challenge=self.get_argument("code_challenge"),
            nonce=self.get_argument("nonce", None),
            scope=self.get_argument("scope"),
            sub=op.sub,
            resource=self.get_argument("resource", None),
        )
        params = {"code": op.new_code(grant), "state": self.get_argument("state", "")}
        if op.response_iss is not None:
            params["iss"] = op.response_iss
        self.redirect(redirect_uri + "?" + urlencode(params))


class TokenHandler(ProviderHandler):
    """POST /token."""

    endpoint = "token"

    def post(self) -> None:
        """Authenticate the client, then answer the grant."""
        args = {k: self.get_argument(k, strip=False) for k in self.request.body_arguments}
        if not self.op.client_authenticated(dict(self.request.headers), args):
            self.json({"error": "invalid_client"}, status=401)
            return
        status, data = self.op.token_answer(args)
        self.json(data, status=status)


class UserinfoHandler(ProviderHandler):
    """GET /userinfo."""

    endpoint = "userinfo"

    def get(self) -> None:
        """Answer claims for a bearer token the provider issued."""
        token = self.request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.op.issued["access_token"]:
            self.json({"error": "invalid_token"}, status=401)
            return
        self.json({"sub": self.op.userinfo_sub or self.op.sub, "name": "Alice"})


class RevokeHandler(ProviderHandler):
    """POST /revoke (RFC 7009)."""

    endpoint = "revoke"

    def post(self) -> None:
        """Accept any revocation from the authenticated client."""
        args = {k: self.get_argument(k, strip=False) for k in self.request.body_arguments}
        if not self.op.client_authenticated(dict(self.request.headers), args):
            self.json({"error": "invalid_client"}, status=401)
            return
        self.json({})


class OAuthMetadataHandler(ProviderHandler):
    """GET /.well-known/oauth-authorization-server (RFC 8414), in one of its two forms."""

    endpoint = "oauth-metadata"

    def initialize(self, op: FakeOP, form: str = "standard") -> None:  # type: ignore[override]
        """Bind the handler to its provider and URL form."""
        super().initialize(op)
        self.form = form

    def get(self) -> None:
        """Answer the metadata of this form, or 404 when the test set none."""
        document = self.op.oauth_metadata.get(self.form)
        if document is None:
            self.json({"error": "not_found"}, status=404)
            return
        self.json(document)
