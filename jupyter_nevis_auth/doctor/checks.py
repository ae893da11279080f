"""The steps against the provider: discovery, what it offers, its keys, scopes and clock."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..errors import NevisAuthError, ProviderError
from ..oidc.http import parse_json
from ..oidc.id_token import key_problem
from .assurance import assurance
from .context import Context, unreachable, unreachable_fix
from .report import Check, clause, failed, passed, shown


async def discovery(ctx: Context, name: str) -> Check:
    """Discovery reachable in time, TLS valid, issuer exactly as configured, endpoints usable."""
    config, client = ctx.config, ctx.provider.client
    if all((config.authorize_url, config.token_url, config.jwks_url)):
        ctx.metadata = await client.metadata()
        return passed(name, f"not read: {ctx.label}.authorize_url, token_url and jwks_url are set")
    url = client.discovery.discovery_url()
    started = time.monotonic()
    try:
        answer = await ctx.fetch(url, what="the provider's discovery document")
    except ProviderError as e:
        return failed(name, f"{url}: {unreachable(config, e)}", unreachable_fix(ctx, e))
    elapsed = (time.monotonic() - started) * 1000
    if answer.code == 200:
        document = parse_json(answer.body)
        if not isinstance(document, dict):
            return failed(
                name,
                f"{url} answered with something that is not JSON",
                f"check {ctx.label}.issuer ({ctx.env('issuer')}).",
            )
        issuer = document.get("issuer")
        if issuer != config.issuer:
            return failed(name, *_issuer_mismatch(ctx, url, issuer))
        ctx.document = document
    try:
        ctx.metadata = await client.metadata()
    except NevisAuthError as e:
        if answer.code != 200:
            return failed(
                name,
                f"{url} answered HTTP {answer.code}",
                f"check {ctx.label}.issuer "
                f"({ctx.env('issuer')}): the provider publishes its OpenID "
                "configuration there.",
            )
        detail, _, fix = str(e).partition("; ")
        return failed(name, f"{url}: {detail.rstrip('.')}", fix or f"check {ctx.label}.issuer.")
    https = urlsplit(url).scheme == "https"
    if https and not config.validate_cert:
        return failed(
            name,
            f"{url}: the provider's TLS certificate is not checked",
            f"turn {ctx.label}.validate_cert on; for a private CA set {ctx.label}.ca_bundle.",
        )
    found = "issuer matches" if ctx.document else "none: Nevis Identity Cloud's documented paths"
    tls = ", TLS certificate valid" if https else ""
    return passed(name, f"{url} ({found}{tls}, {elapsed:.0f} ms)")


def _issuer_mismatch(ctx: Context, url: str, issuer: object) -> tuple[str, str]:
    configured = ctx.config.issuer
    if not isinstance(issuer, str):
        return f"{url} names no issuer", f"check {ctx.label}.issuer ({ctx.env('issuer')})."
    hint = ""
    if issuer.rstrip("/") == configured.rstrip("/"):
        hint = " (mind the trailing slash)"
    return (
        f"the provider calls itself {shown(issuer)}, but {ctx.label}.issuer is {shown(configured)}",
        f"set {ctx.label}.issuer ({ctx.env('issuer')}) to exactly {shown(issuer)}{hint}.",
    )


async def features(ctx: Context, name: str) -> Check:
    """What the provider offers (PKCE S256, iss, revocation, PAR...) against what is asked."""
    metadata, client = ctx.metadata, ctx.provider.client
    assert metadata is not None
    offered: list[str] = []
    lacking: list[tuple[str, str]] = []  # what is missing, and the fix
    methods = ctx.document.get("code_challenge_methods_supported")
    if not isinstance(methods, list):
        offered.append("PKCE S256 (not advertised)")
    elif "S256" in methods:
        offered.append("PKCE S256")
    else:
        lacking.append(
            (
                "PKCE S256 (not in code_challenge_methods_supported)",
                "enable PKCE with S256 for the application at the provider.",
            )
        )
    iss = metadata.authorization_response_iss_parameter_supported
    offered.append("iss in responses" if iss else "no iss in responses")
    if metadata.revocation_endpoint:
        offered.append("revocation")
    else:
        lacking.append(
            (
                "a revocation endpoint",
                f"set {ctx.label}.revocation_url if the provider has one; without it "
                "sign-out cannot revoke tokens.",
            )
        )
    exchanging = [a.name for a in ctx.apis if a.token_exchange]
    if client.offers_token_exchange(metadata):
        offered.append("token exchange")
    elif not exchanging:
        offered.append("no token exchange")
    else:
        lacking.append(
            (
                f"token exchange (asked for by NevisAuth.apis {', '.join(exchanging)})",
                "enable the token-exchange grant at the provider, or set "
                "token_exchange to false for those APIs.",
            )
        )
    device = ctx.document.get("device_authorization_endpoint")
    offered.append("device flow" if device else "no device flow")
    resources = sorted({a.resource for a in ctx.apis if a.resource})
    if resources:
        # No metadata field says so: the first narrowed refresh or exchange tells.
        offered.append(f"resource indicators for {', '.join(resources)} (not advertised)")
    more, missing, others = await assurance(ctx)
    offered += more
    lacking += missing
    if lacking or others:
        clauses = ["the provider lacks " + "; ".join(w for w, _ in lacking)] if lacking else []
        fixes = list(dict.fromkeys(fix for _, fix in lacking + others))
        return failed(
            name,
            "; ".join(clauses + [w for w, _ in others]),
            " ".join([fixes[0], *(f[:1].upper() + f[1:] for f in fixes[1:])]),
        )
    return passed(name, ", ".join(offered))


def _key_kind(key: Any) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size} bits"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    return type(key).__name__.removeprefix("_").replace("PublicKey", "")


async def keys(ctx: Context, name: str) -> Check:
    """The JWKS reachable, its keys usable with the allowed algorithms and strong enough."""
    metadata, validator = ctx.metadata, ctx.provider.client.id_tokens
    assert metadata is not None
    problem = validator.algorithm_problem(metadata)
    if problem:
        detail, _, fix = problem.partition("; ")
        return failed(name, clause(detail), fix)
    try:
        key_set = await validator.key_set(force=True)
    except ProviderError as e:
        reason = unreachable(ctx.config, e) if e.__cause__ else clause(str(e).partition("; ")[0])
        return failed(
            name,
            f"{metadata.jwks_uri}: {reason.rstrip('.')}",
            f"check that the provider publishes its keys there ({ctx.label}.jwks_url "
            "overrides the discovered jwks_uri).",
        )
    allowed = validator.allowed_algorithms()
    usable: list[str] = []
    refused: list[str] = []
    for key in key_set.keys:
        if key.public_key_use not in (None, "sig") or key.algorithm_name not in allowed:
            continue
        kid = f"kid {shown(key.key_id or '-')}"
        weak = key_problem(key.key, key.algorithm_name)
        if weak:
            refused.append(f"{weak} ({key.algorithm_name}, {kid})")
        else:
            usable.append(f"{key.algorithm_name} {_key_kind(key.key)}, {kid}")
    if refused:
        return failed(
            name,
            f"{metadata.jwks_uri} publishes {'; '.join(refused)}, which this server refuses",
            "ask the provider's administrator for stronger signing keys "
            "(RSA of at least 2048 bits, or EC).",
        )
    if not usable:
        return failed(
            name,
            f"{metadata.jwks_uri} publishes no signing key for the allowed "
            f"algorithms ({' '.join(allowed)})",
            f"add the provider's algorithm to "
            f"{ctx.label}.id_token_signing_algs ({ctx.env('id_token_signing_algs')}).",
        )
    return passed(name, f"{metadata.jwks_uri}: {'; '.join(usable)}")


async def scopes(ctx: Context, name: str) -> Check:
    """The requested scopes (the provider's and its APIs') against scopes_supported."""
    metadata, client = ctx.metadata, ctx.provider.client
    assert metadata is not None
    requested = client.requested_scopes(metadata)
    wanted = requested + [s for a in ctx.apis for s in a.scopes if s not in requested]
    note = ""
    if "offline_access" in ctx.config.scopes and "offline_access" not in requested:
        note = "; offline_access is left out: the provider does not list it"
    if not metadata.scopes_supported:
        return passed(name, f"{' '.join(wanted)} (the provider does not list its scopes){note}")
    unoffered = client.unoffered_scopes(metadata, wanted)
    if unoffered:
        askers = (
            [f"{ctx.label}.scopes ({ctx.env('scopes')})"]
            if set(unoffered) & set(ctx.config.scopes)
            else []
        )
        askers += [
            f'NevisAuth.apis["{a.name}"].scopes' for a in ctx.apis if set(unoffered) & set(a.scopes)
        ]
        offered = shown(" ".join(metadata.scopes_supported))
        return failed(
            name,
            f"{' '.join(unoffered)} requested, but the provider offers {offered}",
            f"remove it from {' and '.join(askers)}, or have the provider assign it to "
            "the application.",
        )
    return passed(name, f"{' '.join(wanted)}, all offered by the provider{note}")


async def clock(ctx: Context, name: str) -> Check:
    """The provider's Date header against this machine's clock, within NevisAuth.clock_skew."""
    assert ctx.clock is not None
    date, local = ctx.clock
    try:
        offset = parsedate_to_datetime(date).timestamp() - local
    except (TypeError, ValueError):
        return passed(name, "not checked: the provider's Date header is malformed")
    allowed = ctx.config.clock_skew
    # A Date header counts whole seconds: one second more is no skew.
    if abs(offset) > allowed + 1:
        direction = "ahead of" if offset > 0 else "behind"
        return failed(
            name,
            f"the provider's clock is {round(abs(offset))} s {direction} this "
            f"machine's, more than NevisAuth.clock_skew ({allowed} s)",
            "synchronise this machine's clock (NTP); raising NevisAuth.clock_skew "
            "would only hide the difference.",
        )
    return passed(
        name,
        f"the provider's clock is within {max(1, round(abs(offset)))} s of this "
        f"machine's (NevisAuth.clock_skew allows {allowed} s)",
    )
