"""Old paths that configuration files name keep working, with a warning naming the new one."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

#: (what a configuration file imports, the attribute, where it lives now)
OLD_PATHS = [
    (
        "jupyter_nevis_auth.hub",
        "user_redirect_hook",
        "jupyter_nevis_auth.hub.redirect_hook.user_redirect_hook",
    ),
    (
        "jupyter_nevis_auth.hubservice.hook",
        "refresh_user_hook",
        "jupyter_nevis_auth.hub.refresh_hook.refresh_user_hook",
    ),
    (
        "jupyter_nevis_auth.filestore",
        "EncryptedFileTokenStore",
        "jupyter_nevis_auth.core.file_store.EncryptedFileTokenStore",
    ),
    (
        "jupyter_nevis_auth.stores",
        "MemoryTokenStore",
        "jupyter_nevis_auth.core.stores.MemoryTokenStore",
    ),
    (
        "jupyter_nevis_auth.hubservice.store",
        "SQLTokenStore",
        "jupyter_nevis_auth.hub.service.sql_store.SQLTokenStore",
    ),
]


def fresh_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a new interpreter, every warning shown once, as an admin would see it."""
    return subprocess.run(
        [sys.executable, "-W", "default", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(("module", "name", "new"), OLD_PATHS, ids=[p[0] for p in OLD_PATHS])
def test_an_old_path_gives_the_same_object_and_a_warning_naming_the_new_one(
    module: str, name: str, new: str
):
    new_module, _, new_name = new.rpartition(".")
    code = (
        f"from {module} import {name} as old\n"
        f"from {new_module} import {new_name} as new\n"
        "print(old is new)\n"
    )
    done = fresh_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    assert "FutureWarning" in done.stderr
    assert "is deprecated and is dropped in jupyter-nevis-auth 0.3.0" in done.stderr
    assert new.rpartition(".")[0] in done.stderr


def test_traitlets_takes_the_old_store_class_from_a_config_string():
    code = (
        "from traitlets.config import Config\n"
        "from jupyter_nevis_auth.core.config import NevisAuth\n"
        "c = Config()\n"
        "c.NevisAuth.token_store_class = 'jupyter_nevis_auth.stores.MemoryTokenStore'\n"
        "print(NevisAuth(config=c).token_store_class.__module__)\n"
    )
    done = fresh_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "jupyter_nevis_auth.core.stores"
    assert "jupyter_nevis_auth.core.stores" in done.stderr


def test_the_new_paths_import_without_a_warning():
    code = "\n".join(
        f"from {new.rpartition('.')[0]} import {new.rpartition('.')[2]}"
        for _m, _n, new in OLD_PATHS
    )
    done = fresh_python("import warnings; warnings.simplefilter('error')\n" + code)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_an_unknown_name_of_the_hub_package_is_an_import_error():
    with pytest.raises(ImportError):
        exec("from jupyter_nevis_auth.hub import no_such_hook")  # noqa: S102


def command(name: str) -> Path:
    """A console script of this installation."""
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.exists():
        path = Path(sys.executable).with_name(name)
    return path


def test_the_old_service_command_runs_the_service_and_names_the_new_one():
    old = command("jupyter-nevis-auth-hub")
    if not old.exists():
        pytest.skip("the package's console scripts are not installed here")
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    done = subprocess.run(
        [str(old), "--help"], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "jupyter-nevis-auth-hub is deprecated" in done.stderr
    assert "use jupyter-nevis-auth-service" in done.stderr
    new = subprocess.run(
        [str(command("jupyter-nevis-auth-service")), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert new.returncode == 0, new.stderr
    assert "deprecated" not in new.stderr
    assert new.stdout.splitlines()[:3] == done.stdout.splitlines()[:3]
