"""What importing the kernel API loads, the names it keeps, and imports that go one way only."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import jupyter_nevis_auth
from jupyter_nevis_auth import kernel
from tests.kernel.conftest import python

PACKAGE = Path(jupyter_nevis_auth.__file__).parent


def test_importing_the_kernel_api_loads_no_jupyter_server_tornado_or_ipywidgets():
    imported = python(
        """
        import json, sys
        import jupyter_nevis_auth
        from jupyter_nevis_auth import BearerAuth, get_access_token
        print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
        """,
        {},
    )

    assert imported.returncode == 0, imported.stderr
    loaded = set(json.loads(imported.stdout))
    assert {"jupyter_server", "tornado", "ipywidgets"} & loaded == set()
    assert "requests" in loaded


@pytest.mark.parametrize(
    ("path", "module"),
    [
        ("jupyter_nevis_auth.kernel.get_access_token", "jupyter_nevis_auth.kernel.api"),
        ("jupyter_nevis_auth.kernel.BearerAuth", "jupyter_nevis_auth.kernel.requests_auth"),
        ("jupyter_nevis_auth.kernel.HTTPXBearerAuth", "jupyter_nevis_auth.kernel.httpx_auth"),
        ("jupyter_nevis_auth.kernel.LoginWidget", "jupyter_nevis_auth.kernel.widget"),
        ("jupyter_nevis_auth.kernel.login", "jupyter_nevis_auth.kernel.widget"),
        ("jupyter_nevis_auth.widget.LoginWidget", "jupyter_nevis_auth.kernel.widget"),
        ("jupyter_nevis_auth.widget.token_status", "jupyter_nevis_auth.kernel.client"),
        ("jupyter_nevis_auth.LoginWidget", "jupyter_nevis_auth.kernel.widget"),
        ("jupyter_nevis_auth.HTTPXBearerAuth", "jupyter_nevis_auth.kernel.httpx_auth"),
    ],
)
def test_the_public_dotted_paths_still_lead_to_the_api(path: str, module: str):
    found = python(
        f"""
        import importlib
        owner, name = {path!r}.rsplit(".", 1)
        print(getattr(importlib.import_module(owner), name).__module__)
        """,
        {},
    )

    assert found.stdout.strip() == module, found.stderr


def test_every_name_the_kernel_module_had_is_still_there():
    names = {
        "CONNECT_TIMEOUT",
        "DEFAULT_LOGIN_TIMEOUT",
        "DEFAULT_MIN_TTL",
        "DEFAULT_TIMEOUT",
        "ENV_CA",
        "ENV_ERROR",
        "ENV_LOGIN_TIMEOUT",
        "ENV_LOGIN_URL",
        "ENV_SECRET",
        "ENV_TIMEOUT",
        "ENV_URL",
        "MAX_CACHE_AGE",
        "NOT_IN_SERVER",
        "SECRET_HEADER",
        "SERVER_ENV",
        "BearerAuth",
        "HTTPXBearerAuth",
        "Token",
        "get_access_token",
        "get_id_token",
        "has_interactive_frontend",
        "session",
        "whoami",
    }

    assert {name for name in names if not hasattr(kernel, name)} == set()


def module_name(path: Path) -> str:
    """The dotted name of the module in `path`."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts).removesuffix(".__init__")


def imports_of(path: Path) -> set[str]:
    """The jupyter_nevis_auth modules `path` imports, at its top or inside a function."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            source = ".".join(part for part in (base, node.module) if part)
            for alias in node.names:
                # `from . import client` imports a module; `from .api import whoami` a name.
                candidate = f"{source}.{alias.name}"
                found.add(candidate if module_path(candidate).exists() else source)
    return {name for name in found if name.startswith("jupyter_nevis_auth") and name != module}


def module_path(name: str) -> Path:
    """The file of module `name` (which may not exist)."""
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def test_the_kernel_modules_import_each_other_one_way_only():
    paths = [*(PACKAGE / "kernel").glob("*.py"), PACKAGE / "protocol.py"]
    graph = {module_name(path): imports_of(path) for path in paths}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, set()) - seen:
            if nxt == goal or reaches(nxt, goal, seen | {nxt}):
                return True
        return False

    assert graph["jupyter_nevis_auth.kernel.frontend"] >= {"jupyter_nevis_auth.kernel.widget"}
    assert sorted(name for name in graph if reaches(name, name, set())) == []
