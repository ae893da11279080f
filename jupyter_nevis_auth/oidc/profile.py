"""What the configuration asks of the provider: PAR (RFC 9126) and the FAPI 2.0 profile."""

from __future__ import annotations

from ..core.config import NevisAuth
from ..core.config_checks import uses_client_key
from .discovery import ProviderMetadata

#: The only PKCE method this client sends (RFC 7636 4.2).
PKCE_METHOD = "S256"
#: The only algorithm of this client's DPoP proofs.
DPOP_ALGORITHM = "ES256"


def par_required(config: NevisAuth, metadata: ProviderMetadata) -> bool:
    """Whether sign-ins must use a pushed authorization request."""
    return (
        config.use_par == "always"
        or config.profile == "fapi2"
        or metadata.require_pushed_authorization_requests
    )


def uses_par(config: NevisAuth, metadata: ProviderMetadata) -> bool:
    """Whether a sign-in pushes its authorization request (see par_problem for when it can't)."""
    if config.use_par == "never" and config.profile != "fapi2":
        return False
    return bool(metadata.pushed_authorization_request_endpoint) or par_required(config, metadata)


def par_problem(config: NevisAuth, metadata: ProviderMetadata) -> str:
    """The sentence refusing sign-ins for want of PAR, or "" when they can go ahead."""
    if metadata.pushed_authorization_request_endpoint or not par_required(config, metadata):
        if config.use_par == "never" and metadata.require_pushed_authorization_requests:
            return (
                "The provider requires pushed authorization requests "
                f"(require_pushed_authorization_requests); unset {config.option('use_par')}."
            )
        return ""
    why = (
        f'{config.label}.profile is "fapi2"'
        if config.profile == "fapi2"
        else f"{config.label}.use_par is always"
        if config.use_par == "always"
        else "the provider requires them"
    )
    return (
        "The provider advertises no pushed authorization request endpoint, which sign-ins "
        f"need because {why}; set {config.option('par_url')} if it has one."
    )


def fapi2_problems(config: NevisAuth, metadata: ProviderMetadata) -> list[str]:
    """One sentence for each FAPI 2.0 requirement the provider does not advertise."""
    if config.profile != "fapi2":
        return []
    lacking: list[str] = []
    if not metadata.pushed_authorization_request_endpoint:
        lacking.append("pushed authorization requests (no pushed_authorization_request_endpoint)")
    if "private_key_jwt" not in metadata.token_endpoint_auth_methods_supported:
        lacking.append("private_key_jwt (not in token_endpoint_auth_methods_supported)")
    if DPOP_ALGORITHM not in metadata.dpop_signing_alg_values_supported:
        lacking.append(f"DPoP with {DPOP_ALGORITHM} (not in dpop_signing_alg_values_supported)")
    if PKCE_METHOD not in metadata.code_challenge_methods_supported:
        lacking.append("PKCE S256 (not in code_challenge_methods_supported)")
    if not metadata.authorization_response_iss_parameter_supported:
        lacking.append(
            "the iss authorization response parameter "
            "(no authorization_response_iss_parameter_supported)"
        )
    return [
        f'{config.label}.profile "fapi2" needs {what}, which the provider does not advertise; '
        "enable it for the application at the provider."
        for what in lacking
    ]


def flow_problems(config: NevisAuth, metadata: ProviderMetadata) -> list[str]:
    """Why sign-ins with this provider are refused as configured (empty: they are not)."""
    found = fapi2_problems(config, metadata)
    par = par_problem(config, metadata)
    if par and not (config.profile == "fapi2" and found):
        found.append(par)
    return found


def key_auth_warning(config: NevisAuth, metadata: ProviderMetadata) -> str:
    """A sentence when private_key_jwt is used but the provider does not list it ("" if fine)."""
    if not uses_client_key(config) or config.profile == "fapi2":
        return ""  # under fapi2 the missing method refuses sign-ins (fapi2_problems)
    if "private_key_jwt" in metadata.token_endpoint_auth_methods_supported:
        return ""
    return (
        "The provider does not list private_key_jwt in token_endpoint_auth_methods_supported; "
        "calls to its token endpoint may be refused with invalid_client."
    )


def dpop_warning(config: NevisAuth, metadata: ProviderMetadata) -> str:
    """A sentence when DPoP is on but the provider does not list ES256 proofs ("" if fine)."""
    if not config.dpop or config.profile == "fapi2":
        return ""  # under fapi2 the missing algorithm refuses sign-ins (fapi2_problems)
    if DPOP_ALGORITHM in metadata.dpop_signing_alg_values_supported:
        return ""
    return (
        f"The provider does not list {DPOP_ALGORITHM} in dpop_signing_alg_values_supported; "
        "its token endpoint may refuse the sign-in's proofs or answer with bearer tokens, "
        "which are refused."
    )


def requires_iss(config: NevisAuth, metadata: ProviderMetadata) -> bool:
    """Whether an authorization response without iss is refused (RFC 9207 2.4)."""
    return config.profile == "fapi2" or metadata.authorization_response_iss_parameter_supported
