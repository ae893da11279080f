"""What the doctor checks of PAR, private_key_jwt and the FAPI 2.0 profile, one item each."""

from __future__ import annotations

from ..config_checks import uses_client_key
from ..errors import SettingsError
from ..oidc.profile import fapi2_problems, par_problem, uses_par
from .context import Context

#: One thing the provider or the configuration lacks, and what to do about it.
Lacking = tuple[str, str]


async def assurance(ctx: Context) -> tuple[list[str], list[Lacking]]:
    """What is in use of PAR, client keys and FAPI 2.0, and what they lack, with the fix."""
    config, metadata, client = ctx.config, ctx.metadata, ctx.provider.client
    assert metadata is not None
    offered: list[str] = []
    lacking: list[Lacking] = []
    problem = par_problem(config, metadata)
    if problem:
        detail, _, fix = problem.partition("; ")
        lacking.append((detail[0].lower() + detail[1:], fix))
    elif uses_par(config, metadata):
        offered.append("pushed authorization requests")
    if uses_client_key(config):
        try:
            keys = await client.client_keys()
        except SettingsError as e:
            detail, _, fix = str(e).partition("; ")
            lacking.append((f"a usable client key ({detail.rstrip('.')})", fix))
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
    for sentence in fapi2_problems(config, metadata):
        what = sentence.split(" needs ", 1)[1].split(", which", 1)[0]
        lacking.append((what, "enable it for the application at the provider."))
    if config.profile == "fapi2" and not lacking:
        offered.append("every FAPI 2.0 requirement")
    return offered, lacking
