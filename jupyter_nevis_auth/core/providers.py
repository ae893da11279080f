"""The providers of a configuration: the top-level one ("default") and NevisAuth.providers."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from ..oidc import OIDCClient
from ..protocol import DEFAULT_PROVIDER
from .apis import NAME
from .config import NevisAuth
from .env import ENV_PREFIX

#: What a named provider may set; every other option is the top-level one.
PROVIDER_OPTIONS = (
    "issuer",
    "client_id",
    "client_secret",
    "client_secret_file",
    "scopes",
    "redirect_uri",
    "authorize_url",
    "token_url",
    "jwks_url",
    "revocation_url",
    "logout_url",
    "post_logout_redirect_uri",
    "token_endpoint_auth_method",
    "client_key_file",
    "use_par",
    "par_url",
    "profile",
    "dpop",
    "extra_authorize_params",
    "id_token_signing_algs",
    "validate_cert",
    "ca_bundle",
    "allowed_subjects",
)
#: Provider options a named provider takes from the top level unless it sets them itself:
#: this server's own addresses, the same whichever provider a sign-in goes to, and the
#: authorization request's extra parameters (prompt=consent, which some providers need for
#: a refresh token, is asked of every provider alike). The rest describe the provider and
#: the client registered there, or what is trusted of it, and are never inherited.
INHERITED_OPTIONS = ("redirect_uri", "post_logout_redirect_uri", "extra_authorize_params")
#: Top-level options that every provider shares.
SHARED_OPTIONS = (
    "http_timeout",
    "clock_skew",
    "state_ttl",
    "refresh_leeway",
    "login_timeout",
    "logout_at_provider",
)

#: Protections a named provider does not inherit (another provider may not offer them):
#: one on at the top level and left unset by a named provider is said (unset_protections).
PROTECTIONS = {"profile": ("the FAPI 2.0 profile", '""'), "dpop": ("DPoP", "false")}


@dataclass
class Provider:
    """One provider: its settings and its OpenID client."""

    name: str
    config: NevisAuth
    client: OIDCClient


def env_prefix(name: str) -> str:
    """Where a named provider's own env vars start, e.g. NEVIS_AUTH_PARTNER_."""
    return f"{ENV_PREFIX}{name.upper().replace('-', '_')}_"


def named_config(name: str, entry: Any, top: NevisAuth) -> tuple[NevisAuth | None, list[str]]:
    """The settings of provider `name` of NevisAuth.providers, or None and why not."""
    option = f'NevisAuth.providers["{name}"]'
    if name == DEFAULT_PROVIDER or not NAME.fullmatch(name):
        return None, [f"{option}: a provider name is letters, digits, - and _, not 'default'."]
    if not isinstance(entry, dict):
        return None, [f"{option} must be an object of provider options."]
    unknown = sorted(k for k in entry if k not in PROVIDER_OPTIONS)
    if unknown:
        return None, [
            f"{option} cannot set {', '.join(unknown)}; it takes {', '.join(PROVIDER_OPTIONS)}."
        ]
    shared = {k: getattr(top, k) for k in SHARED_OPTIONS}
    prefix = env_prefix(name)
    inherited = {
        k: getattr(top, k)
        for k in INHERITED_OPTIONS
        if k not in entry and prefix + k.upper() not in os.environ
    }
    try:
        # No parent: only the inherited top-level settings may reach another provider.
        config = NevisAuth(env_prefix=prefix, log=top.log, **shared, **inherited, **entry)
    except Exception as e:  # a value of the wrong type: traitlets says which
        return None, [f"{option} has a value of the wrong type ({type(e).__name__})."]
    config.label = option
    problems = config.problems()
    return (None, problems) if problems else (config, [])


def build_providers(
    top: NevisAuth, log: logging.Logger, client: OIDCClient | None = None
) -> tuple[dict[str, Provider], list[str]]:
    """Every usable provider by name, and a sentence for each one left out."""
    providers = {
        DEFAULT_PROVIDER: Provider(DEFAULT_PROVIDER, top, client or OIDCClient(top, log=log))
    }
    problems: list[str] = []
    raw = top.providers
    for name, entry in raw.items() if isinstance(raw, dict) else ():
        config, found = named_config(str(name), entry, top)
        if config is None:
            problems += [f"{p[:-1]}; the provider is left out." for p in found]
            continue
        providers[name] = Provider(name, config, OIDCClient(config, log=log))
        for sentence in unset_protections(str(name), entry, top):
            log.warning(sentence)
    return providers, problems


def unset_protections(name: str, entry: dict[str, Any], top: NevisAuth) -> list[str]:
    """A sentence for each protection on at the top level that provider `name` leaves unset."""
    prefix = env_prefix(name)
    return [
        f'NevisAuth.{key} turns {what} on for the top-level provider only: set "{key}" in '
        f'NevisAuth.providers["{name}"] too (to {off} to keep it off there).'
        for key, (what, off) in PROTECTIONS.items()
        if getattr(top, key) and key not in entry and prefix + key.upper() not in os.environ
    ]
