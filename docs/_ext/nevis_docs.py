"""Reference pages generated at build time from the code, so that they cannot drift.

- ``nevis-options``: every configurable option of a traitlets class, with its type,
  default, environment variable and help text (as ``--help-all`` shows it).
- ``nevis-exceptions``: the exception tree of a module, each class with its docstring's
  first line, linked to its autodoc entry.
- ``nevis-endpoints``: a table of every path a list of tornado handlers serves, with its
  HTTP methods; the page's own rows describe them, the handler's docstring any other.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.domains.std import ConfigurationValue
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from traitlets import Bool, Dict, Enum, Float, Int, List, TraitType, Type, Unicode
from traitlets.config import Configurable

logger = logging.getLogger(__name__)

#: How each trait type reads in the reference.
TYPE_NAMES = {Unicode: "string", Int: "integer", Float: "number", Bool: "boolean", Dict: "dict"}
#: `code`, and $ENV_VARS, in help texts.
CODE = re.compile(r"`([^`]+)`|(\$[A-Z][A-Z0-9_<>]*[A-Z0-9>])")
#: The sentence with which a help text names the option's environment variable.
DEFAULT_ENV = re.compile(r"\s*Default: \$([A-Z0-9_]+)(?: \([^)]*\))?(?:, else [^.]*)?\.?\s*$")


def import_object(path: str) -> Any:
    """The object at a dotted path, e.g. jupyter_nevis_auth.core.config.NevisAuth."""
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except AttributeError as e:
        raise ImportError(str(e)) from e


def config_traits(cls: type[Configurable], own: bool = False) -> dict[str, TraitType]:
    """The configurable traits of `cls` in the order they are defined, base classes first."""
    found: dict[str, TraitType] = {}
    for klass in [cls] if own else reversed(cls.mro()):
        for name, value in vars(klass).items():
            if isinstance(value, TraitType) and value.metadata.get("config"):
                found[name] = value
    return found


def type_text(trait: TraitType) -> str:
    """A reader's name for the trait's type."""
    if isinstance(trait, Enum):
        return "one of " + ", ".join(repr(v) for v in trait.values or ())
    if isinstance(trait, List):
        inner = getattr(trait, "_trait", None)
        return f"list of {TYPE_NAMES.get(type(inner), 'values')}s" if inner else "list"
    if isinstance(trait, Type):
        return f"class (a subclass of {trait.klass})" if trait.klass else "class"
    return TYPE_NAMES.get(type(trait), type(trait).__name__)


def env_text(trait: TraitType) -> str:
    """How the environment variable spells a value of the trait, as the env module reads it."""
    if isinstance(trait, List):
        return "space separated, or a JSON list"
    if isinstance(trait, Dict):
        return "a JSON object"
    if isinstance(trait, Bool):
        return "true or false"
    return ""


def env_var(cls: type[Configurable], name: str) -> str | None:
    """The variable the class reads the option from, if it reads one."""
    reader = getattr(cls, "env_var", None)
    return reader(name) if callable(reader) else None


def inline(text: str) -> list[nodes.Node]:
    """Text with its `code` spans and $VARIABLES as literals."""
    found: list[nodes.Node] = []
    at = 0
    for match in CODE.finditer(text):
        found.append(nodes.Text(text[at : match.start()]))
        found.append(nodes.literal(text=match.group(1) or match.group(2)))
        at = match.end()
    found.append(nodes.Text(text[at:]))
    return found


def field(name: str, *body: nodes.Node) -> nodes.field:
    """One line of an option's field list."""
    return nodes.field(
        "", nodes.field_name("", name), nodes.field_body("", nodes.paragraph("", "", *body))
    )


class OptionsDirective(SphinxDirective):
    """``nevis-options: module.Class``: every configurable option of the class."""

    required_arguments = 1
    option_spec: ClassVar[dict[str, Any]] = {"own": directives.flag, "optional": directives.flag}

    def run(self) -> list[nodes.Node]:
        """One ``confval`` entry per option, in the order the class defines them."""
        path = self.arguments[0]
        try:
            cls = import_object(path)
        except ImportError as e:
            # An optional part (the hub service needs jupyterhub) may not be installed.
            log = logger.info if "optional" in self.options else logger.warning
            log("nevis-options: cannot import %s (%s)", path, e, location=self.get_location())
            return []
        result: list[nodes.Node] = []
        for name, trait in config_traits(cls, own="own" in self.options).items():
            result += self.option(cls, name, trait)
        if not result:
            logger.warning("nevis-options: %s has no options", path, location=self.get_location())
        return result

    def option(self, cls: type[Configurable], name: str, trait: TraitType) -> list[nodes.Node]:
        """The entry of one option: a cross-reference target, its facts, its help."""
        entry = ConfigurationValue(
            "confval", [f"{cls.__name__}.{name}"], {}, StringList(), self.lineno,
            self.content_offset, self.block_text, self.state, self.state_machine,
        )  # fmt: skip
        made = entry.run()
        content = next(made[-1].findall(addnodes.desc_content))
        facts = nodes.field_list()
        facts += field("Type", nodes.Text(type_text(trait)))
        facts += field("Default", nodes.literal(text=trait.default_value_repr()))
        help_text = inspect.cleandoc(trait.help or "")
        variable = env_var(cls, name)
        named = DEFAULT_ENV.search(help_text)
        if variable:
            if named and named.group(1) != variable:
                logger.warning(
                    "%s.%s: its help names $%s, but it is read from $%s",
                    cls.__name__, name, named.group(1), variable, location=self.get_location(),
                )  # fmt: skip
            spelling = env_text(trait)
            body: list[nodes.Node] = [nodes.literal(text=variable)]
            facts += field(
                "Environment", *body, *([nodes.Text(f" ({spelling})")] if spelling else [])
            )
            if named and named.group(1) == variable:
                help_text = help_text[: named.start()].rstrip()
        content += facts
        for paragraph in re.split(r"\n\s*\n", help_text):
            if paragraph.strip():
                content += nodes.paragraph("", "", *inline(" ".join(paragraph.split())))
        return made


class ExceptionsDirective(SphinxDirective):
    """``nevis-exceptions: module``: the module's exception classes as a tree."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        """A nested list from the base class down, each linked to its entry."""
        module = importlib.import_module(self.arguments[0])
        classes = [
            c for c in vars(module).values()
            if isinstance(c, type) and issubclass(c, BaseException)
            and c.__module__ == module.__name__
        ]  # fmt: skip
        roots = [c for c in classes if not any(b in classes for b in c.__bases__)]
        return [self.tree(roots, classes)]

    def tree(self, level: list[type], classes: list[type]) -> nodes.bullet_list:
        """The classes of `level`, each followed by its subclasses."""
        listing = nodes.bullet_list()
        for cls in level:
            target = f"{cls.__module__}.{cls.__name__}"
            ref = addnodes.pending_xref(
                "", nodes.literal(text=cls.__name__),
                refdomain="py", reftype="exc", reftarget=target, refexplicit=True, refwarn=True,
            )  # fmt: skip
            summary = (inspect.getdoc(cls) or "").split("\n")[0]
            item = nodes.list_item(
                "", nodes.paragraph("", "", ref, nodes.Text(": "), *inline(summary))
            )
            children = [c for c in classes if cls in c.__bases__]
            if children:
                item += self.tree(children, classes)
            listing += item
        return listing


#: HTTP methods a handler may serve, in the order the table lists them.
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def handler_methods(handler: type) -> list[str]:
    """The HTTP methods the handler implements itself (not tornado's 405 defaults)."""
    from tornado.web import RequestHandler

    return [
        m for m in METHODS if getattr(handler, m.lower()) is not getattr(RequestHandler, m.lower())
    ]


class EndpointsDirective(SphinxDirective):
    """``nevis-endpoints: module.handlers``: one row per path; content rows `path | for | what`."""

    required_arguments = 1
    has_content = True

    def run(self) -> list[nodes.Node]:
        """The table, in the handlers' order."""
        handlers = import_object(self.arguments[0])
        described: dict[str, tuple[str, str]] = {}
        for line in self.content:
            if line.strip():
                path, who, what = (part.strip() for part in line.split("|", 2))
                described[path] = (who, what)
        rows = []
        for path, handler in handlers:
            path = path.lstrip("/")
            who, what = described.pop(path, ("", ""))
            if not what:
                # Not described on the page yet: the handler's own docstring says what it does.
                summary = (inspect.getdoc(handler) or "").split("\n")[0]
                what = summary.removeprefix(f"{path}: ").rstrip(".")
                who = "kernels only" if path.startswith("nevis/api/token") else "browser"
            rows.append((path, ", ".join(handler_methods(handler)), who, what))
        for path in described:
            logger.warning(
                "nevis-endpoints: no handler serves %s", path, location=self.get_location()
            )
        return [self.table(("path", "methods", "for", "what"), rows)]

    def table(self, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> nodes.table:
        """A docutils table of text cells; the path is code, other cells may hold `code`."""
        group = nodes.tgroup(cols=len(header))
        group += [nodes.colspec(colwidth=w) for w in (26, 10, 12, 52)]
        head, body = nodes.thead(), nodes.tbody()
        head += self.row([nodes.Text(h) for h in header])
        for path, *cells in rows:
            body += self.row(
                [nodes.literal(text=path), *(nodes.inline("", "", *inline(c)) for c in cells)]
            )
        group += [head, body]
        # The widths above, as percentages, rather than the browser's guess.
        return nodes.table("", group, classes=["colwidths-given"])

    @staticmethod
    def row(cells: list[nodes.Node]) -> nodes.row:
        """One table row."""
        row = nodes.row()
        for cell in cells:
            row += nodes.entry("", nodes.paragraph("", "", cell))
        return row


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directives."""
    app.add_directive("nevis-options", OptionsDirective)
    app.add_directive("nevis-exceptions", ExceptionsDirective)
    app.add_directive("nevis-endpoints", EndpointsDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
