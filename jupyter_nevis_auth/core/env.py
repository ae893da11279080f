"""The one way every configurable class reads its NEVIS_AUTH_* environment variables."""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

from traitlets import Bool, Dict, Enum, List, TraitType
from traitlets.config import Configurable, LoggingConfigurable

ENV_PREFIX = "NEVIS_AUTH_"
#: Options whose malformed env var refuses sign-ins (config_checks.problems) instead of being
#: ignored: ignoring it could leave off a protection that the value meant to turn on.
FAIL_CLOSED = frozenset({"profile", "dpop", "use_par", "token_endpoint_auth_method"})


def env_name(option: str) -> str:
    """The environment variable that sets `option`, e.g. NEVIS_AUTH_CLIENT_ID."""
    return ENV_PREFIX + option.upper()


def parse_env(trait: TraitType[Any, Any], value: str) -> Any:
    """The value of `trait` written as `value` in an env var; raises ValueError if it is none."""
    if isinstance(trait, List):
        # Space separated, or a JSON list for items with spaces.
        items = json.loads(value) if value.lstrip().startswith("[") else value.split()
        if not isinstance(items, list):
            raise ValueError("not a list")
        return items
    if isinstance(trait, Dict):
        data = json.loads(value)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return data
    return trait.from_string(value)


def expected(trait: TraitType[Any, Any]) -> str:
    """What an env var of `trait` must hold, to end a sentence: "a float", "a JSON object"."""
    if isinstance(trait, Dict):
        return "a JSON object"
    if isinstance(trait, List):
        return "a list (space separated, or a JSON list)"
    if isinstance(trait, Enum):
        return "one of " + ", ".join(repr(value) for value in trait.values or ())
    if isinstance(trait, Bool):
        return "true or false"
    return trait.info()


class EnvConfigurable(LoggingConfigurable):
    """A configurable whose options fall back to NEVIS_AUTH_<OPTION> env vars.

    A value from a config file or the command line wins over the env var.
    """

    #: Options whose env var is not NEVIS_AUTH_<OPTION>.
    env_names: ClassVar[dict[str, str]] = {}

    @classmethod
    def env_var(cls, option: str) -> str:
        """The env var of `option`."""
        return cls.env_names.get(option) or env_name(option)

    def __init__(self, *, env_prefix: str = "", **kwargs: Any) -> None:
        """Set the options; `env_prefix` replaces NEVIS_AUTH_ (a named provider's own vars)."""
        self.env_prefix = env_prefix
        super().__init__(**kwargs)
        sections = [c.__name__ for c in type(self).mro() if issubclass(c, Configurable)]
        explicit = set(kwargs).union(*(self.config.get(name, {}) for name in sections))
        #: Options whose env var held a value they cannot take.
        self.malformed_env: list[str] = []
        for name, trait in self.traits(config=True).items():
            value = os.environ.get(self.env_var_of(name))
            if name in explicit or value is None:
                continue
            try:
                self.set_trait(name, parse_env(trait, value))
            except Exception:  # any malformed value: one clear line, and the server starts
                self.malformed_env.append(name)
                # The value is not logged: it may be a secret.
                env, must = self.env_var_of(name), expected(trait)
                if name in FAIL_CLOSED:
                    self.log.error("%s is not %s: sign-ins are refused until it is.", env, must)
                else:
                    self.log.error("Ignoring %s: it is not %s.", env, must)

    def env_var_of(self, option: str) -> str:
        """The env var of `option` for this instance (its own prefix, if it has one)."""
        if self.env_prefix:
            return self.env_prefix + option.upper()
        return self.env_var(option)
