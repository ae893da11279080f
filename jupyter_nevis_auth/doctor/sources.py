"""Where each setting comes from: the server's config files, the command line, env vars."""

from __future__ import annotations

import glob
import json
import logging
import os
from dataclasses import dataclass, field

from jupyter_server.services.config.manager import ConfigManager
from traitlets.config import Application, Config

from ..core.config import NevisAuth
from ..core.providers import INHERITED_OPTIONS, SHARED_OPTIONS
from ..server.app import NevisAuthApp

#: Jupyter Server's own files, lowest priority first, as JupyterApp.load_config_file reads them.
BASE_FILE = "jupyter_config"
SERVER_FILE = "jupyter_server_config"
#: The extension's own file: ExtensionApp names it jupyter_<name>_config.
EXTENSION_FILE = f"jupyter_{NevisAuthApp.name}_config"
SECTION = "NevisAuth"
COMMAND_LINE = "the command line"


@dataclass
class Sources:
    """The configuration as the server loads it, and where each NevisAuth option was set."""

    config: Config = field(default_factory=Config)
    #: NevisAuth option -> the file (or the command line) that set it last.
    origins: dict[str, str] = field(default_factory=dict)

    def merge(self, config: Config, origin: str) -> None:
        """Put `config` on top of what was loaded so far."""
        self.config.merge(config)
        for option in config.get(SECTION, {}):
            self.origins[option] = origin

    def origin(self, config: NevisAuth, option: str, entry: dict[str, object] | None) -> str:
        """Where `config` got `option`: a file, the command line, an env var, or the default.

        `entry` is a named provider's entry in NevisAuth.providers (None for the top level).
        """
        if entry is not None and option in entry:
            return f"{config.label}, from {self.top_origin('providers')}"
        own = config.env_var_of(option)
        if entry is not None and option in INHERITED_OPTIONS and own not in os.environ:
            top = self.top_origin(option)
            return top if top == "default" else f"NevisAuth.{option}, from {top}"
        if entry is not None and option not in SHARED_OPTIONS:
            return _env_or_default(own)
        return self.top_origin(option)

    def top_origin(self, option: str) -> str:
        """Where the top-level `option` came from."""
        return self.origins.get(option) or _env_or_default(NevisAuth.env_var(option))


def _env_or_default(name: str) -> str:
    return name if name in os.environ else "default"


def load(paths: list[str], config_file: str, cli: Config, log: logging.Logger) -> Sources:
    """The configuration from the files Jupyter Server and NevisAuthApp read, in their order."""
    sources = Sources()
    # Lowest: the jupyter_server_config.d drop-ins, which NevisAuthApp puts under everything.
    section = ConfigManager(read_config_path=paths).get(SERVER_FILE).get(SECTION)
    if section:
        sources.config.merge(Config({SECTION: section}))
        sources.origins.update(_drop_in_origins(paths))
    read = Application._load_config_files  # traitlets' loader, one config per file
    for config, filename in read(EXTENSION_FILE, path=paths, log=log):
        sources.merge(config, filename)
    for config, filename in read(BASE_FILE, path=paths, log=log):
        sources.merge(config, filename)
    if config_file:
        folder, name = os.path.split(config_file)
        found = read(os.path.splitext(name)[0], path=[folder or os.getcwd()], log=log)
    else:
        found = read(SERVER_FILE, path=paths, log=log)
    for config, filename in found:
        sources.merge(config, filename)
    sources.merge(cli, COMMAND_LINE)
    return sources


def _drop_in_origins(paths: list[str]) -> dict[str, str]:
    """Which drop-in file set each option, in ConfigManager's order (the last one wins)."""
    origins: dict[str, str] = {}
    for folder in reversed(paths):
        drop_ins = sorted(glob.glob(os.path.join(folder, SERVER_FILE + ".d", "*.json")))
        for filename in [*drop_ins, os.path.join(folder, SERVER_FILE + ".json")]:
            try:
                with open(filename, encoding="utf-8") as f:
                    section = json.load(f).get(SECTION)
            except (OSError, ValueError, AttributeError):
                continue  # ConfigManager skips these files too
            if isinstance(section, dict):
                origins.update(dict.fromkeys(section, filename))
    return origins
