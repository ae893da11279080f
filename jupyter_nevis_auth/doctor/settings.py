"""The first check: the configuration complete and well-formed, and where each value came from."""

from __future__ import annotations

import json
from typing import Any, cast

from ..core.config import NevisAuth
from ..core.file_store import EncryptedFileTokenStore
from ..core.providers import PROVIDER_OPTIONS
from ..core.stores import make_fernet
from ..errors import SettingsError
from ..server.app import SECRET_OPTIONS
from .report import Check, clause, failed, passed
from .sources import Sources

#: Shown first, set or not; every other option only when it is not at its default.
LEADING = ("issuer", "client_id", "client_secret", "client_secret_file", "redirect_uri", "scopes")


def shown_value(config: NevisAuth, option: str) -> str:
    """How `option` is shown: secrets as set or not set, never their value."""
    value = getattr(config, option)
    if option in SECRET_OPTIONS:
        return "set" if value else "not set"
    if option in ("apis", "providers") and isinstance(value, dict):
        return ", ".join(map(str, value)) or "none"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, list):
        return " ".join(map(str, value))
    if isinstance(value, type):
        return f"{value.__module__}.{value.__name__}"
    return str(value) if value != "" else "not set"


def summary(sources: Sources, config: NevisAuth, entry: dict[str, Any] | None) -> str:
    """Each set option with its value (secrets: set or not) and where it came from."""
    names = PROVIDER_OPTIONS if entry is not None else tuple(config.traits(config=True))
    defaults = cast(dict[str, Any], config.trait_defaults(*names))
    # A named provider without a redirect URI of its own uses the top-level one.
    optional = (
        ("client_secret_file", "redirect_uri") if entry is not None else ("client_secret_file",)
    )
    shown = [n for n in LEADING if n in names and (n not in optional or getattr(config, n))]
    shown += sorted(n for n in names if n not in LEADING and getattr(config, n) != defaults[n])
    parts = []
    for name in shown:
        value = shown_value(config, name)
        unset = value == "not set"
        parts.append(
            f"{name} {value}" + ("" if unset else f" ({sources.origin(config, name, entry)})")
        )
    return ", ".join(parts)


def store_problem(config: NevisAuth) -> str | None:
    """What keeps the encrypted token store from working, or None."""
    if not issubclass(config.token_store_class, EncryptedFileTokenStore):
        return None
    try:
        make_fernet(config.get_store_key())
    except SettingsError as e:
        return f"{e} Without it sign-ins are kept in memory only."
    return None


def configuration(
    name: str,
    sources: Sources,
    config: NevisAuth,
    entry: dict[str, Any] | None,
    problems: list[str],
) -> Check:
    """The configuration check of one provider; `problems` are sentences found elsewhere."""
    found = list(problems)
    if entry is None:
        found = config.problems() + found
        store = store_problem(config)
        if store:
            found.append(store)
    detail = summary(sources, config, entry)
    if found:
        return failed(name, detail, clause(" ".join(found)))
    return passed(name, detail)
