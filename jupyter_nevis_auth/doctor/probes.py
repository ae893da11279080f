"""Probes that ask the provider without creating anything: client authentication, redirect URI."""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit, urlunsplit

from ..core.config import NevisAuth
from ..core.pending import new_state, pkce_challenge
from ..core.providers import PROVIDER_OPTIONS, SHARED_OPTIONS
from ..core.urls import strip_query
from ..errors import SettingsError
from ..oidc import OIDCClient, refusals
from ..oidc.http import HTTPAnswer, oauth_error_code, parse_json
from .assurance import pushed_redirect_uri
from .context import Context
from .report import Check, failed, passed, shown, unconfirmed

#: The client authentication methods a confidential client can use.
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
#: Where the token probe says the code came back to when no redirect URI is known.
PLACEHOLDER_REDIRECT = "https://jupyter.invalid/nevis/callback"
#: An OAuth error code named in an HTML error page.
ERROR_IN_PAGE = re.compile(
    r"\b(invalid_[a-z_]+|unauthorized_client|unsupported_response_type|access_denied)\b"
)
#: Bytes of an error page searched for an error code.
PAGE_BYTES = 65536
#: The first path segment of the control redirect URI, before a random part.
CONTROL_SEGMENT = "unregistered-"


def _error(answer: HTTPAnswer) -> tuple[str, str | None]:
    """The OAuth error code and description of an answer ("" when it has none)."""
    data = parse_json(answer.body)
    description = data.get("error_description") if isinstance(data, dict) else None
    return oauth_error_code(data), description if isinstance(description, str) else None


def _with_method(ctx: Context, method: str) -> OIDCClient:
    """A client like the provider's but authenticating with `method` (nothing else changes)."""
    config = ctx.config
    values = {n: getattr(config, n) for n in PROVIDER_OPTIONS + SHARED_OPTIONS}
    values["token_endpoint_auth_method"] = method
    other = NevisAuth(env_prefix=config.env_prefix, log=config.log, **values)
    other.label = config.label
    client = ctx.provider.client
    return OIDCClient(other, http_client=client.http.http_client, log=client.http.log)


async def _token_probe(ctx: Context, client: OIDCClient) -> HTTPAnswer:
    """Trade a made-up code: only the client's credentials can make this fail another way."""
    assert ctx.metadata is not None
    body = {
        "grant_type": "authorization_code",
        "code": secrets.token_urlsafe(32),
        "redirect_uri": ctx.redirect_uri or PLACEHOLDER_REDIRECT,
        "code_verifier": secrets.token_urlsafe(48),
    }
    data, headers = await client.client_auth(ctx.metadata, body)
    return await ctx.fetch(
        ctx.metadata.token_endpoint,
        method="POST",
        body=data,
        headers=headers,
        what="the provider's token endpoint",
    )


def _said(description: str | None) -> str:
    """The provider's error_description, made safe to print ("" when there is none)."""
    return f" (it said {shown(description)})" if description else ""


def _refused_client(answer: HTTPAnswer, error: str) -> bool:
    return error == "invalid_client" or (answer.code == 401 and not error)


async def client_authentication(ctx: Context, name: str) -> Check:
    """The client's credentials and auth method accepted: invalid_grant, not invalid_client."""
    metadata, client = ctx.metadata, ctx.provider.client
    assert metadata is not None
    label = ctx.label
    method = client.auth_method(metadata)
    answer = await _token_probe(ctx, client)
    error, description = _error(answer)
    if answer.code == 200:
        return failed(
            name,
            "the provider issued tokens for a made-up authorization code",
            "report this to the provider's administrator: it must refuse such codes.",
        )
    if error == "invalid_grant":
        return passed(name, f"{method} accepted (a made-up code was refused with invalid_grant)")
    if _refused_client(answer, error):
        advertised = metadata.token_endpoint_auth_methods_supported
        secret = await _secret(ctx)
        for other in SECRET_METHODS if secret else ():
            if other == method or (advertised and other not in advertised):
                continue
            retry = await _token_probe(ctx, _with_method(ctx, other))
            if _error(retry)[0] == "invalid_grant":
                return failed(
                    name,
                    f"the provider refused {method} (invalid_client) but accepts {other}",
                    f"set {label}.token_endpoint_auth_method "
                    f"({ctx.env('token_endpoint_auth_method')}) to {other}.",
                )
        return failed(
            name,
            f"the provider answered invalid_client to {method}",
            f"check {label}.client_id, {refusals.credentials(ctx.config)} and "
            f"{label}.token_endpoint_auth_method: they must be the application's at the "
            "provider.",
        )
    said = _said(description)
    if error == "unauthorized_client":
        return failed(
            name,
            f"the provider answered unauthorized_client{said}",
            f"allow the authorization code grant for {label}.client_id at the provider.",
        )
    if error in refusals.TRANSIENT or answer.code >= 500:
        return failed(
            name,
            f"the token endpoint answered {error or f'HTTP {answer.code}'}",
            "try again later; if it persists, ask the provider's administrator.",
        )
    what = error or f"HTTP {answer.code} without an OAuth error"
    return failed(
        name,
        f"the token endpoint answered {what} to a made-up code{said}",
        f"check {label}.client_id, {label}.token_endpoint_auth_method and the "
        f"provider's token endpoint ({label}.token_url overrides it).",
    )


async def _secret(ctx: Context) -> str:
    try:
        # A secret file may sit on a slow network mount, as OIDCClient.client_auth knows.
        return str(await asyncio.to_thread(ctx.config.get_client_secret))
    except SettingsError:
        return ""


def _authorize_url(ctx: Context, redirect_uri: str) -> str:
    """The authorization request a sign-in would make, with throwaway state, nonce and PKCE."""
    assert ctx.metadata is not None
    # The sign-in asks for every API's scopes of the provider once (see SignIns.start).
    extra = tuple(s for a in ctx.apis for s in a.scopes)
    return ctx.provider.client.authorize_url(
        ctx.metadata,
        state=new_state(),
        nonce=secrets.token_urlsafe(32),
        code_challenge=pkce_challenge(secrets.token_urlsafe(48)),
        redirect_uri=redirect_uri,
        extra_scopes=extra,
    )


def _control(uri: str) -> str:
    """A URI beside `uri` that nobody registered: the same one under a random first segment."""
    parts = urlsplit(uri)
    path = f"/{CONTROL_SEGMENT}{secrets.token_hex(4)}{parts.path or '/'}"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _refused(answer: HTTPAnswer) -> bool:
    """Whether the authorization endpoint answered with an error page (a 4xx, no redirect)."""
    return 400 <= answer.code < 500


async def redirect_uri(ctx: Context, name: str) -> Check:
    """The redirect URI registered: sent on, not to an error page, where another one is refused."""
    label, uri = ctx.label, ctx.redirect_uri
    if not uri:
        return failed(
            name,
            f"not checked: {label}.redirect_uri is not set, so the server "
            "derives it from each request",
            "run the doctor with --server-url=<the URL "
            "users open Jupyter at> (or --redirect-uri=<URI>), or set "
            f"{label}.redirect_uri ({ctx.env('redirect_uri')}).",
        )
    where = f"{uri} ({ctx.redirect_origin})"
    # With PAR the authorization endpoint may refuse anything not pushed: ask the PAR endpoint.
    pushed = await pushed_redirect_uri(ctx, name, uri, _control(uri))
    if pushed is not None:
        return pushed
    answer = await _ask_authorize(ctx, uri)
    how = _how(ctx, uri, answer)
    if not isinstance(how, str):
        return how.check(name, where)
    # A provider that signs the browser in first (django-oauth-toolkit does) sends any URI
    # to its login page: only a URI it refuses shows that it looked at this one at all.
    control = _control(uri)
    other = await _ask_authorize(ctx, control)
    if _refused(other):
        return passed(
            name,
            f"{where} accepted: the provider {how}, and refused an unregistered one beside it "
            f"(HTTP {other.code})",
        )
    seen = _how(ctx, control, other)
    if seen == how:
        detail = (
            f"the provider answers {control}, which is certainly not registered, alike (it "
            f"{how}), so it checks redirect URIs only later, after a sign-in"
        )
    else:
        said = seen if isinstance(seen, str) else f"answers HTTP {other.code}"
        detail = (
            f"the provider {how}, but it did not refuse {control}, which is certainly not "
            f"registered, either (it {said})"
        )
    return unconfirmed(
        name,
        f"{where} not confirmed: {detail}",
        "sign in once through Jupyter to see the provider send you back, or check that "
        f"{uri} is exactly among the redirect (return) URIs registered for "
        f"{label}.client_id at the provider.",
    )


async def _ask_authorize(ctx: Context, uri: str) -> HTTPAnswer:
    """One authorization request with `uri`, not followed."""
    return await ctx.fetch(_authorize_url(ctx, uri), what="the provider's authorization endpoint")


@dataclass(frozen=True)
class _Refusal:
    """Why the authorization endpoint refused a request, to become the check's failure."""

    ctx: Context
    uri: str
    answer: HTTPAnswer
    error: str
    #: The provider's error_description, made safe to print.
    said: str = ""
    #: Sent back to the URI with an error: registered, but the request was refused.
    registered: bool = False

    def check(self, name: str, where: str) -> Check:
        """The failed check, with what to change."""
        label, answer, error = self.ctx.label, self.answer, self.error
        if self.registered:
            fix = refusals.authorize_fixes(self.ctx.config).get(
                error, f"check {label}.scopes and {label}.extra_authorize_params"
            )
            return failed(
                name,
                f"{where} is registered, but the provider refused the sign-in request "
                f"({error}){self.said}",
                fix + ".",
            )
        if answer.code >= 500:
            return failed(
                name,
                f"the authorization endpoint answered HTTP {answer.code}",
                "try again later; if it persists, ask the provider's administrator.",
            )
        if error == "invalid_client":
            return failed(
                name,
                f"the provider does not know {label}.client_id (invalid_client)",
                f"set {label}.client_id ({self.ctx.env('client_id')}) to the application's "
                "client id at the provider.",
            )
        said = f", {error}" if error else ""
        return failed(
            name,
            f"the provider refused an authorization request with {where} (HTTP "
            f"{answer.code}{said}): it is not registered",
            f"register {self.uri} exactly as an "
            "allowed redirect (return) URI of the application at the provider, or set "
            f"{label}.redirect_uri to the one registered.",
        )


def _how(ctx: Context, uri: str, answer: HTTPAnswer) -> str | _Refusal:
    """How the provider went on with a request for `uri` ("sends the browser..."), or why not."""
    assert ctx.metadata is not None
    location = answer.headers.get("Location")
    if answer.code in (301, 302, 303, 307, 308) and location:
        target = urljoin(ctx.metadata.authorization_endpoint, location)
        if strip_query(target) != strip_query(uri):
            site = urlsplit(target)
            return f"sends the browser to its sign-in page at {site.scheme}://{site.netloc}"
        parts = urlsplit(target)
        params = parse_qs(parts.query or parts.fragment)
        error = oauth_error_code({"error": params.get("error", [""])[0]})
        if not error or error in refusals.REFUSALS:
            return "sends the browser back to it" + (f" ({error})" if error else "")
        said = _said(params.get("error_description", [""])[0])
        return _Refusal(ctx, uri, answer, error, said, registered=True)
    if answer.code == 200:
        return "shows its sign-in page"
    error = "" if answer.code >= 500 else _error(answer)[0] or _error_in_page(answer)
    return _Refusal(ctx, uri, answer, error)


def _error_in_page(answer: HTTPAnswer) -> str:
    match = ERROR_IN_PAGE.search(answer.body[:PAGE_BYTES].decode("utf-8", "replace"))
    return match.group(1) if match else ""
