"""The documentation site: it builds without a warning, and every code example in it works.

The site is built with Sphinx as `make docs` builds it. Every fenced code block of its
pages (and of the files they include) is checked by its language:

- python: compiled; configuration examples are run against a traitlets `Config` named
  `c` (with `get_config`), and every option they set must exist and take the value;
- python after `% not run: <why>`: compiled, its imports run, and its calls of
  jupyter_nevis_auth checked against their signatures;
- bash: each command must exist: `make` targets, `jupyter nevis-auth` options, the
  environment variables the extension reads, importable `python -m` modules;
- json, yaml: parsed; `% schema: <name>` compares the fields with what the code sends,
  and configuration in them is checked as above;
- a JupyterHub service's `environment` (Python or helm values) holds no secret: JupyterHub
  keeps it in its database in plain text, so secrets are given as files;
- dockerfile: known instructions, and `pip install` of this project;
- text, or no language: literal text; `% output: jupyter nevis-auth doctor` checks the
  lines name the doctor's steps.

Any other language, or any other MyST directive that could hold code, fails the test.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
import inspect
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from markdown_it import MarkdownIt
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from traitlets.config import Config

from jupyter_nevis_auth import protocol
from jupyter_nevis_auth.core.apis import parse_apis
from jupyter_nevis_auth.core.config import NevisAuth
from jupyter_nevis_auth.core.env import ENV_PREFIX
from jupyter_nevis_auth.core.providers import PROVIDER_OPTIONS, build_providers
from jupyter_nevis_auth.doctor import app as doctor
from jupyter_nevis_auth.doctor.report import Check
from jupyter_nevis_auth.server.app import NevisAuthApp

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent
#: MyST directives a page may use; none of them holds a code example.
DIRECTIVES = {
    "toctree",
    "include",
    "eval-rst",
    "nevis-options",
    "nevis-exceptions",
    "nevis-endpoints",
}
#: Tools the examples name that the tests do not run: a cluster's, a registry's, a shell's.
EXTERNAL = {"kubectl", "helm", "docker", "openssl", "printf"}
DOCKERFILE_INSTRUCTIONS = {"FROM", "RUN", "USER", "COPY", "ENV", "WORKDIR", "ARG"}


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its language, its text, the comment above it."""

    path: Path
    line: int
    lang: str
    code: str
    mark: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def pages() -> list[Path]:
    """The site's Markdown sources (docs/jupyterhub.md is included by a page)."""
    return sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)


def fences(text: str) -> Iterator[tuple[int, str, str]]:
    """Each fence of a Markdown text: its first line (0-based), info string and content."""
    for token in MarkdownIt("commonmark").parse(text):
        if token.type == "fence" and token.map:
            yield token.map[0], token.info.strip(), token.content


def option(content: str, name: str) -> str | None:
    """A `:name: value` option of a directive's content, unquoted."""
    match = re.search(rf"^:{name}:\s*(.+)$", content, re.M)
    return match.group(1).strip().strip("\"'") if match else None


def included(page: Path) -> Iterator[tuple[Path, str, int]]:
    """The parts of files outside docs/ that a page includes: file, text, first line."""
    for _, info, content in fences(page.read_text(encoding="utf-8")):
        if not info.startswith("{include}"):
            continue
        path = (page.parent / info.split(None, 1)[1]).resolve()
        if path.is_relative_to(DOCS):
            continue  # a page of its own here
        text = path.read_text(encoding="utf-8")
        start, end = 0, len(text)
        after, before = option(content, "start-after"), option(content, "end-before")
        if after:
            start = text.index(after) + len(after)
        if before:
            end = text.index(before, start)
        yield path, text[start:end], text[:start].count("\n")


def blocks() -> list[Block]:
    """Every fenced block of the site, with the `% ...` comment line just above it, if any."""
    sources = [(p, p.read_text(encoding="utf-8"), 0) for p in pages()]
    sources += [part for page in pages() for part in included(page)]
    found = []
    for path, text, offset in sources:
        lines = text.splitlines()
        for first, info, content in fences(text):
            above = lines[first - 1].strip() if first else ""
            mark = above[1:].strip() if above.startswith("%") else ""
            found.append(Block(path, offset + first + 1, info, content, mark))
    return found


BLOCKS = blocks()
EXAMPLES = [b for b in BLOCKS if not b.lang.startswith("{")]


# -- the build ------------------------------------------------------------------------------


def test_sphinx_builds_the_docs_site_with_warnings_as_errors(tmp_path: Path) -> None:
    """`make docs`: the whole site, every Sphinx warning an error."""
    out = tmp_path / "html"
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(DOCS),
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    options = (out / "reference" / "options.html").read_text(encoding="utf-8")
    for cls in configurable_classes():
        for name in cls.class_traits(config=True):
            target = re.escape(f'id="confval-{cls.__name__}.{name}"')
            assert re.search(target, options, re.I), f"{cls.__name__}.{name} is not listed"


def configurable_classes() -> list[type]:
    """What the options reference must cover: the extension's classes, and the hub service's."""
    classes = list(NevisAuthApp.classes)
    if importlib.util.find_spec("jupyterhub"):
        from jupyter_nevis_auth.hub.service.app import NevisAuthHubApp

        classes += [c for c in NevisAuthHubApp.classes if c not in classes]
    return classes


def test_the_options_reference_renders_every_configurable_class() -> None:
    text = (DOCS / "reference" / "options.md").read_text(encoding="utf-8")
    rendered = set(re.findall(r"^```\{nevis-options\} \S+\.(\w+)$", text, re.M))
    assert {c.__name__ for c in configurable_classes()} <= rendered


# -- every block is covered -----------------------------------------------------------------


def test_the_kernel_api_reference_documents_every_function_and_class_notebooks_import() -> None:
    import jupyter_nevis_auth
    from jupyter_nevis_auth import kernel

    page = (DOCS / "reference" / "kernel-api.md").read_text(encoding="utf-8")
    public = [name for name in kernel.__all__ if not name.isupper()]
    missing = [
        name
        for name in public
        if hasattr(jupyter_nevis_auth, name) and f"jupyter_nevis_auth.{name}" not in page
    ]
    assert not missing, missing


def test_every_code_block_has_a_check() -> None:
    """A language with a check, literal text, or a directive that holds no example."""
    unchecked = []
    for block in BLOCKS:
        if block.lang.startswith("{"):
            if block.lang[1:].split("}")[0] not in DIRECTIVES:
                unchecked.append(f"{block}: {block.lang}")
        elif block.lang and block.lang.split()[0] not in CHECKS:
            unchecked.append(f"{block}: {block.lang}")
    assert not unchecked, "no check for these blocks; add one, or use a known language"
    assert sum(b.lang == "python" for b in BLOCKS) >= 10


def test_eval_rst_blocks_only_document_the_api() -> None:
    for block in BLOCKS:
        if block.lang == "{eval-rst}":
            for line in block.code.splitlines():
                assert re.match(r"(\.\. auto\w+:: \S+|   :[\w-]+:.*|)$", line), (str(block), line)


def test_marks_are_known_and_give_a_reason() -> None:
    for block in BLOCKS:
        if block.mark:
            kind, _, rest = block.mark.partition(":")
            assert kind in ("not run", "schema", "output", "kubernetes") and rest.strip(), str(
                block
            )
            if kind == "not run":
                assert block.lang == "python", f"{block}: only Python examples may skip running"


@pytest.mark.parametrize("block", EXAMPLES, ids=str)
def test_code_example(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each example, by its language."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    lang = block.lang.split()[0] if block.lang else "text"
    CHECKS.get(lang, check_text)(block)


# -- python ---------------------------------------------------------------------------------


def check_python(block: Block) -> None:
    tree = compile(
        block.code, str(block), "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    )
    if block.mark.startswith("not run"):
        namespace: dict[str, Any] = {}
        imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        exec(compile(ast.Module(imports, []), str(block), "exec"), namespace)  # noqa: S102
        check_calls(tree, namespace, block)
        return
    assert not any(isinstance(n, (ast.Await, ast.AsyncWith, ast.AsyncFor)) for n in ast.walk(tree))
    config = Config()
    namespace = {"c": config, "get_config": lambda: config}
    exec(compile(tree, str(block), "exec"), namespace)  # noqa: S102
    assert config, f"{block}: runs but configures nothing; mark it `% not run: <why>`"
    check_config(config, str(block))


def check_calls(tree: ast.AST, namespace: dict[str, Any], block: Block) -> None:
    """Calls of the package's functions and classes fit their signatures."""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        target = namespace.get(node.func.id)
        if not getattr(target, "__module__", "").startswith("jupyter_nevis_auth"):
            continue
        args = [None] * len(node.args)
        kwargs = {k.arg: None for k in node.keywords if k.arg}
        try:
            inspect.signature(target).bind(*args, **kwargs)
        except TypeError as e:
            pytest.fail(f"{block}: {ast.unparse(node)} does not fit {node.func.id}: {e}")


def config_classes() -> dict[str, type]:
    """The configurable classes an example may set options of."""
    from jupyter_server.serverapp import ServerApp
    from jupyterhub.app import JupyterHub
    from jupyterhub.spawner import Spawner

    return {c.__name__: c for c in [*configurable_classes(), ServerApp, JupyterHub, Spawner]}


def check_config(config: Config, where: str) -> None:
    """Every option exists and takes its value; env vars are ours; APIs and providers work."""
    known = config_classes()
    for section, values in config.items():
        assert section in known, f"{where}: unknown configurable {section}"
        traits = known[section].class_traits(config=True)
        unknown = sorted(set(values) - set(traits))
        assert not unknown, f"{where}: {section} has no option {', '.join(unknown)}"
    for cls in configurable_classes():
        if cls.__name__ in config:
            cls(config=config)  # traitlets checks every value's type
    for name in config.Spawner.get("environment", {}):
        check_env_name(name, where)
    for service in config.JupyterHub.get("services", []):
        check_service_env(service.get("environment", {}), where)
    if "NevisAuth" in config:
        check_apis(NevisAuth(config=config), where)


def check_apis(top: NevisAuth, where: str) -> None:
    """Named providers and APIs of the example are all usable.

    Examples keep secrets in files of the deployment: here each provider gets one inline.
    """
    top.providers = {
        name: {k: v for k, v in entry.items() if k != "client_secret_file"} | {"client_secret": "-"}
        for name, entry in top.providers.items()
    }
    providers, left_out = build_providers(top, logging.getLogger("test_docs"))
    _, problems = parse_apis(top.apis, providers)
    assert not left_out + problems, f"{where}: {left_out + problems}"


# -- environment variables ------------------------------------------------------------------


@functools.cache
def extension_env_vars() -> frozenset[str]:
    """Every variable the extension, its kernels and its hub service read."""
    names = {getattr(protocol, n) for n in dir(protocol) if n.startswith("ENV_")}
    for cls in configurable_classes():
        reader = getattr(cls, "env_var", None)
        if reader:
            names |= {reader(n) for n in cls.class_traits(config=True)}
    return frozenset(names)


def check_env_name(name: str, where: str) -> None:
    """A variable an example sets is one something here reads."""
    if name.startswith(ENV_PREFIX):
        if name in extension_env_vars():
            return
        # A named provider's own: NEVIS_AUTH_<NAME>_<OPTION>.
        middle = name.removeprefix(ENV_PREFIX)
        assert any(
            middle.endswith("_" + o.upper()) and len(middle) > len(o) + 1 for o in PROVIDER_OPTIONS
        ), f"{where}: nothing reads ${name}"
        return
    readers = [ROOT / "demo" / "run_demo.py", ROOT / "Makefile"]
    assert any(name in p.read_text(encoding="utf-8") for p in readers), f"{where}: ${name}?"


#: Endings of the variables a service's `environment` must not set: JupyterHub keeps that
#: environment in its database, in plain text. Each has a *_FILE form.
SERVICE_SECRETS = ("CLIENT_SECRET", "STORE_KEY", "COOKIE_SECRET")


def check_service_env(env: dict[str, Any], where: str) -> None:
    """A service's variables are ours, and no secret is among them: secrets come from files."""
    for name, value in env.items():
        check_env_name(name, where)
        assert not name.endswith(SERVICE_SECRETS), (
            f"{where}: ${name} in a service's environment is kept in jupyterhub.sqlite; "
            f"use ${name}_FILE"
        )
        assert not re.search(r"://[^/@]*:[^/@]*@", str(value)), (
            f"{where}: ${name} holds a password; use its _FILE variable"
        )


# -- bash -----------------------------------------------------------------------------------


def commands(code: str) -> Iterator[list[str]]:
    """Each command of a shell block, as words, comments, continuations and `> file` removed."""
    for line in code.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        # Where the output goes is the shell's business, not an argument of the command.
        redirect = next((i for i, word in enumerate(words) if word.startswith(">")), len(words))
        if words[:redirect]:
            yield words[:redirect]


@functools.cache
def help_all(*command: str) -> str:
    """The --help-all output of a `jupyter` command, which must succeed."""
    done = subprocess.run(
        [str(BIN / "jupyter"), *command, "--help-all"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@functools.cache
def extension_list() -> str:
    done = subprocess.run(
        [str(BIN / "jupyter"), "server", "extension", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def check_bash(block: Block) -> None:
    where = str(block)
    for words in commands(block.code):
        while words and re.match(r"[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            check_env_name(words.pop(0).split("=")[0], where)
        name, args = words[0], words[1:]
        if name == "export":
            for arg in args:
                check_env_name(arg.split("=")[0], where)
        elif name == "make":
            check_make(args, where)
        elif name == "pip":
            assert args[:1] == ["install"], f"{where}: {words}"
            check_pip(args[1:], where)
        elif name in ("python", "python3"):
            assert args[:1] == ["-m"] and importlib.util.find_spec(args[1]), f"{where}: {words}"
        elif name == "jupyter":
            check_jupyter(args, where)
        else:
            assert name in EXTERNAL, f"{where}: no check for the command {name}"


def check_make(args: list[str], where: str) -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for arg in args:
        if "=" in arg:
            assert re.search(rf"^{arg.split('=')[0]}\b", makefile, re.M), f"{where}: {arg}"
        else:
            assert re.search(rf"^{re.escape(arg)}:", makefile, re.M), f"{where}: make {arg}"


def check_pip(args: list[str], where: str) -> None:
    packages = [a for a in args if not a.startswith("-")]
    assert packages, where
    for package in packages:
        assert re.fullmatch(r"(jupyter-nevis-auth|\.)(\[[\w,]+\])?", package), f"{where}: {package}"


def check_jupyter(args: list[str], where: str) -> None:
    """`jupyter nevis-auth [doctor]` with its options, `jupyter server extension list`, apps."""
    if args[:3] == ["server", "extension", "list"]:
        assert re.search(r"jupyter_nevis_auth .*enabled", extension_list()), extension_list()
        return
    if args[:1] == ["nevis-auth"]:
        sub = tuple(a for a in args[1:2] if not a.startswith("-"))
        usage = help_all("nevis-auth", *sub)
        for flag in args[1 + len(sub) :]:
            name = flag.split("=")[0]
            assert name in ("--help", "--help-all") or re.search(
                rf"^{re.escape(name)}[=\s]", usage, re.M
            ), f"{where}: jupyter nevis-auth {' '.join(sub)} has no option {name}"
        return
    assert args and (BIN / f"jupyter-{args[0]}").exists(), f"{where}: jupyter {args[:1]}"
    for flag in args[1:]:
        match = re.match(r"--(\w+)\.(\w+)=", flag)
        if match:
            cls, name = match.groups()
            assert name in config_classes()[cls].class_traits(config=True), f"{where}: {flag}"


def readme_install_block() -> Block:
    """The first shell block under the README's "## Install" heading."""
    path = ROOT / "README.md"
    text = path.read_text(encoding="utf-8")
    section = text.index("\n## Install\n")
    for first, info, content in fences(text):
        if info == "bash" and text.count("\n", 0, section) < first:
            return Block(path, first + 1, info, content, "")
    pytest.fail("README.md: no bash block under ## Install")


def needed_distributions(name: str) -> set[str]:
    """`name` and every distribution it needs, as `pip install name` brings them: no extras."""
    needed: set[str] = set()
    todo = [canonicalize_name(name)]
    while todo:
        current = todo.pop()
        if current in needed:
            continue
        needed.add(current)
        for line in metadata.requires(current) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return needed


def test_readme_install_block_needs_only_what_the_package_brings() -> None:
    """Each command after `pip install` is one the package's own dependencies install."""
    block = readme_install_block()
    check_bash(block)
    needed = needed_distributions("jupyter-nevis-auth")
    scripts = {
        e.name: e.dist.name for e in metadata.entry_points(group="console_scripts") if e.dist
    }
    for words in commands(block.code):
        if words[0] == "pip":
            continue
        script = f"jupyter-{words[1]}" if words[0] == "jupyter" else words[0]
        brought_by = scripts.get(script)
        assert brought_by and canonicalize_name(brought_by) in needed, (
            f"{block}: `{' '.join(words)}` needs {brought_by or script}, "
            "which `pip install jupyter-nevis-auth` does not install"
        )


# -- json, yaml, dockerfile, text -----------------------------------------------------------


def schemas() -> dict[str, Any]:
    """What a `% schema: <name>` JSON example is compared with."""
    return {
        "Status": protocol.Status,
        "TokenAnswer": protocol.TokenAnswer,
        "ErrorAnswer": protocol.ErrorAnswer,
        "doctor": {"ok": bool, "checks": list[Check]},
        # The JupyterLab extension's settings, as its schema defines them.
        "lab-settings": dict.fromkeys(
            json.loads((ROOT / "schema" / "plugin.json").read_text())["properties"], object
        ),
    }


def check_fields(data: Any, schema: Any, where: str) -> None:
    """`data` has only fields `schema` (a TypedDict, dataclass or dict of types) knows."""
    if dataclasses.is_dataclass(schema):
        fields = {f.name: f.type for f in dataclasses.fields(schema)}
        assert set(data) == set(fields), f"{where}: {sorted(data)} against {sorted(fields)}"
        return
    fields = schema if isinstance(schema, dict) else typing.get_type_hints(schema)
    unknown = sorted(set(data) - set(fields))
    assert not unknown, f"{where}: the code sends no {', '.join(unknown)}"
    for key, value in data.items():
        kind = fields[key]
        origin, inner = typing.get_origin(kind), typing.get_args(kind)
        if origin is dict and inner and typing.is_typeddict(inner[1]):
            for entry in value.values():
                check_fields(entry, inner[1], f"{where} {key}")
        elif origin is list and inner and dataclasses.is_dataclass(inner[0]):
            for entry in value:
                check_fields(entry, inner[0], f"{where} {key}")


def check_json(block: Block) -> None:
    data = json.loads(block.code)
    if block.mark.startswith("schema:"):
        check_fields(data, schemas()[block.mark.partition(":")[2].strip()], str(block))
    elif isinstance(data, dict) and "NevisAuth" in data:
        check_config(Config(data), str(block))
    else:
        pytest.fail(f"{block}: JSON without a check; add `% schema: <name>` above it")


def check_yaml(block: Block) -> None:
    """Helm values: the variables of user servers and services are ours; the hub's config runs."""
    if block.mark.startswith("kubernetes:"):
        check_kubernetes(block, block.mark.partition(":")[2].strip())
        return
    values = yaml.safe_load(block.code)
    for name in values.get("singleuser", {}).get("extraEnv", {}):
        check_env_name(name, str(block))
    for service in values.get("hub", {}).get("services", {}).values():
        check_service_env(service.get("environment", {}), str(block))
    for name, code in values.get("hub", {}).get("extraConfig", {}).items():
        config = Config()
        exec(compile(code, f"{block} hub.extraConfig.{name}", "exec"), {"c": config})  # noqa: S102
        check_config(config, str(block))


#: What JupyterHub gives a service it starts, and what the service's replicas are given.
JUPYTERHUB_SERVICE_ENV = {
    "JUPYTERHUB_SERVICE_NAME",
    "JUPYTERHUB_SERVICE_URL",
    "JUPYTERHUB_SERVICE_PREFIX",
    "JUPYTERHUB_API_URL",
    "JUPYTERHUB_API_TOKEN",
    "JUPYTERHUB_BASE_URL",
    "JUPYTERHUB_CLIENT_ID",
    "JUPYTERHUB_OAUTH_CALLBACK_URL",
}


def check_kubernetes(block: Block, name: str) -> None:
    """The service's replicas: a Deployment of 2+ and its Service, as the service needs them.

    Its program, port, prefix and health paths are the service's; its variables are ours or
    JupyterHub's; secrets come from a Secret (files, or the hub's API token by reference);
    the grace period outlasts a graceful stop.
    """
    from jupyter_nevis_auth.core.refresh import DRAIN_SECONDS
    from jupyter_nevis_auth.hub.service.health import HANDLERS as HEALTH
    from jupyter_nevis_auth.hub.service.lifecycle import REQUESTS_SECONDS

    kinds = {d["kind"]: d for d in yaml.safe_load_all(block.code)}
    deployment, service = kinds["Deployment"], kinds["Service"]
    assert deployment["metadata"]["name"] == service["metadata"]["name"] == name, str(block)
    spec = deployment["spec"]
    assert spec["replicas"] >= 2, f"{block}: one replica is no replica"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, str(block)
    pod = spec["template"]["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    assert pod["terminationGracePeriodSeconds"] > REQUESTS_SECONDS + DRAIN_SECONDS, str(block)
    (container,) = pod["containers"]
    (program,) = container["command"]
    scripts = {e.name for e in metadata.entry_points(group="console_scripts")}
    assert program in scripts and program == "jupyter-nevis-auth-service", str(block)
    env = {e["name"]: e for e in container["env"]}
    for var, entry in env.items():
        if var.startswith("JUPYTERHUB_"):
            assert var in JUPYTERHUB_SERVICE_ENV, f"{block}: the service reads no ${var}"
        else:
            check_env_name(var, str(block))
        assert not var.endswith((*SERVICE_SECRETS, "TOKEN")) or "value" not in entry, (
            f"{block}: ${var} in the manifest; use a Secret"
        )
    assert set(JUPYTERHUB_SERVICE_ENV) <= set(env), (
        f"{block}: missing {set(JUPYTERHUB_SERVICE_ENV) - set(env)}"
    )
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    listen = urlsplit(env["JUPYTERHUB_SERVICE_URL"]["value"])
    # Every interface of the pod: the Service and the probes reach it at its own address.
    assert listen.hostname == "0.0.0.0" and ports["http"] == listen.port, str(block)  # noqa: S104
    (target,) = service["spec"]["ports"]
    assert target["targetPort"] in ("http", listen.port), str(block)
    prefix = env["JUPYTERHUB_SERVICE_PREFIX"]["value"]
    health = {prefix + path for path, _ in HEALTH}
    for probe in ("readinessProbe", "livenessProbe"):
        check = container[probe]["httpGet"]
        assert check["path"] in health and check["port"] in ("http", listen.port), str(block)
    assert container["readinessProbe"]["httpGet"]["path"] == prefix + "health", str(block)
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    for volume in pod["volumes"]:
        if "secret" in volume:
            assert volume["secret"]["defaultMode"] == 0o440, f"{block}: files only for the owner"
            # ...and group: the pod's, which the service's user must be in to read them.
            group = container["securityContext"]["runAsGroup"]
            assert pod["securityContext"]["fsGroup"] == group, f"{block}: files it cannot read"
            files = [e["value"] for v, e in env.items() if v.endswith("_FILE")]
            assert all(f.startswith(mounts[volume["name"]] + "/") for f in files), str(block)


def check_dockerfile(block: Block) -> None:
    for line in block.code.splitlines():
        if not line.strip():
            continue
        instruction, _, rest = line.partition(" ")
        assert instruction in DOCKERFILE_INSTRUCTIONS, f"{block}: {line}"
        if instruction == "RUN" and rest.startswith("pip install"):
            check_pip(rest.split()[2:], str(block))


def check_text(block: Block) -> None:
    """Literal text; a doctor's output names only the doctor's steps."""
    if block.mark == "output: jupyter nevis-auth doctor":
        steps = {"configuration", "providers and APIs", "clock", *(n for n, _ in doctor.STEPS)}
        for line in block.code.splitlines():
            mark, _, rest = line.partition(" ")
            assert mark in ("\u2713", "\u2717"), f"{block}: {line}"
            assert rest.split(":")[0] in steps, f"{block}: {line}"
    else:
        assert not block.mark, f"{block}: a mark on literal text: {block.mark}"


CHECKS = {
    "python": check_python,
    "bash": check_bash,
    "json": check_json,
    "yaml": check_yaml,
    "dockerfile": check_dockerfile,
    "text": check_text,
}


# -- links ----------------------------------------------------------------------------------


def test_repository_links_point_at_files_that_exist() -> None:
    """{repo}`path` links, and README's links into the docs."""
    targets = [m for p in pages() for m in re.findall(r"\{repo\}`([^`]+)`", p.read_text("utf-8"))]
    assert targets
    for target in targets:
        assert (ROOT / target).exists(), target
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / target).exists(), target


def test_every_example_notebook_is_linked_from_the_docs() -> None:
    """The notebooks the tests run are the docs' notebook examples."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in pages())
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        assert f"{{repo}}`notebooks/{notebook.name}`" in text, notebook.name
