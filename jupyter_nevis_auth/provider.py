"""Async OpenID Connect client: discovery, JWKS, authorize URL, token calls, ID-token checks."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlparse, urlsplit, urlunparse

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.httputil import HTTPHeaders

from .config import SAFE_ALGORITHMS, NevisAuth, check_url
from .errors import (
    ConfigurationError,
    InvalidTokenError,
    OAuthError,
    ProviderError,
    ProviderTimeoutError,
)

#: Seconds discovery metadata is reused before it is read again.
METADATA_TTL = 3600.0
#: Seconds a key set is trusted before it is fetched again on the next validation.
JWKS_TTL = 3600.0
#: Seconds between two refetches of the key set forced by an unknown kid.
JWKS_MIN_REFETCH_INTERVAL = 30.0

#: Bytes of a provider answer read at most; a longer answer is refused unread.
MAX_ANSWER_BYTES = 1024 * 1024
#: RFC 7518 3.3 and 3.5: RSA keys for RS*/PS* signatures have at least this many bits.
MIN_RSA_BITS = 2048
#: RFC 7518 3.4: the curve each ECDSA algorithm is defined on.
EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
#: RFC 6749 5.2: the characters an OAuth error code may contain.
ERROR_CODE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}")

#: Nevis Identity Cloud's documented paths, used when an instance serves no discovery.
NEVIS_PATHS = {
    "authorization_endpoint": "/auth/oauth2/authorize",
    "token_endpoint": "/auth/oauth2/token",
    "revocation_endpoint": "/auth/oauth2/revoke",
    "jwks_uri": "/.well-known/jwks.json",
    "end_session_endpoint": "/sso/logout",
}

#: Configuration option overriding each discovered endpoint.
OVERRIDES = {
    "authorization_endpoint": "authorize_url",
    "token_endpoint": "token_url",
    "jwks_uri": "jwks_url",
    "userinfo_endpoint": "userinfo_url",
    "revocation_endpoint": "revocation_url",
    "end_session_endpoint": "logout_url",
}


def strip_query(url: str) -> str:
    """The URL without query string and fragment, safe to log."""
    return urlunparse(urlparse(url)._replace(query="", fragment=""))


def parse_json(body: bytes) -> Any:
    """`body` as JSON, or None when it is not: hostile input never raises here."""
    try:
        return json.loads(body)
    except Exception:  # ValueError, but also RecursionError on deep nesting and more
        return None


def oauth_error_code(data: Any) -> str:
    """The `error` of an OAuth error answer, or "" when there is no well-formed one."""
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, str) and ERROR_CODE.fullmatch(error) else ""


@dataclass(frozen=True)
class Answer:
    """One HTTP answer of the provider, read in full (and at most MAX_ANSWER_BYTES)."""

    code: int
    headers: HTTPHeaders
    body: bytes


class _AnswerTooLarge(Exception):
    """Raised while reading an answer longer than MAX_ANSWER_BYTES."""


@dataclass(frozen=True)
class ProviderMetadata:
    """The endpoints and capabilities of the provider that the flow uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str = ""
    revocation_endpoint: str = ""
    end_session_endpoint: str = ""
    token_endpoint_auth_methods_supported: tuple[str, ...] = ("client_secret_basic",)
    authorization_response_iss_parameter_supported: bool = False
    id_token_signing_alg_values_supported: tuple[str, ...] = ("RS256",)
    #: Empty when the provider does not say which scopes it offers.
    scopes_supported: tuple[str, ...] = ()


@dataclass
class _Cached:
    value: Any = None
    fetched_at: float = field(default=-1e12)

    def fresh(self, ttl: float) -> bool:
        return self.value is not None and time.monotonic() - self.fetched_at < ttl


class OIDCClient:
    """Talks to one OpenID provider on behalf of one confidential client."""

    def __init__(
        self,
        config: NevisAuth,
        http_client: AsyncHTTPClient | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.config = config
        self.http_client = http_client or AsyncHTTPClient()
        self.log = log or logging.getLogger(__name__)
        self._metadata = _Cached()
        # Set by a failed call: the next sign-in checks discovery before sending a browser
        # to a provider that may be down.
        self._failed = False
        self._jwks = _Cached()
        self._jwks_refetched_at = -1e12
        self._metadata_lock = asyncio.Lock()
        self._jwks_lock = asyncio.Lock()

    # -- HTTP ---------------------------------------------------------------

    async def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        body: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        what: str = "the provider",
    ) -> Answer:
        """One provider call with the configured timeout; any failure becomes ProviderError."""
        chunks: list[bytes] = []
        size = 0

        def collect(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise _AnswerTooLarge
            chunks.append(chunk)

        request = HTTPRequest(
            url,
            method=method,
            body=urlencode(body) if body is not None else None,
            headers={"Accept": "application/json", **(headers or {})},
            connect_timeout=self.config.http_timeout,
            request_timeout=self.config.http_timeout,
            validate_cert=self.config.validate_cert,
            ca_certs=self.config.ca_bundle or None,
            follow_redirects=False,
            streaming_callback=collect,
        )
        if body is not None:
            request.headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            response = await self.http_client.fetch(request, raise_error=False)
        except Exception as e:  # a malformed status line or header raises what it likes
            self._failed = True
            timed_out = isinstance(e, asyncio.TimeoutError) or (
                isinstance(e, HTTPClientError) and e.code == 599 and "Timeout" in str(e)
            )
            self.log.warning("%s %s failed: %s", method, strip_query(url), type(e).__name__)
            if timed_out:
                raise ProviderTimeoutError(
                    f"{what.capitalize()} did not answer within {self.config.http_timeout:g} "
                    "seconds; try again later."
                ) from e
            if isinstance(e, _AnswerTooLarge):
                raise ProviderError(
                    f"{what.capitalize()} sent an answer larger than "
                    f"{MAX_ANSWER_BYTES // 1024} KiB, which was refused; try again later."
                ) from e
            raise ProviderError(
                f"{what.capitalize()} could not be reached; try again later."
            ) from e
        if response.code >= 500:
            self._failed = True
        return Answer(response.code, response.headers, b"".join(chunks))

    async def fetch_json(self, url: str, *, what: str, **kwargs: Any) -> dict[str, Any]:
        """A provider call that must answer 200 with a JSON object."""
        response = await self.fetch(url, what=what, **kwargs)
        if response.code != 200:
            self.log.warning(
                "%s %s answered HTTP %s",
                kwargs.get("method", "GET"), strip_query(url), response.code,
            )  # fmt: skip
            raise ProviderError(
                f"{what.capitalize()} answered with HTTP status {response.code}; try again later."
            )
        return self._json_object(response, url, what)

    def _json_object(self, response: Answer, url: str, what: str) -> dict[str, Any]:
        data = parse_json(response.body)
        if not isinstance(data, dict):
            self.log.warning("%s answered with something that is not JSON", strip_query(url))
            raise ProviderError(f"{what.capitalize()} answered with something that is not JSON.")
        return data

    # -- discovery ----------------------------------------------------------

    async def metadata(self, *, recheck_after_failure: bool = False) -> ProviderMetadata:
        """The provider's endpoints: discovery, cached, with the configured overrides on top.

        With `recheck_after_failure`, discovery is read again if a call failed since.
        """
        recheck = recheck_after_failure and self._failed
        if self._metadata.fresh(METADATA_TTL) and not recheck:
            return self._metadata.value  # type: ignore[no-any-return]
        async with self._metadata_lock:
            if recheck or not self._metadata.fresh(METADATA_TTL):
                self._failed = False
                self._metadata.value = self._build_metadata(await self._discover())
                self._metadata.fetched_at = time.monotonic()
        return self._metadata.value  # type: ignore[no-any-return]

    def discovery_url(self) -> str:
        """Where the provider publishes its OpenID configuration."""
        return self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"

    async def _discover(self) -> dict[str, Any]:
        if all(getattr(self.config, OVERRIDES[k]) for k in
               ("authorization_endpoint", "token_endpoint", "jwks_uri")):  # fmt: skip
            return {}
        url = self.discovery_url()
        response = await self.fetch(url, what="the provider's discovery document")
        if response.code == 404 and self._is_nevis():
            return {k: self.config.issuer.rstrip("/") + v for k, v in NEVIS_PATHS.items()}
        if response.code != 200:
            self.log.warning("GET %s answered HTTP %s", url, response.code)
            raise ProviderError(
                f"The provider's discovery document at {url} answered with HTTP status "
                f"{response.code}; check NevisAuth.issuer."
            )
        data = self._json_object(response, url, "the provider's discovery document")
        if data.get("issuer") != self.config.issuer:
            self.log.error(
                "Discovery issuer %r does not equal the configured issuer %r",
                str(data.get("issuer"))[:200], self.config.issuer,
            )  # fmt: skip
            raise ProviderError(
                "The provider's discovery document names another issuer than NevisAuth.issuer; "
                "set the issuer exactly as the provider spells it."
            )
        if not data.get("revocation_endpoint") and not self.config.revocation_url:
            revocation = await self._revocation_from_oauth_metadata()
            if revocation:
                data = {**data, "revocation_endpoint": revocation}
        return data

    def oauth_metadata_urls(self) -> list[str]:
        """Where RFC 8414 metadata may be: the standard form, then the common one."""
        parts = urlsplit(self.config.issuer)
        path = parts.path.rstrip("/")
        standard = f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{path}"
        common = self.config.issuer.rstrip("/") + "/.well-known/oauth-authorization-server"
        return [standard] if standard == common else [standard, common]

    async def _revocation_from_oauth_metadata(self) -> str:
        """The revocation endpoint of the OAuth 2.0 server metadata, "" when none says one."""
        for url in self.oauth_metadata_urls():
            try:
                response = await self.fetch(url, what="the provider's OAuth metadata")
            except ProviderError:
                continue
            data = parse_json(response.body) if response.code == 200 else None
            if not isinstance(data, dict):
                continue
            endpoint = data.get("revocation_endpoint")
            # RFC 8414 3.3: metadata for another issuer must not be used.
            if data.get("issuer") == self.config.issuer and isinstance(endpoint, str):
                if _is_endpoint(endpoint):
                    return endpoint
        return ""

    def _is_nevis(self) -> bool:
        return (urlparse(self.config.issuer).hostname or "").endswith(".id.nevis.cloud")

    def _build_metadata(self, data: dict[str, Any]) -> ProviderMetadata:
        values: dict[str, Any] = {"issuer": self.config.issuer}
        for key, option in OVERRIDES.items():
            found = getattr(self.config, option) or data.get(key) or ""
            if not isinstance(found, str) or (found and not _is_endpoint(found)):
                raise ProviderError(f"The provider's discovery document has an invalid {key}.")
            values[key] = found
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not values[key]:
                raise ConfigurationError(
                    f"The provider publishes no {key}; set NevisAuth.{OVERRIDES[key]}."
                )
        for key in (
            "token_endpoint_auth_methods_supported",
            "id_token_signing_alg_values_supported",
            "scopes_supported",
        ):
            found = data.get(key)
            if isinstance(found, list) and all(isinstance(v, str) for v in found):
                values[key] = tuple(found)
        values["authorization_response_iss_parameter_supported"] = (
            data.get("authorization_response_iss_parameter_supported") is True
        )
        return ProviderMetadata(**values)

    # -- authorization request ----------------------------------------------

    def authorize_url(
        self,
        metadata: ProviderMetadata,
        *,
        state: str,
        nonce: str,
        code_challenge: str,
        redirect_uri: str,
    ) -> str:
        """The URL that sends the browser to the provider's sign-in."""
        params: dict[str, str] = {
            str(k): str(v) for k, v in self.config.extra_authorize_params.items()
        }
        params.update(
            response_type="code",
            client_id=self.config.client_id,
            redirect_uri=redirect_uri,
            scope=" ".join(self.requested_scopes(metadata)),
            state=state,
            nonce=nonce,
            code_challenge=code_challenge,
            code_challenge_method="S256",
        )
        separator = "&" if urlparse(metadata.authorization_endpoint).query else "?"
        return metadata.authorization_endpoint + separator + urlencode(params, quote_via=quote)

    def requested_scopes(self, metadata: ProviderMetadata) -> list[str]:
        """The configured scopes, less offline_access where the provider does not offer it.

        Providers that issue refresh tokens without offline_access (and do not list it)
        often refuse the whole request for it with invalid_scope.
        """
        scopes = list(self.config.scopes)
        if metadata.scopes_supported and "offline_access" not in metadata.scopes_supported:
            scopes = [s for s in scopes if s != "offline_access"]
        return scopes

    @staticmethod
    def unoffered_scopes(metadata: ProviderMetadata, scopes: list[str]) -> list[str]:
        """Those of `scopes` the provider does not list in scopes_supported (when it lists any)."""
        if not metadata.scopes_supported:
            return []
        return [s for s in scopes if s not in metadata.scopes_supported]

    # -- token endpoint -----------------------------------------------------

    def auth_method(self, metadata: ProviderMetadata) -> str:
        """The client authentication method used at the token and revocation endpoints."""
        if self.config.token_endpoint_auth_method:
            return self.config.token_endpoint_auth_method
        if "client_secret_basic" in metadata.token_endpoint_auth_methods_supported:
            return "client_secret_basic"
        return "client_secret_post"

    async def client_auth(
        self, metadata: ProviderMetadata, body: dict[str, str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Body and headers with the client's credentials added, per the auth method."""
        method = self.auth_method(metadata)
        body = dict(body)
        headers: dict[str, str] = {}
        if method == "none":
            body["client_id"] = self.config.client_id
            return body, headers
        # A secret file may sit on a slow network mount: never read it on the event loop.
        secret = await asyncio.to_thread(self.config.get_client_secret)
        if method == "client_secret_basic":
            # RFC 6749 2.3.1: both parts are form-urlencoded before the Basic encoding.
            pair = f"{quote(self.config.client_id, safe='')}:{quote(secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            body["client_id"] = self.config.client_id
            body["client_secret"] = secret
        return body, headers

    async def token_request(self, params: dict[str, str], *, what: str) -> dict[str, Any]:
        """POST to the token endpoint; an OAuth error answer raises OAuthError."""
        metadata = await self.metadata()
        body, headers = await self.client_auth(metadata, params)
        url = metadata.token_endpoint
        response = await self.fetch(url, method="POST", body=body, headers=headers, what=what)
        if response.code == 200:
            data = self._json_object(response, url, what)
            _check_token_answer(data, what)
            return data
        error = oauth_error_code(parse_json(response.body)) if 400 <= response.code < 500 else ""
        self.log.warning("POST %s answered HTTP %s %s", strip_query(url), response.code, error)
        if error:
            raise OAuthError(f"The provider refused the request ({error}).", error=error)
        raise ProviderError(
            f"{what.capitalize()} answered with HTTP status {response.code}; try again later."
        )

    async def exchange_code(
        self, code: str, code_verifier: str, redirect_uri: str
    ) -> dict[str, Any]:
        """Trade an authorization code for tokens (never retried)."""
        return await self.token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": code_verifier,
                "redirect_uri": redirect_uri,
            },
            what="the provider's token endpoint",
        )

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """Use a refresh token for a new access token."""
        return await self.token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token},
            what="the provider's token endpoint",
        )

    async def revoke(self, token: str, hint: str) -> bool:
        """Revoke a token at the provider (RFC 7009); False when it has no revocation endpoint."""
        metadata = await self.metadata()
        if not metadata.revocation_endpoint:
            return False
        body, headers = await self.client_auth(metadata, {"token": token, "token_type_hint": hint})
        response = await self.fetch(
            metadata.revocation_endpoint,
            method="POST",
            body=body,
            headers=headers,
            what="the provider's revocation endpoint",
        )
        if response.code != 200:
            self.log.warning(
                "POST %s answered HTTP %s", strip_query(metadata.revocation_endpoint), response.code
            )
            raise ProviderError(
                f"The provider's revocation endpoint answered with HTTP status {response.code}."
            )
        return True

    # -- ID token -----------------------------------------------------------

    async def _key_set(self, *, force: bool = False) -> jwt.PyJWKSet:
        async with self._jwks_lock:
            if force or not self._jwks.fresh(JWKS_TTL):
                metadata = await self.metadata()
                data = await self.fetch_json(metadata.jwks_uri, what="the provider's key set")
                keys = data.get("keys")
                try:
                    # RFC 7517 5: keys that cannot be used are skipped, not fatal.
                    self._jwks.value = jwt.PyJWKSet(
                        [k for k in keys if _usable_jwk(k)] if isinstance(keys, list) else []
                    )
                except jwt.PyJWTError as e:
                    raise ProviderError("The provider's key set holds no usable key.") from e
                self._jwks.fetched_at = time.monotonic()
            return self._jwks.value  # type: ignore[no-any-return]

    async def signing_key(self, kid: str | None) -> jwt.PyJWK:
        """The provider key for `kid`, refetching the key set once when the kid is new."""
        cached_at = self._jwks.fetched_at
        key = self._find_key(await self._key_set(), kid)
        # Only refetches forced by unknown kids are rate-limited: a key rotated right after
        # the set was cached must be found at once, and a set fetched just now is current.
        now = time.monotonic()
        if (
            key is None
            and self._jwks.fetched_at == cached_at
            and now - self._jwks_refetched_at > JWKS_MIN_REFETCH_INTERVAL
        ):
            self._jwks_refetched_at = now
            key = self._find_key(await self._key_set(force=True), kid)
        if key is None:
            raise InvalidTokenError(
                "The ID token is signed with a key the provider does not publish; sign in again."
            )
        return key

    def check_key(self, key: jwt.PyJWK, alg: str) -> None:
        """Refuse a key that does not fit `alg` or is too weak to trust (RFC 7518, RFC 8037)."""
        problem = key_problem(key.key, alg)
        if problem:
            self.log.warning("Refused an ID token signed with %s: %s", alg, problem)
            raise InvalidTokenError(
                f"The provider signed the ID token with {problem}, which is not trusted; ask "
                "the provider's administrator to use a stronger signing key."
            )

    @staticmethod
    def _find_key(keys: jwt.PyJWKSet, kid: str | None) -> jwt.PyJWK | None:
        usable = [k for k in keys.keys if k.public_key_use in (None, "sig")]
        if kid is None:
            return usable[0] if len(usable) == 1 else None
        return next((k for k in usable if k.key_id == kid), None)

    def allowed_algorithms(self) -> list[str]:
        """The configured algorithms that are safe; what the provider advertises is not trusted."""
        return [a for a in self.config.id_token_signing_algs if a in SAFE_ALGORITHMS]

    async def validate_id_token(
        self,
        id_token: str,
        *,
        nonce: str | None,
        expected_sub: str | None = None,
    ) -> dict[str, Any]:
        """Claims of `id_token` after every OIDC Core 3.1.3.7 check; raises InvalidTokenError."""
        try:
            return await self._validate_id_token(id_token, nonce, expected_sub)
        except (InvalidTokenError, ProviderError, ConfigurationError):
            raise
        except Exception as e:  # hostile content can break parsers in any way
            self.log.warning("Refused an ID token: %s", type(e).__name__)
            raise InvalidTokenError("The provider sent an invalid ID token (malformed).") from e

    async def _validate_id_token(
        self, id_token: str, nonce: str | None, expected_sub: str | None
    ) -> dict[str, Any]:
        metadata = await self.metadata()
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as e:
            raise InvalidTokenError("The provider sent an ID token that is not a JWT.") from e
        algorithms = self.allowed_algorithms()
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in algorithms:
            self.log.warning("Refused an ID token signed with alg %r", str(alg)[:20])
            raise InvalidTokenError(
                "The provider signed the ID token with an algorithm that is not allowed."
            )
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidTokenError("The provider sent an invalid ID token (malformed kid).")
        key = await self.signing_key(kid)
        self.check_key(key, alg)
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key,
                algorithms=[alg],
                audience=self.config.client_id,
                issuer=metadata.issuer,
                leeway=self.config.clock_skew,
                options={"require": ["iss", "sub", "aud", "exp", "iat"], "strict_aud": False},
            )
        except jwt.PyJWTError as e:
            self.log.warning("Refused an ID token: %s", type(e).__name__)
            raise InvalidTokenError(f"The provider sent an invalid ID token ({_reason(e)}).") from e
        if (
            not isinstance(claims["iat"], (int, float))
            or claims["iat"] > time.time() + self.config.clock_skew
        ):
            raise InvalidTokenError("The provider sent an invalid ID token (issued in the future).")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != self.config.client_id:
            raise InvalidTokenError("The provider sent an invalid ID token (wrong azp).")
        if nonce is not None and claims.get("nonce") != nonce:
            raise InvalidTokenError("The provider sent an invalid ID token (nonce mismatch).")
        if expected_sub is not None and claims.get("sub") != expected_sub:
            raise InvalidTokenError("The provider sent an ID token for another user.")
        return claims


def _is_endpoint(url: str) -> bool:
    """Whether `url` is an https URL (http only on loopback), as every endpoint must be."""
    try:
        parsed = urlsplit(url)
        parsed.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        return False
    # An authorization endpoint may carry a query of its own (OIDC Discovery 3).
    return check_url(parsed._replace(query="").geturl(), "endpoint") is None


def key_problem(key: Any, alg: str) -> str | None:
    """Why `key` must not verify `alg` signatures, or None when it may."""
    if alg[:2] in ("RS", "PS"):
        if not isinstance(key, rsa.RSAPublicKey):
            return "a key that is not an RSA key"
        if key.key_size < MIN_RSA_BITS:
            return f"an RSA key of {key.key_size} bits (at least {MIN_RSA_BITS} are required)"
    elif alg in EC_CURVES:
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != EC_CURVES[alg]:
            return f"a key that is not on the curve {alg} requires"
    elif alg == "EdDSA":
        if not isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            return "a key that is not an Ed25519 or Ed448 (OKP) key"
    else:
        return f"the algorithm {alg}"
    return None


def _check_token_answer(data: dict[str, Any], what: str) -> None:
    """Refuse a token answer whose fields have the wrong types, before any part is kept."""
    if not isinstance(data.get("access_token"), str) or not data["access_token"]:
        raise ProviderError(f"{what.capitalize()} answered without an access token.")
    # Only Bearer: this client never binds tokens with DPoP.
    token_type = data.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise ProviderError(f"{what.capitalize()} answered with an unknown token type.")
    for name in ("refresh_token", "id_token", "scope"):
        if name in data and data[name] is not None and not isinstance(data[name], str):
            raise ProviderError(f"{what.capitalize()} answered with a malformed {name}.")


def _usable_jwk(jwk: Any) -> bool:
    """Whether pyjwt can load `jwk`; on some malformed keys it raises more than PyJWTError."""
    if not isinstance(jwk, dict):
        return False
    try:
        jwt.PyJWK(jwk)
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return False
    return True


def _reason(error: jwt.PyJWTError) -> str:
    reasons = {
        jwt.InvalidSignatureError: "bad signature",
        jwt.ExpiredSignatureError: "expired",
        jwt.InvalidAudienceError: "wrong audience",
        jwt.InvalidIssuerError: "wrong issuer",
        jwt.ImmatureSignatureError: "not yet valid",
        jwt.MissingRequiredClaimError: "a required claim is missing",
        jwt.InvalidAlgorithmError: "algorithm not allowed",
    }
    for kind, text in reasons.items():
        if isinstance(error, kind):
            return text
    return "malformed"
