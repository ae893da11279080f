"""The package's layout: no import cycles, small modules, each side importing only its own."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from tornado import web

from jupyter_nevis_auth.core.env import EnvConfigurable
from jupyter_nevis_auth.server.app import NevisAuthApp

PACKAGE = Path(__file__).resolve().parents[1] / "jupyter_nevis_auth"
#: A module a reader takes in at one sitting.
MAX_LINES = 320


def module_name(path: Path) -> str:
    """The dotted name of a module file of the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path) -> set[str]:
    """The package modules `path` imports when it is loaded (not inside functions)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        found |= {
            t
            for t in targets
            if (PACKAGE.parent / (t.replace(".", "/") + ".py")).exists()
            or (PACKAGE.parent / t.replace(".", "/") / "__init__.py").exists()
        }
    # Python loads a module's own packages first anyway: `from . import x` adds no edge.
    return {t for t in found if t != name and not name.startswith(t + ".")}


def modules() -> list[Path]:
    """Every Python file of the package."""
    return sorted(PACKAGE.rglob("*.py"))


def test_no_import_cycles():
    graph = {module_name(p): top_level_imports(p) for p in modules()}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for target in sorted(graph.get(node, ())):
            if target in path:
                cycles.append([*path[path.index(target) :], target])
            elif len(path) < 40:
                visit(target, [*path, target])

    for start in graph:
        visit(start, [start])
    assert cycles == []


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_are_small(path: Path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def imported_by(code: str) -> set[str]:
    """The top-level modules a fresh interpreter has loaded after running `code`."""
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return {m.split(".")[0] for m in out.stdout.split()}


def test_the_server_extension_does_not_import_the_kernel_side():
    loaded = imported_by("import jupyter_nevis_auth.server.app")
    assert "requests" not in loaded and "ipywidgets" not in loaded


def test_the_hub_service_does_not_import_jupyter_server():
    assert "jupyter_server" not in imported_by("import jupyter_nevis_auth.hub.service.app")


def module_path(name: str) -> Path:
    """The file of the package module `name`."""
    path = PACKAGE.parent / name.replace(".", "/")
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def outside_imports(path: Path) -> set[str]:
    """The modules from outside the package that `path` names in an import, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module)
    return found


def test_the_shared_web_layer_imports_no_jupyter_server():
    web = [module_name(p) for p in sorted((PACKAGE / "web").glob("*.py"))]
    assert web, "no modules in jupyter_nevis_auth/web/"
    # Every package module web/ loads, itself included, and what those load in turn.
    seen, todo = set(), list(web)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += top_level_imports(module_path(name))
    jupyter = {
        name: sorted(
            m for m in outside_imports(module_path(name)) if m.split(".")[0] == "jupyter_server"
        )
        for name in sorted(seen)
    }
    assert {name: found for name, found in jupyter.items() if found} == {}


def test_every_option_names_its_env_var():
    for cls in NevisAuthApp.classes:
        if not issubclass(cls, EnvConfigurable):
            continue
        for name, trait in cls.class_traits(config=True).items():
            assert "$" + cls.env_var(name) in trait.help, f"{cls.__name__}.{name}"


def test_format_skips_say_why():
    """`ruff format` formats the whole tree; a line kept by hand says why, on the line."""
    root = PACKAGE.parent
    SKIP, OFF = "# fmt" + ": skip", "# fmt" + ": off"  # spelled apart: not a match here
    unexplained = [
        f"{path.relative_to(root)}:{n}"
        for folder in ("jupyter_nevis_auth", "tests", "benchmarks", "demo")
        for path in sorted((root / folder).rglob("*.py"))
        if "node_modules" not in path.parts
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if line.rstrip().endswith(SKIP) or OFF in line
    ]
    assert unexplained == []


#: The packages of the two apps, which adapt web/ to the Jupyter server and to JupyterHub.
APPS = ("jupyter_nevis_auth.server.", "jupyter_nevis_auth.hub.service.")


def served_pages() -> list[tuple[str, str, type]]:
    """Both apps' sign-in pages: (app, path, handler class)."""
    from jupyter_nevis_auth.hub.service.app import HANDLERS
    from jupyter_nevis_auth.server import default_handlers

    pages = ("login", "callback", "done", "logout", "link", "link/done")
    extension = [
        ("extension", p, c) for p, c in default_handlers if p.removeprefix("/nevis/") in pages
    ]
    service = [("service", p, c) for p, c in HANDLERS if p in pages]
    return extension + service


def test_both_apps_serve_the_shared_sign_in_pages():
    """login, callback, done, logout and the link pages: each app's handler runs web/'s code
    (wrapped in the app's access rules), never a copy of its own."""
    found = served_pages()
    assert len(found) == 12
    own = {
        f"{app} {path} {method}": function.__module__
        for app, path, cls in found
        for method in ("get", "post")
        if (function := inspect.unwrap(getattr(cls, method)))
        is not getattr(web.RequestHandler, method)
        and not function.__module__.startswith("jupyter_nevis_auth.web.")
    }
    assert own == {}


def test_both_apps_answer_and_fail_with_the_shared_plumbing():
    """Pages, JSON answers and error pages: no handler of either app has its own."""
    from jupyter_nevis_auth.hub.service.app import HANDLERS
    from jupyter_nevis_auth.server import default_handlers
    from jupyter_nevis_auth.server.hub_mode import hub_handlers

    classes = {c for _p, c in [*default_handlers, *hub_handlers, *HANDLERS]}
    own = {
        f"{cls.__module__}.{cls.__qualname__}.{name}": getattr(cls, name).__module__
        for cls in classes
        for name in ("page", "answer", "fail", "write_error")
        if hasattr(cls, name) and getattr(cls, name).__module__.startswith(APPS)
    }
    assert own == {}


#: What only the shared pages do: start or finish a sign-in, read the provider's response.
SIGN_IN_WORK = {"start_login", "finish_login", "get_query_arguments", "CALLBACK_PARAMS"}


def sign_in_work(source: str) -> set[str]:
    """The names of SIGN_IN_WORK that `source` uses."""
    tree = ast.parse(source)
    names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    return names & SIGN_IN_WORK


def test_neither_app_starts_or_finishes_a_sign_in_itself():
    """A sign-in is started and finished by web/'s pages; the apps only adapt them."""
    found = {
        str(path.relative_to(PACKAGE)): sorted(work)
        for folder in ("handlers", "hubservice")
        for path in sorted((PACKAGE / folder).glob("*.py"))
        if (work := sign_in_work(path.read_text()))
    }
    assert found == {}


#: The package by who runs the code: each group's first name part under jupyter_nevis_auth.
AUDIENCES = {
    # what kernels import: the contract, the errors, the claims, kernel/ (stdlib, requests)
    "kernel": {"", "_version", "protocol", "errors", "claims", "dpop", "widget", "kernel"},
    # the token core: options, tokens, stores, refreshes, sign-ins, the provider protocol
    "core": {"core", "oidc"},
    # the web layer both apps share (tornado, never Jupyter Server)
    "web": {"web"},
    # the Jupyter server extension, per-server and in hub mode
    "server": {"server"},
    # what runs with JupyterHub: its hooks and the hub service
    "hub": {"hub"},
    "doctor": {"doctor"},
    # old paths that configuration files name, until they are dropped
    "deprecated": {"_deprecated", "filestore", "stores", "hubservice"},
}
#: Whom each group may import at load time (besides itself).
MAY_IMPORT = {
    "kernel": {"kernel"},
    "core": {"kernel", "core"},
    "web": {"kernel", "core"},
    # A user server in hub mode calls JupyterHub's REST API as the service does.
    "server": {"kernel", "core", "web", "hub.rest"},
    "hub": {"kernel", "core", "web"},
    "doctor": {"kernel", "core", "server", "hub.rest"},
    "deprecated": {"kernel", "core", "hub", "deprecated"},
}


def audience(name: str) -> str:
    """The group of the package module `name`."""
    first = name.split(".")[1] if "." in name else ""
    return next(group for group, parts in AUDIENCES.items() if first in parts)


def test_every_module_belongs_to_one_audience():
    assert {module_name(p): audience(module_name(p)) for p in modules()}


def test_each_audience_imports_only_what_it_may():
    wrong = []
    for path in modules():
        name = module_name(path)
        group = audience(name)
        for target in top_level_imports(path):
            allowed = MAY_IMPORT[group] | {group}
            short = target.removeprefix("jupyter_nevis_auth.")
            if audience(target) in allowed or any(
                short == a or short.startswith(a + ".") for a in allowed if "." in a
            ):
                continue
            wrong.append(f"{name} -> {target}")
    assert wrong == []


def test_the_package_root_holds_only_what_kernels_import_and_old_paths():
    root = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()
    }
    assert root - AUDIENCES["kernel"] - AUDIENCES["deprecated"] - {"__init__"} == {
        "core",
        "oidc",
        "web",
        "server",
        "hub",
        "doctor",
    }
