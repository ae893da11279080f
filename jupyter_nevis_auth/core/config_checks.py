"""The checks of a provider's settings: each problem as a sentence naming the option to fix."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from .env import FAIL_CLOSED, expected
from .urls import check_url

if TYPE_CHECKING:
    from .config import NevisAuth

#: Signature algorithms accepted on ID tokens; `none` and shared-secret HMAC never are.
SAFE_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


def problems(config: NevisAuth) -> list[str]:
    """Sentences naming each missing or wrong setting of `config` and how to set it."""
    found: list[str] = []
    for name in ("issuer", "client_id"):
        if not getattr(config, name):
            found.append(f"Set {config.label}.{name} (or ${config.env_var_of(name)}).")
    if config.issuer:
        problem = check_url(config.issuer, f"{config.label}.issuer")
        if problem:
            found.append(problem)
    for name in (
        "authorize_url",
        "token_url",
        "jwks_url",
        "revocation_url",
        "par_url",
        "logout_url",
        "redirect_uri",
        "post_logout_redirect_uri",
    ):
        value = getattr(config, name)
        problem = value and check_url(value, f"{config.label}.{name}")
        ours = name in ("redirect_uri", "post_logout_redirect_uri")
        if problem and not (ours and urlparse(value).scheme == "http"):
            found.append(problem)
    public = urlparse(config.public_url)
    if config.public_url and (
        public.path not in ("", "/")
        or (check_url(config.public_url, "") and public.scheme != "http")
    ):
        found.append(f"{config.label}.public_url must be an origin, scheme://host[:port].")
    found += key_problems(config)
    if uses_secret(config):
        if config.client_secret_file and not os.path.isfile(config.client_secret_file):
            found.append(
                f"The client secret file {config.client_secret_file} does not exist; fix "
                f"{config.label}.client_secret_file (${config.env_var_of('client_secret_file')})."
            )
        elif not config.client_secret_file and not config.client_secret:
            found.append(
                f"Set {config.label}.client_secret (or ${config.env_var_of('client_secret')}, or "
                f"${config.env_var_of('client_secret_file')} for a mounted secret file)."
            )
    if "openid" not in config.scopes:
        found.append(f"{config.label}.scopes must include openid.")
    unsafe = sorted(set(config.id_token_signing_algs) - set(SAFE_ALGORITHMS))
    if unsafe or not config.id_token_signing_algs:
        found.append(
            f"{config.label}.id_token_signing_algs may only list {', '.join(SAFE_ALGORITHMS)}."
        )
    if config.http_timeout <= 0:
        found.append("NevisAuth.http_timeout must be a positive number of seconds.")
    for name in FAIL_CLOSED.intersection(config.malformed_env):
        must = expected(config.traits()[name])
        found.append(
            f"${config.env_var_of(name)} is not {must}; fix it (ignored, it could leave "
            f"{config.label}.{name} off)."
        )
    return found


def uses_client_key(config: NevisAuth) -> bool:
    """Whether the client authenticates with private_key_jwt (chosen, implied by a key file
    or by the FAPI 2.0 profile)."""
    method = config.token_endpoint_auth_method
    return (
        config.profile == "fapi2"
        or method == "private_key_jwt"
        or (not method and bool(config.client_key_file))
    )


def uses_secret(config: NevisAuth) -> bool:
    """Whether the client authenticates with its client secret."""
    return config.token_endpoint_auth_method != "none" and not uses_client_key(config)  # noqa: S105


def key_problems(config: NevisAuth) -> list[str]:
    """The client key and FAPI 2.0 settings' problems, each naming the option to set."""
    found: list[str] = []
    fapi = config.profile == "fapi2"
    method = config.token_endpoint_auth_method
    if fapi and method not in ("", "private_key_jwt"):
        found.append(
            f'{config.label}.profile "fapi2" authenticates the client with private_key_jwt; '
            f"unset {config.option('token_endpoint_auth_method')}."
        )
    if fapi and config.use_par == "never":
        found.append(
            f'{config.label}.profile "fapi2" needs pushed authorization requests; unset '
            f"{config.option('use_par')}."
        )
    if fapi and not config.dpop:
        found.append(
            f'{config.label}.profile "fapi2" needs sender-constrained tokens: DPoP must be on '
            f"({config.option('dpop')})."
        )
    if not uses_client_key(config):
        return found
    if not config.client_key_file:
        found.append(
            f"Set {config.option('client_key_file')} for private_key_jwt (make a key with "
            "`jupyter nevis-auth make-client-key`)."
        )
    elif not os.path.isfile(os.path.expanduser(config.client_key_file)):
        found.append(
            f"The client key file {config.client_key_file} does not exist; fix "
            f"{config.option('client_key_file')}."
        )
    return found
