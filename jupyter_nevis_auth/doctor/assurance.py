"""What the doctor checks of PAR, private_key_jwt and the FAPI 2.0 profile."""

from __future__ import annotations

import secrets

from ..core.config_checks import uses_client_key
from ..core.pending import new_state, pkce_challenge
from ..errors import NevisAuthError, OAuthError, SettingsError
from ..oidc import refusals
from ..oidc.authorize import authorize_params, push
from ..oidc.profile import DPOP_ALGORITHM, dpop_warning, fapi2_problems, par_problem, uses_par
from .context import Context
from .report import Check, clause, failed, passed, unconfirmed

#: One thing the provider lacks (or, from assurance(), a problem as a clause that reads on
#: its own), and what to do about it.
Lacking = tuple[str, str]


async def assurance(ctx: Context) -> tuple[list[str], list[Lacking], list[Lacking]]:
    """What is in use of PAR, client keys and FAPI 2.0; what the provider lacks of them; and
    other problems with them, as clauses; each with the fix."""
    config, metadata, client = ctx.config, ctx.metadata, ctx.provider.client
    assert metadata is not None
    offered: list[str] = []
    lacking: list[Lacking] = []
    others: list[Lacking] = []
    problem = par_problem(config, metadata)
    detail, _, par_fix = problem.partition("; ")
    if problem:
        if config.profile != "fapi2":  # under fapi2, one of the lacks below
            others.append((clause(detail), par_fix))
    elif uses_par(config, metadata):
        offered.append("pushed authorization requests")
    if uses_client_key(config):
        try:
            keys = await client.client_keys()
        except SettingsError as e:
            detail, _, fix = str(e).partition("; ")
            others.append((f"no usable client key: {clause(detail.rstrip('.'))}", fix))
        else:
            first = keys.keys[0]
            offered.append(
                f"private_key_jwt ({first.algorithm(config.profile == 'fapi2')}, kid "
                f"{first.kid}, {len(keys.keys)} key(s) published)"
            )
        if (
            config.profile != "fapi2"
            and "private_key_jwt" not in metadata.token_endpoint_auth_methods_supported
        ):
            lacking.append(
                (
                    "private_key_jwt (not in token_endpoint_auth_methods_supported)",
                    "allow private_key_jwt for the application at the provider and register "
                    "its public keys (the output of make-client-key, or nevis/jwks.json).",
                )
            )
    if dpop_warning(config, metadata):
        lacking.append(
            (
                f"DPoP with {DPOP_ALGORITHM} (not in dpop_signing_alg_values_supported)",
                "enable DPoP for the application at the provider, or turn dpop off.",
            )
        )
    elif config.dpop and DPOP_ALGORITHM in metadata.dpop_signing_alg_values_supported:
        offered.append(f"DPoP ({DPOP_ALGORITHM} proofs)")
    for sentence in fapi2_problems(config, metadata):
        what = sentence.split(" needs ", 1)[1].split(", which", 1)[0]
        pushed = what.startswith("pushed authorization requests") and par_fix
        lacking.append(
            (what, par_fix if pushed else "enable it for the application at the provider.")
        )
    if config.profile == "fapi2" and not lacking and not others:
        offered.append("every FAPI 2.0 requirement")
    return offered, lacking, others


async def pushed_redirect_uri(ctx: Context, name: str, uri: str, control: str) -> Check | None:
    """With PAR, the redirect URI as the PAR endpoint judges it (before any browser is sent);
    None when sign-ins do not push. `control` is a URI beside it that nobody registered."""
    config, metadata = ctx.config, ctx.metadata
    assert metadata is not None
    if not (uses_par(config, metadata) and metadata.pushed_authorization_request_endpoint):
        return None
    endpoint = metadata.pushed_authorization_request_endpoint
    try:
        error, other = await _push(ctx, uri), await _push(ctx, control)
    except SettingsError as e:  # a setting here (the client key), not the provider
        detail, _, fix = str(e).partition("; ")
        return failed(name, clause(detail).rstrip("."), fix or "fix that setting.")
    except NevisAuthError as e:
        return failed(name, f"{endpoint}: {clause(str(e)).rstrip('.')}", "try again later.")
    if error in ("invalid_client", "unauthorized_client"):
        return failed(
            name,
            f"the pushed authorization request endpoint refused the client ({error})",
            f"check {config.label}.client_id and {refusals.credentials(config)}.",
        )
    if error:
        return failed(
            name,
            f"{uri}: the pushed authorization request endpoint refused it ({error})",
            f"register {uri} exactly among the redirect URIs of {config.label}.client_id at "
            f"the provider, or fix {config.label}.redirect_uri ({ctx.env('redirect_uri')}).",
        )
    if other:
        return passed(
            name,
            f"{uri} accepted by the pushed authorization request endpoint, which refused an "
            f"unregistered one beside it ({other})",
        )
    return unconfirmed(
        name,
        f"{uri} not confirmed: the pushed authorization request endpoint took {control}, "
        "which is certainly not registered, as well",
        f"sign in once through Jupyter, or check that {uri} is exactly among the redirect "
        f"URIs registered for {config.label}.client_id at the provider.",
    )


async def _push(ctx: Context, redirect_uri: str) -> str:
    """Push a throwaway authorization request; the OAuth error it got, "" when accepted."""
    assert ctx.metadata is not None
    client = ctx.provider.client
    params = authorize_params(
        client,
        ctx.metadata,
        state=new_state(),
        nonce=secrets.token_urlsafe(32),
        code_challenge=pkce_challenge(secrets.token_urlsafe(48)),
        redirect_uri=redirect_uri,
        extra_scopes=tuple(s for a in ctx.apis for s in a.scopes),
    )
    try:
        await push(client, ctx.metadata, params)
    except OAuthError as e:
        return e.error
    return ""
