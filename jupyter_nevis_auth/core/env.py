"""The one way every configurable class reads its NEVIS_AUTH_* environment variables."""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

from traitlets import Dict, List, TraitType
from traitlets.config import Configurable, LoggingConfigurable

ENV_PREFIX = "NEVIS_AUTH_"


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
        for name, trait in self.traits(config=True).items():
            value = os.environ.get(self.env_var_of(name))
            if name in explicit or value is None:
                continue
            try:
                self.set_trait(name, parse_env(trait, value))
            except Exception:  # any malformed value: one clear line, and the server starts
                # The value is not logged: it may be a secret.
                self.log.error(
                    "Ignoring %s: it is not a valid %s.", self.env_var_of(name), trait.info()
                )

    def env_var_of(self, option: str) -> str:
        """The env var of `option` for this instance (its own prefix, if it has one)."""
        if self.env_prefix:
            return self.env_prefix + option.upper()
        return self.env_var(option)
